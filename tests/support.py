"""Test data builders: organisations and one trained person per role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditHead
from governance.authz import Role
from governance.identity import users
from governance.identity.actors import System
from governance.identity.models import TrainingCourse, User
from governance.identity.organization_model import Organization, OrganizationKind

PASSWORD = "correct horse battery staple"
SETUP = System("test-setup")


@dataclass
class People:
    lab: Organization
    police: Organization
    probation: Organization
    admin: User
    privacy: User
    privacy2: User
    steward: User
    compliance: User
    analyst: User
    analyst2: User
    checker: User
    partner: User

    def by_role(self, role: Role) -> User:
        return {
            Role.ADMIN: self.admin,
            Role.PRIVACY_OFFICER: self.privacy,
            Role.DATA_STEWARD: self.steward,
            Role.COMPLIANCE_MANAGER: self.compliance,
            Role.ANALYST: self.analyst,
            Role.PARTNER_REVIEWER: self.partner,
            Role.OUTPUT_CHECKER: self.checker,
        }[role]


def add_person(
    session: Session,
    app: Flask,
    *,
    email: str,
    name: str,
    org: Organization,
    roles: tuple[Role, ...],
    courses: tuple[TrainingCourse, ...] = (
        TrainingCourse.PRIVACY_SECURITY,
        TrainingCourse.CJIS_SECURITY_AWARENESS,
    ),
    today: dt.date | None = None,
) -> User:
    user = users.create_user(
        session,
        email=email,
        name=name,
        organization_id=org.id,
        roles=[r.value for r in roles],
        password=PASSWORD,
        password_min_length=app.config["PASSWORD_MIN_LENGTH"],
        by=SETUP,
    )
    completed = (today or dt.date.today()) - dt.timedelta(days=30)
    for course in courses:
        users.record_training(
            session,
            user_id=user.id,
            course=course.value,
            completed_on=completed,
            expires_on=completed + dt.timedelta(days=365),
            by=SETUP,
        )
    return user


def make_people(session: Session, app: Flask) -> People:
    lab = users.create_organization(
        session, name="Test Lab", kind=OrganizationKind.RESEARCH, by=SETUP
    )
    police = users.create_organization(
        session, name="Test Police", kind=OrganizationKind.PROVIDER, by=SETUP
    )
    probation = users.create_organization(
        session, name="Test Probation", kind=OrganizationKind.PROVIDER, by=SETUP
    )

    def person(key: str, org: Organization, *roles: Role) -> User:
        return add_person(
            session, app, email=f"{key}@test.example", name=key.title(), org=org, roles=roles
        )

    result = People(
        lab=lab,
        police=police,
        probation=probation,
        admin=person("admin", lab, Role.ADMIN),
        privacy=person("privacy", lab, Role.PRIVACY_OFFICER),
        privacy2=person("privacy2", lab, Role.PRIVACY_OFFICER),
        steward=person("steward", lab, Role.DATA_STEWARD),
        compliance=person("compliance", lab, Role.COMPLIANCE_MANAGER),
        analyst=person("analyst", lab, Role.ANALYST),
        analyst2=person("analyst2", lab, Role.ANALYST),
        checker=person("checker", lab, Role.OUTPUT_CHECKER),
        partner=person("partner", police, Role.PARTNER_REVIEWER),
    )
    session.commit()
    return result


@contextmanager
def statements_sent(engine: Any) -> Iterator[list[str]]:
    """The SQL statements `engine` sends while the block runs, in order."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def forge_the_next_event(session: Session) -> None:
    """Make the audit table refuse the next event: a copy of the last event written one past
    the head, so the next sequence number collides (an INSERT: the append-only triggers allow
    it, and the head's refuse moving it back, the other way to make seqs collide). The caller
    commits."""
    table = AuditEvent.__table__
    last = select(AuditHead.seq).where(AuditHead.id == 1).scalar_subquery()
    row = session.execute(select(table).where(table.c.seq == last)).mappings().one()
    session.execute(table.insert().values({**row, "seq": row["seq"] + 1}))


def days_since(start: dt.date) -> set[dt.date]:
    """The UTC days from `start` to today: where a date the service took from its own clock
    after `start` may fall. One day, unless the run crossed midnight since `start`."""
    today = dt.datetime.now(dt.UTC).date()
    return {start + dt.timedelta(days=n) for n in range((today - start).days + 1)}
