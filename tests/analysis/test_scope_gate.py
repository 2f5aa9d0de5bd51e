"""Every scope-gate refusal: refused before any data is read, and recorded with its clause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import grants
from governance.access.models import Grant
from governance.agreements import service as agreements
from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.demo.analysis_data import declare_analysis_datasets
from governance.kernel.errors import DomainError, PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from tests.analysis.conftest import (
    MATCHED_PARAMS,
    World,
    execute,
    grant,
    grant_matched,
    grant_records,
    make_agreement,
    submit,
    upload,
)
from tests.support import People

DESCRIPTIVE = {"group_by": ["sex"], "rate_of": "reoffended"}


def refused(
    db: Session,
    people: People,
    action: Callable[[], Any],
    error: type[DomainError] = PermissionDenied,
) -> AuditEvent:
    """Run the action as a handler would: expect the refusal, roll back, record it."""
    with pytest.raises(error) as caught:
        action()
    db.rollback()
    assert caught.value.audit is not None
    audit.record_refusal(db, caught.value.audit, by=people.analyst)
    db.commit()
    assert db.scalars(select(AnalysisRun)).all() == []
    reads = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event_type.in_([AuditType.DATASET_READ, AuditType.COHORT_READ])
        )
    ).all()
    assert reads == [], "the gate must refuse before anything is read"
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.event_type == AuditType.ANALYSIS_REFUSE
    assert event.outcome == "denied"
    return event


def test_an_agreement_that_is_not_active_is_refused(
    db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    agreements.terminate(
        db,
        agreement_id=world.agreement.id,
        reason="Programme ended.",
        by=people.privacy2,
        now=utcnow(),
    )
    db.commit()
    event = refused(db, people, lambda: submit(db, people, world, "descriptive", DESCRIPTIVE))
    assert event.clause == "term.termination"
    assert event.agreement_id == world.agreement.id


def test_a_kind_the_agreement_does_not_permit_is_refused(
    db: Session, people: People, world: World
) -> None:
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], uses=["descriptive"]
    )
    event = refused(
        db,
        people,
        lambda: submit(
            db,
            people,
            world,
            "rate_comparison",
            {"group_column": "sex", "group_a": "M", "group_b": "F", "outcome": "employed"},
        ),
    )
    assert event.clause == "scope.permitted_uses"
    assert event.detail["kind"] == "rate_comparison"


def test_a_column_not_granted_is_refused(db: Session, people: People, world: World) -> None:
    grant_records(db, people, world, "descriptive", columns=["person_id", "sex", "index_date"])
    event = refused(
        db, people, lambda: submit(db, people, world, "descriptive", {"group_by": ["region"]})
    )
    assert event.clause == "access.columns"
    assert event.detail["denied_columns"] == ["region"]
    assert event.dataset_id == world.events.id


def test_a_grant_for_another_purpose_is_refused(db: Session, people: People, world: World) -> None:
    grant_records(db, people, world, "descriptive", columns=["person_id", "employed", "index_date"])
    event = refused(
        db,
        people,
        lambda: submit(
            db,
            people,
            world,
            "rate_comparison",
            {"group_column": "employed", "group_a": "1", "group_b": "0", "outcome": "reoffended"},
        ),
    )
    assert event.clause == "scope.permitted_uses"
    assert "not for rate_comparison" in event.detail["reason"]


def test_invalid_parameters_are_a_recorded_422(db: Session, people: People, world: World) -> None:
    grant_records(db, people, world, "descriptive")
    event = refused(
        db,
        people,
        lambda: submit(db, people, world, "descriptive", {"group_by": []}),
        ValidationFailed,
    )
    assert "group_by" in event.detail["reason"]


@pytest.mark.parametrize(("column", "declared"), [("sex", "category"), ("index_date", "date")])
def test_a_mean_of_a_column_that_holds_no_numbers_is_a_recorded_422(
    db: Session, people: People, world: World, column: str, declared: str
) -> None:
    grant_records(db, people, world, "descriptive")
    parameters = {"group_by": ["region"], "mean_of": column}
    event = refused(
        db,
        people,
        lambda: submit(db, people, world, "descriptive", parameters),
        ValidationFailed,
    )
    assert event.detail["reason"] == (
        f"{column!r} is a {declared} column of Index events, not a number: choose a number "
        "column to average."
    )


def test_a_cohort_of_another_provider_is_refused(db: Session, people: People, world: World) -> None:
    police = declare_analysis_datasets(
        db, provider_id=people.police.id, steward_id=people.steward.id
    )
    db.commit()
    police_agreement = make_agreement(
        db, people, [d.id for d in police.values()], provider_id=people.police.id
    )
    police_cohort = upload(db, people, world, agreement=police_agreement)
    grant_matched(db, people, world)
    event = refused(
        db,
        people,
        lambda: submit(
            db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=police_cohort
        ),
    )
    assert event.clause == "parties.provider"
    assert event.detail["cohort_provider_id"] == people.police.id


def test_someone_without_analysis_run_is_refused(db: Session, people: People, world: World) -> None:
    with pytest.raises(PermissionDenied) as caught:
        submit(db, people, world, "descriptive", DESCRIPTIVE, user=people.steward)
    assert caught.value.audit is not None
    assert caught.value.audit["event_type"] == AuditType.ANALYSIS_REFUSE


def test_a_grant_revoked_after_submission_stops_the_run_and_is_recorded(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    for held in db.scalars(select(Grant).where(Grant.dataset_id == world.events.id)).all():
        grants.revoke_grant(
            db, grant_id=held.id, reason="No longer needed.", by=people.steward, now=utcnow()
        )
    db.commit()
    run = execute(app, db, run.id)
    assert run.status == RunStatus.REFUSED
    assert run.clause == "access.grant"
    assert run.result is None
    assert run.report_pdf is None
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.ANALYSIS_REFUSE)
    ).one()
    assert event.detail["stage"] == "execute"
    assert event.target_id == str(run.id)
    assert (
        db.scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_READ)).all()
        == []
    )


def test_a_run_whose_grant_was_revoked_cites_the_revocation_not_another_purpose(
    app: Flask, db: Session, people: People, world: World
) -> None:
    """The analyst still holds the columns for another purpose: the refusal is the grant for
    this one, revoked, not a purpose the analyst never asked for."""
    grant_records(db, people, world, "rate_comparison")
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    descriptive = db.scalars(
        select(Grant).where(Grant.dataset_id == world.events.id, Grant.purpose == "descriptive")
    ).one()
    grants.revoke_grant(
        db, grant_id=descriptive.id, reason="Project ended.", by=people.steward, now=utcnow()
    )
    db.commit()
    run = execute(app, db, run.id)
    assert run.status == RunStatus.REFUSED
    assert run.clause == "access.grant"
    assert f"for descriptive (grant {descriptive.id}) was revoked on" in run.reason
    assert run.reason.endswith(": Project ended.")


def test_an_agreement_ended_after_submission_stops_the_run(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    agreements.terminate(
        db,
        agreement_id=world.agreement.id,
        reason="Consent withdrawn.",
        by=people.privacy2,
        now=utcnow(),
    )
    db.commit()
    run = execute(app, db, run.id)
    assert run.status == RunStatus.REFUSED
    assert run.clause == "term.termination"


def test_only_the_uploader_may_use_a_cohort(db: Session, people: People, world: World) -> None:
    cohort_id = upload(db, people, world)
    grant_matched(db, people, world, user=people.analyst2)
    with pytest.raises(PermissionDenied) as caught:
        submit(
            db,
            people,
            world,
            "matched_comparison",
            MATCHED_PARAMS,
            cohort_id=cohort_id,
            user=people.analyst2,
        )
    assert caught.value.clause == "personnel"


def test_the_grant_helper_covers_identifiers(db: Session, people: People, world: World) -> None:
    grant(db, people, world.agreement, world.events, ["person_id", "name"], "descriptive")
    assert len(db.scalars(select(Grant)).all()) == 1
