"""A plain page's rows, and the API's JSON of them, kept with the decoded columns they were cut
from (access/data_door.py `_plain_page`, datastore/column_cache.py `Pages`): a page read again
is not cut again, but every read of it is still decided and recorded on its own, a revocation
refuses the next one in another process, and a page is never served for another agreement's
withheld records, another version or other rows."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access import data_door as door
from governance.access import grants
from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.datasets.ingestion import ingest_frame
from governance.identity import tokens
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.access.test_column_cache import _empty_cache  # noqa: F401  (autouse: an empty cache)
from tests.access.test_data_door import ROWS, stored  # noqa: F401  (the fixture)
from tests.access.test_decisions_with_database import another_process
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets, approved
from tests.support import SETUP, People


def _cuts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per page cut from the columns (its first column's cells taken)."""
    cut: list[int] = []
    original = door._rows

    def counted(columns: Any, cells: Any, count: int) -> Any:
        cut.append(count)
        return original(columns, cells, count)

    monkeypatch.setattr(door, "_rows", counted)
    return cut


def _read(
    session: Session, people: People, agreement: Agreement, datasets: Datasets, page: int = 2
) -> Any:
    read = door.read_rows(
        session,
        by=session.merge(people.analyst),
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=["sex", "age_at_arrest"],
        purpose="descriptive",
        page=page,
        per_page=10,
        now=utcnow(),
    )
    session.commit()
    return read


def _events(session: Session, outcome: Outcome) -> int:
    session.commit()  # a new transaction: it sees what other connections committed
    return int(
        session.scalar(
            select(func.count()).where(
                AuditEvent.event_type == AuditType.DATASET_READ, AuditEvent.outcome == outcome
            )
        )
        or 0
    )


def _expected(rows: Any, start: int, stop: int) -> list[dict[str, Any]]:
    return [
        {"sex": sex, "age_at_arrest": age}
        for sex, age in zip(rows["sex"][start:stop], rows["age_at_arrest"][start:stop], strict=True)
    ]


def test_a_page_read_again_is_not_cut_again_yet_each_read_is_decided_and_recorded(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cuts = _cuts(monkeypatch)
    other = another_process(app)
    with other.session() as session:
        allowed = _events(session, Outcome.ALLOWED)
        pages = [_read(session, people, agreement, stored) for _ in range(3)]
        assert _events(session, Outcome.ALLOWED) == allowed + 3
        assert cuts == [10]  # cut once, then taken as kept
        assert [p.rows for p in pages] == [_expected(ROWS, 10, 20)] * 3
        assert _read(session, people, agreement, stored, page=3).rows == _expected(ROWS, 20, 30)
        assert cuts == [10, 10]  # another page is cut from the columns

    grant_id = db.scalar(select(Grant.id).where(Grant.dataset_id == stored.arrests.id))
    assert grant_id is not None
    grants.revoke_grant(
        db, grant_id=grant_id, reason="Left the project.", by=people.steward, now=utcnow()
    )
    db.commit()
    with other.session() as session, pytest.raises(PermissionDenied) as refused:
        _read(session, people, agreement, stored)
    # Refused by the decision with its denied read to record (the API's error handler writes
    # it: tests/access/test_read_context_cache.py), not answered from the kept page.
    assert refused.value.audit is not None
    assert refused.value.audit["outcome"] == Outcome.DENIED
    assert refused.value.audit["detail"]["page"] == 2
    other.dispose()


def test_a_page_kept_for_one_agreement_is_not_served_under_one_that_withholds_records(
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    withholding = approved(db, people, stored, withheld_offence_categories=["secret-offence"])
    ask_and_grant(db, people, withholding, stored)
    assert _read(db, people, agreement, stored, page=1).rows == _expected(ROWS, 0, 10)
    kept = ROWS[ROWS["offence_category"] != "SECRET-OFFENCE"].reset_index(drop=True)
    withheld = _read(db, people, withholding, stored, page=1)
    assert withheld.rows == _expected(kept, 0, 10)
    assert withheld.total == len(kept)


def test_a_new_version_is_served_from_its_own_columns_not_the_kept_page(
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    assert _read(db, people, agreement, stored).rows == _expected(ROWS, 10, 20)
    changed = ROWS.assign(sex=["X"] * len(ROWS))
    ingest_frame(
        db, dataset_id=stored.arrests.id, frame=changed, source_filename="v2.csv", by=SETUP
    )
    db.commit()
    again = _read(db, people, agreement, stored)
    assert again.version == 2
    assert again.rows == _expected(changed, 10, 20)


def test_the_api_answers_a_page_read_again_with_the_same_json_and_records_each_read(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    secret = tokens.create_token(
        db, user_id=people.analyst.id, name="script", days=None, by=people.analyst, now=utcnow()
    ).secret
    db.commit()
    url = (
        f"/api/v1/datasets/{stored.arrests.id}/rows?agreement={agreement.id}"
        "&purpose=descriptive&columns=age_at_arrest&columns=sex&per_page=5&page={page}"
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    allowed = _events(db, Outcome.ALLOWED)
    answers = [client.get(url.format(page=2), headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].mimetype == "application/json"
    assert answers[0].get_data() == answers[1].get_data()
    body = answers[1].get_json()
    assert body["items"] == [
        {"age_at_arrest": r["age_at_arrest"], "sex": r["sex"]} for r in _expected(ROWS, 5, 10)
    ]
    assert {k: body[k] for k in ("columns", "page", "per_page", "pages", "total", "version")} == {
        "columns": ["age_at_arrest", "sex"],
        "page": 2,
        "per_page": 5,
        "pages": 6,
        "total": 30,
        "version": 1,
    }
    assert len(body["rules"]) == 1
    third = client.get(url.format(page=3), headers=headers).get_json()
    assert third["items"] == _expected(ROWS, 10, 15)
    assert _events(db, Outcome.ALLOWED) == allowed + 3


def test_a_kept_answer_names_the_rules_of_the_read_that_asked_not_an_earlier_one(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    # The answer's bytes are kept with the page (api_rows._answer) around its rules: the same
    # page read by two people under their own grants names each one's grant, in turn.
    ask_and_grant(db, people, agreement, stored, by=people.analyst2)
    rule = {
        person.id: f"grant:{grant_id}"
        for person, grant_id in (
            (person, db.scalar(select(Grant.id).where(Grant.user_id == person.id)))
            for person in (people.analyst, people.analyst2)
        )
    }
    assert len(set(rule.values())) == 2
    client = app.test_client()
    url = (
        f"/api/v1/datasets/{stored.arrests.id}/rows?agreement={agreement.id}"
        "&purpose=descriptive&columns=age_at_arrest&columns=sex&per_page=5&page=2"
    )
    readers = []
    for person in (people.analyst, people.analyst2):
        secret = tokens.create_token(
            db, user_id=person.id, name="script", days=None, by=person, now=utcnow()
        ).secret
        readers.append((person, {"Authorization": f"Bearer {secret}"}))
    db.commit()
    answers = []
    for person, headers in readers * 2:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200
        assert answer.get_json()["rules"] == [rule[person.id]]
        answers.append(answer.get_json())
    assert answers[0] == answers[2]
    assert answers[1] == answers[3]
    assert {k: v for k, v in answers[0].items() if k != "rules"} == {
        k: v for k, v in answers[1].items() if k != "rules"
    }
