"""An active agreement changes only by amendment; the version in force stays in force until the
amendment is approved and countersigned by the provider; listeners run inside the transaction
of every transition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.events import (
    AgreementEvent,
    on_agreement_change,
    remove_listener,
)
from governance.agreements.lifecycle import State, state_of
from governance.agreements.models import Agreement, AgreementStatus, VersionStatus
from governance.agreements.queries import in_force_version
from governance.agreements.schedule import activate_due, expire_due
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.identity.actors import System
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import People

SCHEDULER = System("test-scheduler")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_on: AgreementEvent | None = None

    def __call__(self, session: Session, **kwargs: Any) -> None:
        assert session.in_transaction()
        self.calls.append(kwargs)
        if kwargs["event"] == self.fail_on:
            raise RuntimeError("grant revocation failed")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    listener = Recorder()
    on_agreement_change(listener)
    yield listener
    remove_listener(listener)


def amend(
    db: Session, people: People, datasets: Datasets, agreement: Agreement, **overrides: Any
) -> None:
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Narrow the scope", by=people.privacy, now=utcnow()
    )
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=utcnow(),
        terms=builders.terms(people, datasets, **overrides),
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()


def test_the_prior_version_stays_in_force_until_the_provider_countersigns_the_amendment(
    db: Session, people: People, datasets: Datasets, recorder: Recorder
) -> None:
    agreement = builders.approved(db, people, datasets)
    amend(
        db,
        people,
        datasets,
        agreement,
        columns={datasets.arrests.id: ["person_id", "sex"]},
        personnel={people.analyst.id: "principal_investigator"},
        min_cell_size=20,
    )

    def assert_version_1_in_force() -> None:
        in_force = in_force_version(fresh(db), agreement.id)
        assert in_force is not None
        assert in_force.number == 1
        assert in_force.covers(datasets.arrests.id, ["age_at_arrest", "offence_category"])
        assert in_force.is_personnel(people.analyst2.id)
        assert in_force.min_cell_size == 10

    assert_version_1_in_force()
    assert agreement.status == AgreementStatus.ACTIVE

    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.commit()
    assert_version_1_in_force()
    waiting = db.get(Agreement, agreement.id)
    assert waiting is not None
    assert state_of(waiting) == State.AMENDMENT_APPROVED
    assert [v.status for v in waiting.versions] == [
        VersionStatus.APPROVED,
        VersionStatus.AWAITING_SIGNATURE,
    ]

    def event_of_version_2(event_type: AuditType) -> AuditEvent:
        return db.scalars(
            select(AuditEvent).where(
                AuditEvent.event_type == event_type, AuditEvent.agreement_version == 2
            )
        ).one()

    approval = event_of_version_2(AuditType.AGREEMENT_APPROVE)
    assert approval.detail["amends_version"] == 1
    assert "supersedes" not in approval.detail
    assert [c for c in recorder.calls if c["event"] == AgreementEvent.AMENDED] == []

    builders.countersign(db, people, waiting)
    db.commit()
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 2
    assert not in_force.covers(datasets.arrests.id, ["age_at_arrest"])
    assert not in_force.is_personnel(people.analyst2.id)
    assert in_force.min_cell_size == 20
    assert in_force.provider_signatory_name == "Chief Dana Reyes"
    refreshed = db.get(Agreement, agreement.id)
    assert refreshed is not None
    assert state_of(refreshed) == State.ACTIVE
    assert refreshed.working_version is None
    assert [v.status for v in refreshed.versions] == [
        VersionStatus.SUPERSEDED,
        VersionStatus.APPROVED,
    ]

    execution = event_of_version_2(AuditType.AGREEMENT_EXECUTE)
    changed = {c["clause"]: c for c in execution.detail["changes"]}
    assert set(changed) == {"scope.datasets", "personnel", "publication.min_cell_size"}
    assert changed["publication.min_cell_size"]["before"].startswith("10 people")
    assert changed["publication.min_cell_size"]["after"].startswith("20 people")
    assert execution.detail["supersedes"] == 1
    assert execution.detail["signatory"] == "Chief Dana Reyes"

    amended = [c for c in recorder.calls if c["event"] == AgreementEvent.AMENDED]
    assert len(amended) == 1
    assert amended[0]["previous_version"].number == 1
    assert amended[0]["new_version"].number == 2
    assert amended[0]["by"] == people.privacy


def test_an_amendment_cannot_move_the_effective_date(
    db: Session, people: People, datasets: Datasets
) -> None:
    from governance.kernel.errors import ValidationFailed

    agreement = builders.approved(db, people, datasets)
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="x", by=people.privacy, now=utcnow()
    )
    with pytest.raises(ValidationFailed) as refusal:
        agreements.update_draft(
            db,
            agreement_id=agreement.id,
            by=people.privacy,
            now=utcnow(),
            terms=builders.terms(
                people, datasets, effective_date=builders.today() - dt.timedelta(days=3)
            ),
        )
    assert "effective_date" in refusal.value.fields


def test_discarding_an_amendment_keeps_the_version_in_force(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    amend(db, people, datasets, agreement, title="Renamed")
    agreements.return_to_draft(
        db, agreement_id=agreement.id, comment="Not now", by=people.privacy2, now=utcnow()
    )
    agreements.discard_amendment(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    fresh(db)
    refreshed = db.get(Agreement, agreement.id)
    assert refreshed is not None
    assert refreshed.working_version is None
    assert refreshed.versions[-1].status == VersionStatus.DISCARDED
    assert refreshed.display_version.title == "Diversion programme evaluation"


def test_listeners_hear_activation_expiry_termination_and_closing(
    db: Session, people: People, datasets: Datasets, recorder: Recorder
) -> None:
    later = builders.approved(
        db,
        people,
        datasets,
        effective_date=builders.today() + dt.timedelta(days=5),
        expiry_date=builders.today() + dt.timedelta(days=9),
    )
    ended = builders.approved(db, people, datasets)
    assert [c["event"] for c in recorder.calls] == [AgreementEvent.ACTIVATED]
    day = dt.datetime.combine(builders.today() + dt.timedelta(days=5), dt.time(), tzinfo=dt.UTC)
    assert activate_due(db, SCHEDULER, day) == 1
    after_expiry = day + dt.timedelta(days=5)
    assert expire_due(db, SCHEDULER, after_expiry) == 1
    agreements.terminate(
        db, agreement_id=ended.id, reason="Ended early", by=people.privacy, now=utcnow()
    )
    agreements.certify_destruction(
        db, agreement_id=ended.id, statement="Wiped", by=people.privacy, now=utcnow()
    )
    db.commit()
    assert [(c["event"], c["agreement"].id) for c in recorder.calls] == [
        (AgreementEvent.ACTIVATED, ended.id),
        (AgreementEvent.ACTIVATED, later.id),
        (AgreementEvent.EXPIRED, later.id),
        (AgreementEvent.TERMINATED, ended.id),
        (AgreementEvent.DESTROYED, ended.id),
    ]
    expired = recorder.calls[2]
    assert expired["previous_version"].number == 1
    assert expired["new_version"] is None
    assert expired["by"] == SCHEDULER
    assert expired["now"] == after_expiry


def test_a_failing_listener_rolls_the_transition_back(
    db: Session, people: People, datasets: Datasets, recorder: Recorder
) -> None:
    agreement = builders.approved(db, people, datasets)
    head = audit.chain_head(db)
    recorder.fail_on = AgreementEvent.TERMINATED
    with pytest.raises(RuntimeError, match="grant revocation failed"):
        agreements.terminate(
            db, agreement_id=agreement.id, reason="Breach", by=people.privacy, now=utcnow()
        )
    db.rollback()
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.ACTIVE  # type: ignore[union-attr]
    assert audit.chain_head(db) == head


def test_a_failing_listener_stops_the_expiry_job_committing(
    app: Any, db: Session, people: People, datasets: Datasets, recorder: Recorder
) -> None:
    from governance import periodic
    from governance.kernel.extensions import database

    agreement = builders.approved(
        db, people, datasets, expiry_date=builders.today() + dt.timedelta(days=1)
    )
    recorder.fail_on = AgreementEvent.EXPIRED
    with pytest.raises(RuntimeError):
        periodic.run_due_jobs(database(app).sessions, now=utcnow() + dt.timedelta(days=3))
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.ACTIVE  # type: ignore[union-attr]
