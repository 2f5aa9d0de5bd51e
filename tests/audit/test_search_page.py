"""The audit search page: filters, keyset paging, the chain head, and who may see it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.identity.models import User
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


@pytest.fixture
def reads(db: Session, people: People) -> list[int]:
    """120 reads by the analyst under agreement 5, every tenth one denied."""
    seqs = [
        audit.record(
            db,
            AuditType.DATASET_READ,
            by=people.analyst,
            agreement_id=5,
            dataset_id=2,
            outcome=Outcome.DENIED if i % 10 == 0 else Outcome.ALLOWED,
            detail={"i": i},
        )
        for i in range(120)
    ]
    db.commit()
    return seqs


def seqs_on(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', page)]


def test_compliance_manager_pages_through_results_newest_first(
    browser: Browser, people: People, reads: list[int], db: Session
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    first = browser.get("/audit/?event_type=dataset:read")
    assert first.status_code == 200
    text = first.get_data(as_text=True)
    assert seqs_on(text) == sorted(reads, reverse=True)[:50]
    assert "120 matching events" in text
    head_seq, head_hash = audit.chain_head(fresh(db))
    assert f"seq={head_seq}, sha256={head_hash}" in text
    older = re.search(r'href="([^"]+before=\d+[^"]*)"', text)
    assert older
    second = browser.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert seqs_on(second) == sorted(reads, reverse=True)[50:100]
    third_link = re.search(r'rel="next" href="([^"]+)"', second)
    assert third_link
    third = browser.get(third_link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert seqs_on(third) == sorted(reads, reverse=True)[100:]
    assert 'rel="next"' not in third


def test_filters_combine(browser: Browser, people: People, reads: list[int]) -> None:
    browser.login(people.privacy.email, PASSWORD)
    page = browser.get(
        f"/audit/?user={people.analyst.email.upper()}&outcome=denied"
        "&agreement_id=5&dataset_id=2&since=2000-01-01&until=2999-12-31"
    )
    assert page.status_code == 200
    assert seqs_on(page.get_data(as_text=True)) == sorted(reads[::10], reverse=True)
    none = browser.get("/audit/?agreement_id=6").get_data(as_text=True)
    assert seqs_on(none) == []
    assert "No event matches" in none


def test_each_search_is_recorded(browser: Browser, people: People, db: Session) -> None:
    browser.login(people.compliance.email, PASSWORD)
    browser.get("/audit/?outcome=denied")
    searched = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_SEARCH))
        .all()
    )
    assert searched[-1].actor_email == people.compliance.email
    assert searched[-1].detail == {"filters": {"outcome": "denied"}, "before": None}


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "until=2026-02-30",
        "agreement_id=x",
        "event_type=dataset:steal",
        "outcome=maybe",
        "since=2026-02-01&until=2026-01-01",
        "before=abc",
        "before=999999",
    ],
)
def test_bad_filters_are_a_422(browser: Browser, people: People, query: str) -> None:
    browser.login(people.compliance.email, PASSWORD)
    response = browser.get(f"/audit/?{query}")
    assert response.status_code == 422


@pytest.mark.parametrize("role", ["analyst", "admin", "steward", "checker", "partner"])
def test_other_roles_are_refused_and_recorded(
    browser: Browser, people: People, db: Session, role: str
) -> None:
    user = getattr(people, role)
    browser.login(user.email, PASSWORD)
    assert browser.get("/audit/").status_code == 403
    denied = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_SEARCH))
        .one()
    )
    assert denied.outcome == Outcome.DENIED
    assert denied.actor_email == user.email


def test_navigation_links_the_page_for_those_who_may_use_it(
    browser: Browser, people: People
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    assert 'href="/audit/"' in browser.get("/audit/").get_data(as_text=True)


def test_verify_button_records_and_reports(browser: Browser, people: People, db: Session) -> None:
    browser.login(people.privacy.email, PASSWORD)
    response = browser.post("/audit/verify", follow_redirects=True)
    assert response.status_code == 200
    assert "Audit trail intact" in response.get_data(as_text=True)
    verified = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_VERIFY))
        .one()
    )
    assert verified.outcome == Outcome.SUCCESS


def chosen_event_types(page: str, name: str = "event_type") -> list[str]:
    """The options chosen in the drop-down `name` (the "What happened" one unless named)."""
    select = re.search(rf'<select id="{name}".*?</select>', page, re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)" selected>', select.group(0))


def test_the_what_happened_choice_shows_what_was_searched_each_time(
    browser: Browser, people: People
) -> None:
    """The drop-down is drawn once per choice per process: each search still shows its own
    choice, a choice that is no event type selects nothing and is answered with the error."""
    browser.login(people.compliance.email, PASSWORD)
    for query, chosen in [
        ("event_type=dataset:read", ["dataset:read"]),
        ("event_type=audit:search", ["audit:search"]),
        ("", []),
        ("event_type=dataset:read", ["dataset:read"]),
    ]:
        page = browser.get(f"/audit/?{query}")
        assert page.status_code == 200
        assert chosen_event_types(page.get_data(as_text=True)) == chosen
    typed = browser.get("/audit/?event_type=no:such%22thing")
    assert typed.status_code == 422
    text = typed.get_data(as_text=True)
    assert chosen_event_types(text) == []
    assert 'aria-invalid="true"' in re.search(r'<select id="event_type"[^>]*>', text).group(0)  # type: ignore[union-attr]
    assert 'no:such"thing' not in text


def test_a_page_seen_before_names_a_renamed_person_anew(
    browser: Browser, people: People, reads: list[int], db: Session
) -> None:
    """Each process keeps the rows it drew; a person renamed since is named as they are now."""
    browser.login(people.compliance.email, PASSWORD)
    name, email = people.analyst.name, people.analyst.email
    before = browser.get("/audit/?event_type=dataset:read").get_data(as_text=True)
    assert before.count(f"<dd>{name} <code>{email}</code>") == 50
    fresh(db).get(User, people.analyst.id).name = "Renamed Analyst"  # type: ignore[union-attr]
    db.commit()
    after = browser.get("/audit/?event_type=dataset:read").get_data(as_text=True)
    assert seqs_on(after) == seqs_on(before)
    assert after.count(f"<dd>Renamed Analyst <code>{email}</code>") == 50
    assert after.count('class="sentence">Renamed Analyst read') == 45
    assert after.count('class="sentence">Refused: Renamed Analyst tried') == 5
    assert f"<dd>{name} <code>" not in after
    assert f'class="sentence">{name} ' not in after


def test_an_event_altered_in_the_database_is_shown_as_it_now_stands(
    browser: Browser,
    people: People,
    reads: list[int],
    intruder: Callable[..., None],
) -> None:
    """A kept row is never shown for an event whose stored fields changed (the chain will say
    it was tampered with; the page shows what the trail holds)."""
    browser.login(people.compliance.email, PASSWORD)
    newest = max(reads)
    before = browser.get("/audit/?event_type=dataset:read").get_data(as_text=True)
    assert "<dt>i</dt><dd><code>119</code></dd>" in before
    intruder(
        "UPDATE audit_event SET detail = :detail WHERE seq = :seq",
        detail='{"i": 7777}',
        seq=newest,
    )
    after = browser.get("/audit/?event_type=dataset:read").get_data(as_text=True)
    assert "<dt>i</dt><dd><code>7777</code></dd>" in after
    assert "<dt>i</dt><dd><code>119</code></dd>" not in after


def _form(page: str) -> str:
    form = re.search(r'<form method="get".*?</form>', page, re.S)
    assert form is not None
    return form.group(0)


def test_the_filter_form_shows_each_search_s_own_choices_and_text(
    browser: Browser, people: People
) -> None:
    """Each process keeps the filter form drawn for a set of drop-down choices: every search
    still shows its own choices, what was typed, its errors and the Clear link as it should."""
    browser.login(people.compliance.email, PASSWORD)
    for _ in range(2):  # the second round is answered with the forms kept in the first
        for query, kind, outcome in [
            ("kind=exports", ["exports"], []),
            ("outcome=denied", [], ["denied"]),
            ("kind=exports&outcome=denied", ["exports"], ["denied"]),
            ("kind=exports&before=", ["exports"], []),
            ("", [], []),
        ]:
            page = browser.get(f"/audit/?{query}")
            assert page.status_code == 200
            form = _form(page.get_data(as_text=True))
            assert chosen_event_types(form, "kind") == kind
            assert chosen_event_types(form, "outcome") == outcome
            assert ('href="/audit/">Clear</a>' in form) == bool(query)
            assert 'value="analyst"' not in form
            assert "has-error" not in form
        typed = _form(browser.get("/audit/?user=analyst&kind=exports").get_data(as_text=True))
        assert 'id="user" name="user" type="text" placeholder="Alex Kim" value="analyst"' in typed
        assert chosen_event_types(typed, "kind") == ["exports"]
        refused = browser.get("/audit/?since=yesterday&kind=exports")
        assert refused.status_code == 422
        assert 'value="yesterday" aria-invalid="true"' in _form(refused.get_data(as_text=True))
