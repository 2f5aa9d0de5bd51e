"""A refusal is itself an answer (docs/decisions/analysis-ledger.md): a run refused for
differencing or too small a population tells whether someone has a record. One person's
refusals of those kinds under one agreement, PROBE_ALERT_REFUSALS of them within
PROBE_ALERT_DAYS, open an incident naming the person, the agreement and the runs, once per
burst; refusals of other kinds, other people's and older ones do not count."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import User
from governance.incidents.models import Incident, IncidentKind
from governance.incidents.probing import open_from_probing
from governance.kernel.types import utcnow
from governance.periodic import SCHEDULER
from tests.analysis.conftest import (
    MATCHED_PARAMS,
    World,
    execute,
    grant_matched,
    make_agreement,
    submit,
    upload,
)
from tests.conftest import fresh
from tests.support import People


def refused_runs(
    app: Flask, db: Session, people: People, world: World, count: int, user: User | None = None
) -> list[int]:
    cohort_id = upload(db, people, world, user=user)
    ids = []
    for _ in range(count):
        run = submit(
            db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id, user=user
        )
        run = execute(app, db, run.id)
        assert run.status == RunStatus.REFUSED
        assert run.clause == "publication.min_cohort_size"
        ids.append(run.id)
    return ids


def job(db: Session, *, refusals: int, now: dt.datetime | None = None) -> int:
    db.info["settings"] = {**(db.info.get("settings") or {}), "PROBE_ALERT_REFUSALS": refusals}
    opened = open_from_probing(db, SCHEDULER, now or utcnow())
    db.commit()
    return opened


def test_a_burst_of_refused_runs_opens_one_incident_naming_the_person(
    app: Flask, db: Session, people: People, world: World
) -> None:
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], min_cohort_size=5000
    )
    grant_matched(db, people, world)
    first = refused_runs(app, db, people, world, 2)
    assert job(db, refusals=3) == 0  # two refusals: an analyst trying again, no alert
    runs = [*first, *refused_runs(app, db, people, world, 1)]
    assert job(db, refusals=3) == 1
    incident = fresh(db).scalars(select(Incident)).one()
    assert incident.kind == IncidentKind.AUDIT_ALERT
    assert incident.agreement_ids == [world.agreement.id]
    assert incident.user_ids == [people.analyst.id]
    assert people.analyst.email in incident.description
    followed = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.INCIDENT_FROM_ALERT))
        .one()
    )
    assert (followed.rule, followed.detail["runs"]) == ("analysis-probing", runs)
    # The same burst never opens a second incident; the next burst does.
    assert job(db, refusals=3) == 0
    refused_runs(app, db, people, world, 2)
    assert job(db, refusals=3) == 0
    refused_runs(app, db, people, world, 1)
    assert job(db, refusals=3) == 1
    # Refusals older than the period do not count.
    assert job(db, refusals=1, now=utcnow() + dt.timedelta(days=8)) == 0


def test_two_peoples_refusals_do_not_add_up(
    app: Flask, db: Session, people: People, world: World
) -> None:
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], min_cohort_size=5000
    )
    grant_matched(db, people, world)
    grant_matched(db, people, world, user=people.analyst2)
    refused_runs(app, db, people, world, 2)
    refused_runs(app, db, people, world, 2, user=people.analyst2)
    assert job(db, refusals=3) == 0
    assert fresh(db).scalars(select(Incident)).all() == []
    assert job(db, refusals=2) == 2
    assert sorted(i.user_ids for i in fresh(db).scalars(select(Incident))) == sorted(
        [[people.analyst.id], [people.analyst2.id]]
    )
