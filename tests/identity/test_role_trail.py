"""A role the service took away, put back in the database with its old seal, is reported.

An attacker's view: a DBA keeps the row of someone's role (a backup) while they hold it. An
administrator takes the role away through the service; the DBA puts the row back, seal
included. The seal holds (the service did seal that row once); the trail records the removal,
so the periodic alert job opens an incident under rule `role-trail`. A role given again through
the service is not reported.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.actors import System
from governance.incidents.alerts import open_from_broken_seals
from governance.incidents.models import Incident
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.conftest import fresh
from tests.support import SETUP, People

# Spelled out: these tests also run against the code from before the trail check.
ROLE_TRAIL = "role-trail"


def set_roles(db: Session, people: People, roles: list[str]) -> None:
    users.update_user(
        db,
        user_id=people.analyst.id,
        name=people.analyst.name,
        organization_id=people.lab.id,
        roles=roles,
        by=SETUP,
    )
    db.commit()


def steward_row(app: Flask, people: People) -> dict[str, object]:
    with database(app).engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM user_role WHERE user_id = :u AND role = 'data_steward'"),
            {"u": people.analyst.id},
        ).one()
    return dict(row._mapping)


def put_back(app: Flask, row: dict[str, object]) -> None:
    with database(app).engine.begin() as connection:
        connection.execute(
            text("INSERT INTO user_role (user_id, role, seal) VALUES (:user_id, :role, :seal)"),
            row,
        )


def test_a_removed_role_put_back_from_a_backup_opens_an_incident(
    app: Flask, db: Session, people: People
) -> None:
    set_roles(db, people, ["analyst", "data_steward"])
    backup = steward_row(app, people)
    set_roles(db, people, ["analyst"])
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    put_back(app, backup)
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 1
    db.commit()
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    [alert] = fresh(db).scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.INCIDENT_FROM_ALERT)
    )
    assert (alert.target_type, alert.target_id, alert.rule) == (
        "user_role",
        f"{people.analyst.id}:data_steward",
        ROLE_TRAIL,
    )
    incident = fresh(db).get(Incident, alert.detail["incident_id"])
    assert incident is not None
    assert "contradicts the audit trail" in incident.description


def test_a_role_given_again_through_the_service_is_not_reported(
    app: Flask, db: Session, people: People
) -> None:
    set_roles(db, people, ["analyst", "data_steward"])
    set_roles(db, people, ["analyst"])
    set_roles(db, people, ["analyst", "data_steward"])
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
