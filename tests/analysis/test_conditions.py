"""A lapsed condition stops analyses too: a new run is refused at the scope gate, and a run
queued while the training was current is refused when a worker picks it up after the lapse."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.analysis import runs as analyses
from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.runner import execute_run
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel.errors import PermissionDenied
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.analysis.conftest import World, grant_records, submit
from tests.conftest import fresh
from tests.support import SETUP, People

DESCRIPTIVE = {"group_by": ["sex"], "rate_of": "reoffended"}
CJIS = TrainingCourse.CJIS_SECURITY_AWARENESS


@pytest.fixture
def lapsing_tonight(db: Session, people: People, world: World) -> dt.datetime:
    """The analyst's CJIS training lapses at midnight; grants made today. Returns tomorrow
    08:00 UTC."""
    tomorrow = utcnow().date() + dt.timedelta(days=1)
    db.execute(
        delete(TrainingRecord).where(
            TrainingRecord.user_id == people.analyst.id, TrainingRecord.course == CJIS
        )
    )
    users.record_training(
        db,
        user_id=people.analyst.id,
        course=CJIS.value,
        completed_on=tomorrow - dt.timedelta(days=365),
        expires_on=tomorrow,
        by=SETUP,
    )
    db.commit()
    db.expire_all()
    grant_records(db, people, world, "descriptive")
    return dt.datetime.combine(tomorrow, dt.time(8), tzinfo=dt.UTC)


def reads(db: Session, outcome: str) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(
                AuditEvent.event_type == AuditType.DATASET_READ, AuditEvent.outcome == outcome
            )
        )
    )


def test_a_new_analysis_after_the_lapse_is_refused_with_the_training_clause(
    db: Session, people: People, world: World, lapsing_tonight: dt.datetime
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        analyses.submit_run(
            db,
            agreement_id=world.agreement.id,
            kind="descriptive",
            parameters=DESCRIPTIVE,
            datasets={"records": world.events.id, "offences": world.offences.id},
            by=people.analyst,
            now=lapsing_tonight,
        )
    assert refused.value.clause == "personnel.training"
    assert "CJIS Security Awareness Training" in refused.value.message
    db.rollback()
    assert refused.value.audit is not None
    audit.record_refusal(db, refused.value.audit, by=people.analyst)
    db.commit()
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.event_type == AuditType.ANALYSIS_REFUSE
    assert event.clause == "personnel.training"
    assert db.scalars(select(AnalysisRun)).all() == []
    assert reads(db, "allowed") == []


def test_a_run_queued_before_the_lapse_is_refused_when_it_starts_after_it(
    app: Flask, db: Session, people: People, world: World, lapsing_tonight: dt.datetime
) -> None:
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    status = execute_run(
        database(app), run.id, worker_id="test-worker", clock=lambda: lapsing_tonight
    )
    assert status == RunStatus.REFUSED
    finished = fresh(db).get(AnalysisRun, run.id)
    assert finished is not None
    assert finished.clause == "personnel.training"
    assert finished.result is None
    assert reads(db, "allowed") == []


def test_an_incident_freeze_stops_an_analysis_already_queued(
    app: Flask, db: Session, people: People, world: World
) -> None:
    from governance.incidents import service as incidents

    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    now = utcnow()
    incident = incidents.report_incident(
        db,
        kind="access_beyond_scope",
        description="Queries outside the purpose.",
        agreement_ids=[world.agreement.id],
        by=people.steward,
        now=now,
    )
    incidents.freeze(db, incident_id=incident.id, by=people.privacy, now=now)
    db.commit()
    status = execute_run(
        database(app), run.id, worker_id="test-worker", clock=lambda: now + dt.timedelta(seconds=1)
    )
    assert status == RunStatus.REFUSED
    finished = fresh(db).get(AnalysisRun, run.id)
    assert finished is not None
    assert finished.clause == "incidents.freeze"
    assert finished.result is None
    assert reads(db, "allowed") == []
