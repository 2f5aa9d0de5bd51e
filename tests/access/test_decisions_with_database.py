"""Decisions against stored grants: at once after revocation or expiry, in every process."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy.orm import Session

from governance.access import grants
from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.authz.actions import DataAction
from governance.authz.decision import DataRequest, decide
from governance.authz.grant_index import GrantIndex
from governance.kernel.db import Database
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets, countersign
from tests.support import People


def granted(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    columns: tuple[str, ...] = ("sex", "age_at_arrest"),
) -> int:
    request = ask_and_grant(db, people, agreement, datasets, columns)
    assert request.grant_id is not None
    return request.grant_id


def reading(
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    columns: tuple[str, ...] = ("sex",),
    *,
    now: dt.datetime | None = None,
    purpose: str = "descriptive",
) -> DataRequest:
    return DataRequest(
        user_id=people.analyst.id,
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=columns,
        action=DataAction.READ,
        purpose=purpose,
        now=now or utcnow(),
    )


def another_process(app: Flask) -> Database:
    """A second Database over the same URL: its own connections and its own grant index,
    as a second gunicorn worker would have."""
    original = database(app)
    return Database(original.url, info={**original.info, "grant_index": GrantIndex()})


def test_a_revocation_in_one_process_stops_reads_in_another_at_once(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    grant_id = granted(db, people, agreement, datasets)
    other = another_process(app)
    with other.session() as session:
        assert decide(session, reading(people, agreement, datasets)).allowed
        session.rollback()
    grants.revoke_grant(
        db, grant_id=grant_id, reason="No longer on the project.", by=people.steward, now=utcnow()
    )
    db.commit()
    with other.session() as session:
        decision = decide(session, reading(people, agreement, datasets))
        assert not decision.allowed
        assert decision.clause == "access.grant"
    other.dispose()


def test_an_expired_grant_is_refused_before_any_job_runs(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    granted(db, people, agreement, datasets)
    later = utcnow() + dt.timedelta(days=61)
    decision = decide(db, reading(people, agreement, datasets, now=later))
    assert not decision.allowed
    assert decision.clause == "access.valid_until"


def test_an_allowed_read_names_the_grant_and_the_agreement_version(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    grant_id = granted(db, people, agreement, datasets)
    decision = decide(db, reading(people, agreement, datasets, ("sex", "age_at_arrest")))
    assert decision.allowed
    assert decision.rule == f"grant:{grant_id}"
    assert decision.agreement_version == 1
    assert decision.clause == "scope.datasets"
    refused = decide(db, reading(people, agreement, datasets, ("sex", "offence_category")))
    assert not refused.allowed
    assert refused.denied_columns == ("offence_category",)


def test_an_amendment_that_drops_a_column_narrows_the_grant(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    from tests.agreements.builders import terms

    granted(db, people, agreement, datasets)
    now = utcnow()
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Drop age.", by=people.privacy, now=now
    )
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=now,
        terms=terms(
            people,
            datasets,
            columns={datasets.arrests.id: ["person_id", "sex", "offence_category"]},
        ),
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=now)
    db.commit()
    # Until the amendment is approved and countersigned, the version in force still covers
    # age_at_arrest.
    assert decide(db, reading(people, agreement, datasets, ("age_at_arrest",))).allowed
    db.rollback()
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=now)
    db.commit()
    assert decide(db, reading(people, agreement, datasets, ("age_at_arrest",))).allowed
    db.rollback()
    countersign(db, people, agreement, now=now)
    db.commit()
    assert not decide(db, reading(people, agreement, datasets, ("age_at_arrest",))).allowed
    still = decide(db, reading(people, agreement, datasets, ("sex",)))
    assert still.allowed
    assert still.agreement_version == 2


def test_expiry_of_the_agreement_ends_grants(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    from governance import periodic
    from governance.identity.actors import System

    granted(db, people, agreement, datasets)
    version = agreement.current_version
    assert version is not None
    after = dt.datetime.combine(
        version.expiry_date + dt.timedelta(days=1), dt.time(1), tzinfo=dt.UTC
    )
    assert not decide(db, reading(people, agreement, datasets, now=after)).allowed
    db.rollback()
    results = periodic.run_due_jobs(
        lambda: Session(bind=db.get_bind(), info=db.info), now=after, actor=System("test")
    )
    assert results["agreements.expire"] == 1
