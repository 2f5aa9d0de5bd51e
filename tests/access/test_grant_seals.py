"""Someone with the database but not the key files cannot grant, extend, widen or keep access
working by writing rows.

An attacker's view: a DBA (or whoever holds a stolen backup they will restore) writes the
grant and training tables directly with SQL, as a competent one would: bumping the policy
epoch and the grant's `changed_epoch` so that every running process reloads it. They insert a
grant, un-revoke or extend one, add a direct identifier to one, or make lapsed training
current. The analyst's next read must be refused, and the refusal recorded with the rule that
caught it (`grant-seal`, `training-seal`) and the grant: every grant and training record
carries a keyed seal (HMAC under a subkey of the audit key) that only the application can make.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from governance.access import conditions as grant_conditions
from governance.access import data_door, grants
from governance.access.models import Grant, GrantStatus
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.datasets.ingestion import ingest_frame
from governance.identity import tokens
from governance.identity.actors import System
from governance.identity.models import User
from governance.kernel.errors import PermissionDenied
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.passport.visas import visa_grants
from tests.access.test_conditions_at_every_read import (
    CJIS,
    cjis_until,
    last_read,
    morning_after,
    today,
)
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import SETUP, People

BUMP = "UPDATE policy_epoch SET epoch = epoch + 1 WHERE id = 1"
EPOCH = "SELECT epoch FROM policy_epoch WHERE id = 1"
# The rules a refusal names (governance/access/seals.py), spelled out: these tests are also
# run against code from before seals, where they must fail on their assertions.
GRANT_SEAL = "grant-seal"
TRAINING_SEAL = "training-seal"


def as_the_dba(app: Flask, *statements: tuple[str, dict[str, Any]]) -> None:
    """Write with the database alone: one transaction on a connection of its own, outside
    every session of the service, bumping the epoch and the touched grants' `changed_epoch`."""
    with database(app).engine.begin() as connection:
        connection.execute(text(BUMP))
        epoch = connection.execute(text(EPOCH)).scalar_one()
        for statement, params in statements:
            connection.execute(text(statement), {"epoch": epoch, **params})


@pytest.fixture
def stored(db: Session, datasets: Datasets) -> None:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()


def api_read(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, column: str
) -> tuple[int, AuditEvent]:
    """The analyst reads `column` through the API; the status and the recorded read."""
    token = tokens.create_token(
        fresh(db), user_id=people.analyst.id, name="t", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    url = (
        f"/api/v1/datasets/{datasets.arrests.id}/rows?agreement={agreement.id}"
        f"&purpose=descriptive&columns={column}"
    )
    answer = app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, last_read(db)


def refused_read(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, now: dt.datetime
) -> PermissionDenied:
    """The analyst's read of `sex` through the door at `now`, which must be refused."""
    with pytest.raises(PermissionDenied) as refused:
        data_door.read_rows(
            fresh(db),
            by=people.analyst,
            agreement_id=agreement.id,
            dataset_id=datasets.arrests.id,
            columns=["sex"],
            purpose="descriptive",
            now=now,
        )
    return refused.value


def assert_refused_by_seal(status: int, event: AuditEvent, grant_id: int, rule: str) -> None:
    assert status == 403
    assert event.outcome == "denied"
    assert event.rule == rule
    assert grant_id in event.detail["grant_ids"]
    assert "integrity check" in event.detail["reason"]


def dba_inserts_grant(
    app: Flask, people: People, agreement: Agreement, datasets: Datasets, grant_id: int = 9001
) -> int:
    """An active grant of `sex` to the analyst, written with the database alone."""
    now = utcnow()
    as_the_dba(
        app,
        (
            "INSERT INTO access_grant (id, user_id, agreement_id, agreement_version, dataset_id,"
            " purpose, valid_from, valid_until, allow_download, status, granted_by_id,"
            " created_at, end_reason, changed_epoch, effective_clause, effective_reason)"
            " VALUES (:id, :user, :agreement, :version, :dataset, 'descriptive', :start, :end,"
            " false, 'active', :steward, :start, '', :epoch, 'access.valid_until', '')",
            {
                "id": grant_id,
                "user": people.analyst.id,
                "agreement": agreement.id,
                "version": agreement.current_version_number,
                "dataset": datasets.arrests.id,
                "start": now - dt.timedelta(days=1),
                "end": now + dt.timedelta(days=30),
                "steward": people.steward.id,
            },
        ),
        (
            "INSERT INTO access_grant_column (grant_id, column_name, classification)"
            " VALUES (:id, 'sex', 'quasi_identifier')",
            {"id": grant_id},
        ),
    )
    return grant_id


def test_a_grant_inserted_with_the_database_alone_allows_nothing(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    grant_id = dba_inserts_grant(app, people, agreement, datasets)
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert_refused_by_seal(status, event, grant_id, GRANT_SEAL)
    # The service then writes the grant itself (the conditions job fills in the effective end
    # the DBA left out): that write does not seal it.
    grant_conditions.pause_lapsed_grants(fresh(db), System("conditions"), utcnow())
    db.commit()
    assert fresh(db).get(Grant, grant_id).effective_until is not None  # type: ignore[union-attr]
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert_refused_by_seal(status, event, grant_id, GRANT_SEAL)


def test_a_grant_inserted_with_the_database_alone_is_not_asserted_in_a_visa(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """GA4GH visas are signed from the grants directly, not through the index: the same."""
    own = ask_and_grant(db, people, agreement, datasets, columns=("age_at_arrest",)).grant_id
    inserted = dba_inserts_grant(app, people, agreement, datasets)
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    assert [g.id for g in visa_grants(db, analyst, utcnow())] == [own]
    assert inserted != own


@pytest.mark.parametrize("how", ["un-revoke", "extend"])
def test_an_ended_grant_brought_back_with_the_database_alone_allows_nothing(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    stored: None,
    how: str,
) -> None:
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    assert grant_id is not None
    grant = fresh(db).get(Grant, grant_id)
    assert grant is not None
    ended_at = grant.valid_until
    if how == "un-revoke":
        grants.revoke_grant(db, grant_id=grant_id, reason="left", by=people.steward, now=utcnow())
        db.commit()
        change = (
            "UPDATE access_grant SET status = 'active', ended_at = NULL, ended_by_id = NULL,"
            " end_reason = '', changed_epoch = :epoch WHERE id = :id"
        )
    else:
        change = (
            "UPDATE access_grant SET valid_until = :later, effective_until = :later,"
            " changed_epoch = :epoch WHERE id = :id"
        )
    later = ended_at + dt.timedelta(days=365)
    as_the_dba(
        app,
        (
            change,
            {"id": grant_id, "later": later},
        ),
    )
    if how == "un-revoke":
        status, event = api_read(app, db, people, agreement, datasets, "sex")
        assert_refused_by_seal(status, event, grant_id, GRANT_SEAL)
        return
    # A read after the grant's approved end, which the DBA moved a year on.
    record = refused_read(db, people, agreement, datasets, ended_at + dt.timedelta(days=1)).audit
    assert record is not None
    assert record["rule"] == GRANT_SEAL
    assert record["detail"]["grant_ids"] == [grant_id]


def test_a_grant_brought_back_with_the_database_alone_shows_as_allowing_nothing(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The grant page and the API say what the door does: the row claims to be active, the
    seal says the service never wrote that, so it is not usable and says why."""
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    assert grant_id is not None
    grants.revoke_grant(db, grant_id=grant_id, reason="left", by=people.steward, now=utcnow())
    db.commit()
    as_the_dba(
        app,
        (
            "UPDATE access_grant SET status = 'active', ended_at = NULL, ended_by_id = NULL,"
            " end_reason = '', changed_epoch = :epoch WHERE id = :id",
            {"id": grant_id},
        ),
    )
    assert_shown_as_allowing_nothing(app, db, people, grant_id)


def assert_shown_as_allowing_nothing(
    app: Flask, db: Session, people: People, grant_id: int
) -> None:
    """The steward's view of the grant through the API: the row claims it is active, the
    service says it is not usable and why."""
    token = tokens.create_token(
        fresh(db), user_id=people.steward.id, name="t", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    answer = app.test_client().get(
        f"/api/v1/grants/{grant_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200
    shown = answer.get_json()
    assert shown["status"] == "active"  # what the row claims
    assert shown["usable"] is False
    assert "integrity check" in shown["stopped_because"]


def test_a_direct_identifier_added_to_a_grant_with_the_database_alone_is_not_read(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    assert grant_id is not None
    as_the_dba(
        app,
        (
            "INSERT INTO access_grant_column (grant_id, column_name, classification)"
            " VALUES (:id, 'person_id', 'direct_identifier')",
            {"id": grant_id},
        ),
        ("UPDATE access_grant SET changed_epoch = :epoch WHERE id = :id", {"id": grant_id}),
    )
    status, event = api_read(app, db, people, agreement, datasets, "person_id")
    assert_refused_by_seal(status, event, grant_id, GRANT_SEAL)
    # The whole grant is suspect: its own columns are refused too, until granted again.
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert_refused_by_seal(status, event, grant_id, GRANT_SEAL)


def test_lapsed_training_made_current_with_the_database_alone_keeps_the_grant_stopped(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """The training lapses overnight; the DBA moves its expiry a year on; the conditions job
    runs in the morning. The record does not count, so the grant stays stopped."""
    cjis_until(db, people, today() + dt.timedelta(days=1))
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    assert grant_id is not None
    as_the_dba(
        app,
        (
            "UPDATE training_record SET expires_on = :later WHERE user_id = :user"
            " AND course = :course",
            {
                "later": today() + dt.timedelta(days=365),
                "user": people.analyst.id,
                "course": CJIS.value,
            },
        ),
    )
    morning = morning_after(today() + dt.timedelta(days=1))
    grant_conditions.pause_lapsed_grants(fresh(db), System("conditions"), morning)
    db.commit()
    grant = fresh(db).get(Grant, grant_id)
    assert grant is not None
    assert grant.status == GrantStatus.PAUSED
    refused = refused_read(db, people, agreement, datasets, morning)
    record = refused.audit
    assert record is not None
    assert record["rule"] == TRAINING_SEAL
    assert record["clause"] == "personnel.training"
    assert record["detail"]["grant_ids"] == [grant_id]
    assert "integrity check" in refused.message
