"""Every run that ends leaves its event: a refusal at the gate or the door that carries no
event of its own, and an error nobody expected, are recorded with the run's end."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.analysis import runner
from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.models import DatasetVersion
from governance.kernel.errors import NotFound
from governance.kernel.types import utcnow
from tests.analysis.conftest import World, execute, grant_records, submit
from tests.conftest import fresh
from tests.support import People

DESCRIPTIVE = {"group_by": ["sex"], "mean_of": "age_at_index"}


def last_event(db: Session, run: AnalysisRun) -> AuditEvent:
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.target_type == "analysis_run", AuditEvent.target_id == str(run.id))
            .order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    return event


def test_a_run_whose_data_was_destroyed_while_queued_is_refused_with_its_event(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    db.execute(
        update(DatasetVersion)
        .where(DatasetVersion.dataset_id == world.events.id)
        .values(destroyed_at=utcnow())
    )
    db.commit()
    finished = execute(app, db, run.id)
    assert finished.status == RunStatus.REFUSED
    assert finished.reason == "This dataset has no stored data yet."
    event = last_event(db, finished)
    assert event.event_type == AuditType.ANALYSIS_REFUSE
    assert event.outcome == "denied"
    assert event.detail["message"] == "This dataset has no stored data yet."
    assert event.detail["stage"] == "gate"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (RuntimeError("disk gone"), "internal error (RuntimeError)"),
        (NotFound("There is no output 7."), "There is no output 7. Nothing was released."),
    ],
)
def test_an_error_past_the_gate_ends_the_run_failed_with_its_event(
    app: Flask,
    db: Session,
    people: People,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    reason: str,
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(runner, "effective_parameters", broken)
    finished = execute(app, db, run.id)
    assert finished.status == RunStatus.FAILED
    assert reason in finished.reason
    event = last_event(db, finished)
    assert event.event_type == AuditType.ANALYSIS_FAIL
    assert event.outcome == "failure"
    assert reason in event.detail["reason"]
