"""The audit trail as a compliance manager reads it: sentences with names, filters by the names
people use, errors on the form, saved searches, and exports that honour the same filters."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, Outcome, SavedSearch
from governance.kernel.labels import CODE_PATTERN
from tests.api.scenario import World, build_world
from tests.audit.conftest import HARFBUZZ
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


@pytest.fixture
def world(app: Flask, db: Session, people: People) -> World:
    built = build_world(db, app, people)
    db.commit()
    return built


def sentences_on(page: str) -> list[str]:
    found = re.findall(r'<p class="sentence">(.*?)</p>', page, flags=re.S)
    return [re.sub(r"<[^>]+>", "", text).strip() for text in found]


def seqs_on(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', page)]


def visible(page: str) -> str:
    """The page's text outside <code>, <details>, scripts and styles."""
    body = re.sub(r"<(details|code|script|style|select)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_each_event_is_a_sentence_with_names_and_the_record_behind_a_disclosure(
    browser: Browser, people: People, world: World
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    page = browser.get("/audit/").get_data(as_text=True)
    said = sentences_on(page)
    assert len(said) == 50
    assert any(
        text.startswith(f"Steward granted access to Arrests (grant {world.my_grant.id}):")
        and "under DUA-2026-001" in text
        for text in said
    ), said
    assert f"Outsider produced output {world.their_output.id}" in " ".join(said)
    assert page.count('<details class="event-detail">') == 50
    assert "&#34;" not in page  # no escaped JSON squeezed into a column
    codes = [c for c in CODE_PATTERN.findall(visible(page)) if not c.endswith("example")]
    assert codes == [], codes


def test_filters_take_references_names_and_partial_e_mails(
    browser: Browser, people: People, world: World, db: Session
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    theirs = browser.get("/audit/?agreement_id=dua-2026-002")
    assert theirs.status_code == 200
    events = fresh(db).scalars(select(AuditEvent).where(AuditEvent.agreement_id == world.theirs.id))
    expected = sorted((e.seq for e in events), reverse=True)[:50]
    assert seqs_on(theirs.get_data(as_text=True)) == expected

    by_name = browser.get("/audit/?user=" + quote(world.steward2.name)).get_data(as_text=True)
    by_part = browser.get("/audit/?user=" + quote(world.steward2.email[:8])).get_data(as_text=True)
    mine = fresh(db).scalars(
        select(AuditEvent.seq).where(AuditEvent.actor_email == world.steward2.email)
    )
    assert seqs_on(by_name) == sorted(mine, reverse=True)[:50] != []
    assert set(seqs_on(by_part)) >= set(seqs_on(by_name))

    supervision = world.datasets.probation
    named = browser.get("/audit/?dataset=SUPERVISION").get_data(as_text=True)
    rows = fresh(db).scalars(select(AuditEvent.seq).where(AuditEvent.dataset_id == supervision.id))
    assert seqs_on(named) == sorted(rows, reverse=True)[:50] != []


def test_filter_errors_appear_on_the_form_with_what_was_typed(
    browser: Browser, people: People, world: World, db: Session
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    response = browser.get("/audit/?agreement_id=DUA-2099-042&user=zzqx&since=yesterday")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<h1>Audit trail</h1>" in page
    assert 'value="DUA-2099-042"' in page
    assert 'value="zzqx"' in page
    assert 'value="yesterday"' in page
    assert "There is no agreement" in page
    assert "Nobody&#39;s name or e-mail contains" in page
    assert 'aria-invalid="true"' in page
    assert seqs_on(page) == []
    refused = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_SEARCH))
        .all()[-1]
    )
    assert refused.outcome == Outcome.FAILURE
    assert refused.detail["typed"]["agreement_id"] == "DUA-2099-042"


def test_a_refused_reader_with_bad_filters_gets_a_403_not_the_form(
    browser: Browser, people: People, world: World
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    response = browser.get("/audit/?since=yesterday")
    assert response.status_code == 403
    assert "Saved searches" not in response.get_data(as_text=True)


def test_saved_searches_are_kept_per_person_rerun_and_deleted(
    browser: Browser, people: People, world: World, db: Session, app: Flask
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    saved = browser.post(
        "/audit/searches",
        {"name": "Supervision denials", "query": "dataset=Supervision&outcome=denied&before=9"},
    )
    assert saved.status_code == 302
    kept = fresh(db).scalars(select(SavedSearch)).one()
    kept_id, query = kept.id, kept.query
    assert kept.owner_id == people.compliance.id
    assert query == "outcome=denied&dataset=Supervision"  # no paging kept
    page = browser.get("/audit/").get_data(as_text=True)
    assert 'href="/audit/?outcome=denied&amp;dataset=Supervision">Supervision denials</a>' in page
    assert browser.get(f"/audit/?{query}").status_code == 200
    again = browser.post(
        "/audit/searches", {"name": "supervision DENIALS", "query": "outcome=denied"}
    )
    assert again.status_code == 409

    other = Browser(app.test_client())
    other.login(people.privacy.email, PASSWORD)
    assert 'id="saved-searches"' not in other.get("/audit/").get_data(as_text=True)
    assert other.post(f"/audit/searches/{kept_id}/delete").status_code == 404
    assert fresh(db).scalars(select(SavedSearch.id)).all() == [kept_id]

    assert browser.post(f"/audit/searches/{kept_id}/delete").status_code == 302
    assert fresh(db).scalars(select(SavedSearch.id)).all() == []
    types = [
        e.event_type
        for e in fresh(db).scalars(
            select(AuditEvent)
            .where(AuditEvent.target_type == "saved_search")
            .order_by(AuditEvent.seq)
        )
    ]
    assert types == [AuditType.AUDIT_SEARCH_SAVE, AuditType.AUDIT_SEARCH_DELETE]


def test_presets_find_exports_and_reads_of_direct_identifiers(
    browser: Browser, people: People, world: World, db: Session
) -> None:
    with_identifier = audit.record(
        db,
        AuditType.DATASET_READ,
        by=people.analyst,
        outcome=Outcome.ALLOWED,
        dataset_id=world.datasets.arrests.id,
        detail={"shown": ["date_of_birth"], "direct_identifier_columns": ["date_of_birth"]},
    )
    audit.record(
        db,
        AuditType.DATASET_READ,
        by=people.analyst,
        outcome=Outcome.ALLOWED,
        dataset_id=world.datasets.arrests.id,
        detail={"shown": ["sex"], "direct_identifier_columns": []},
    )
    download = audit.record(
        db, AuditType.OUTPUT_DOWNLOAD, by=people.analyst, target_type="output", target_id=1
    )
    db.commit()
    browser.login(people.compliance.email, PASSWORD)
    page = browser.get("/audit/").get_data(as_text=True)
    for preset in (
        "Denials in the last 7 days",
        "Exports this month",
        "Reads of direct identifiers",
    ):
        assert preset in page
    reads = browser.get("/audit/?kind=identifier_reads").get_data(as_text=True)
    assert seqs_on(reads) == [with_identifier]
    exports = browser.get("/audit/?kind=exports").get_data(as_text=True)
    assert download in seqs_on(exports)
    assert with_identifier not in seqs_on(exports)


@pytest.mark.filterwarnings(HARFBUZZ)
def test_exports_honour_the_same_named_filters(
    browser: Browser, people: People, world: World, db: Session
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    response = browser.get("/audit/export?format=csv&dataset=supervision&agreement_id=DUA-2026-002")
    assert response.status_code == 200
    lines = [line for line in response.get_data(as_text=True).splitlines() if line[:1] != "#"]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert rows
    assert {row["dataset_id"] for row in rows} == {str(world.datasets.probation.id)}
    assert {row["agreement_id"] for row in rows} == {str(world.theirs.id)}
    report = browser.get("/audit/export?format=pdf&dataset=supervision&user=steward%20two")
    assert report.status_code == 200
    text = " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(report.data)).pages
    )
    assert "dataset=supervision" in text
    assert "user=steward two" in text
    bad = browser.get("/audit/export?format=csv&dataset=nothing-like-it")
    assert bad.status_code == 422


def test_a_saved_search_cannot_carry_markup_paging_or_someone_else_s_name(
    browser: Browser, people: People, world: World, db: Session
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    hostile = browser.post(
        "/audit/searches",
        {"name": "<script>alert(1)</script>", "query": "outcome=denied&before=5&owner_id=1"},
    )
    assert hostile.status_code == 302
    (saved,) = fresh(db).scalars(select(SavedSearch)).all()
    assert saved.query == "outcome=denied"
    assert saved.owner_id == people.compliance.id
    page = browser.get("/audit/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert (
        browser.post("/audit/searches", {"name": "x\x00y", "query": "outcome=denied"}).status_code
        == 422
    )
    assert (
        browser.post("/audit/searches", {"name": "Paging only", "query": "before=5"}).status_code
        == 422
    )
    assert (
        browser.post("/audit/searches", {"name": "", "query": "outcome=denied"}).status_code == 422
    )
    assert len(fresh(db).scalars(select(SavedSearch)).all()) == 1
