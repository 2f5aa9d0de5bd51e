"""A run in the engine when its grant stops does not hand its figures on.

An attacker's view: the analyst submits a long run (a linkage on Spark can take hours); the
steward revokes the grant, the agreement is terminated, or the analyst's training lapses
while it is in the engine. The run read its columns while the grant held, but its figures
are computed after: before, it completed and became an output for checking as if nothing had
happened. Now the run's reads are decided again when it completes (the same decision as at
the gate, at the completion's moment), and a refusal ends the run refused, recorded with its
clause, its result and report dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import grants
from governance.access.models import Grant
from governance.agreements import service as agreements
from governance.analysis import runner as analysis_runner
from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.outputs.models import Output
from tests.analysis.conftest import World, execute, grant_records, submit
from tests.conftest import fresh
from tests.support import People

DESCRIPTIVE = {"group_by": ["sex"], "rate_of": "reoffended"}


@pytest.fixture
def in_the_engine() -> Iterator[Callable[[Callable[[], None]], None]]:
    """Do something once, at the run's first progress report from the engine (after its
    columns were read, before its figures are released)."""
    hooks: list[analysis_runner.ProgressHook] = []

    def install(action: Callable[[], None]) -> None:
        done: list[int] = []

        def hook(run_id: int, fraction: float, message: str) -> None:
            if not done:
                done.append(run_id)
                action()

        hooks.append(hook)
        analysis_runner.progress_hooks.append(hook)

    yield install
    for hook in hooks:
        analysis_runner.progress_hooks.remove(hook)


def test_a_grant_revoked_while_the_run_is_in_the_engine_releases_nothing(
    app: Flask, db: Session, people: People, world: World, in_the_engine
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    held = db.scalars(select(Grant.id).where(Grant.dataset_id == world.events.id)).all()

    def revoke() -> None:
        with database(app).session() as other:
            for grant_id in held:
                grants.revoke_grant(
                    other, grant_id=grant_id, reason="Breach.", by=people.steward, now=utcnow()
                )
            other.commit()

    in_the_engine(revoke)
    run = execute(app, db, run.id)
    assert run.status == RunStatus.REFUSED
    assert run.clause == "access.grant"
    assert run.result is None
    assert run.report_pdf is None
    assert db.scalars(select(Output).where(Output.run_id == run.id)).first() is None
    event = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.event_type == AuditType.ANALYSIS_REFUSE)
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert event is not None
    assert event.detail["stage"] == "complete"


def test_an_agreement_terminated_while_the_run_is_in_the_engine_releases_nothing(
    app: Flask, db: Session, people: People, world: World, in_the_engine
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)

    def terminate() -> None:
        with database(app).session() as other:
            agreements.terminate(
                other,
                agreement_id=world.agreement.id,
                reason="Consent withdrawn.",
                by=people.privacy2,
                now=utcnow(),
            )
            other.commit()

    in_the_engine(terminate)
    run = execute(app, db, run.id)
    assert run.status == RunStatus.REFUSED
    assert run.clause == "term.termination"
    assert db.scalars(select(Output).where(Output.run_id == run.id)).first() is None


def test_a_grant_that_ends_while_the_run_is_in_the_engine_releases_nothing(
    app: Flask, db: Session, people: People, world: World, in_the_engine
) -> None:
    """Nothing is written: the grant's end (and the agreement's) passes while the engine
    works, and the completion's moment is after it."""
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    moment = [utcnow()]
    in_the_engine(lambda: moment.append(moment[0] + dt.timedelta(days=3650)))
    status = analysis_runner.execute_run(
        database(app), run.id, worker_id="test-worker", clock=lambda: moment[-1]
    )
    assert status == RunStatus.REFUSED
    refused = fresh(db).get(AnalysisRun, run.id)
    assert refused is not None
    assert refused.result is None
    assert refused.clause in {"access.valid_until", "term.expiry_date"}
    assert db.scalars(select(Output).where(Output.run_id == run.id)).first() is None
