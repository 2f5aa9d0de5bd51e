"""Organisations and one account per role, each with current training."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from governance.authz import Role
from governance.identity import users
from governance.identity.actors import System
from governance.identity.models import TrainingCourse, User
from governance.identity.organization_model import Organization, OrganizationKind

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (printed for the demo; never a real account)
DEMO_ACTOR = System("demo")

LAB = "Riverside Crime Lab"
POLICE = "Metro Police Department"
PROBATION = "County Probation Service"

ORGANIZATIONS = (
    (LAB, OrganizationKind.RESEARCH),
    (POLICE, OrganizationKind.PROVIDER),
    (PROBATION, OrganizationKind.PROVIDER),
)

# (key, e-mail, name, organisation, roles, courses)
PEOPLE: tuple[tuple[str, str, str, str, tuple[Role, ...], tuple[TrainingCourse, ...]], ...] = (
    ("admin", "admin@lab.example", "Ada Okafor", LAB, (Role.ADMIN,), ()),
    (
        "privacy",
        "privacy@lab.example",
        "Priya Raman",
        LAB,
        (Role.PRIVACY_OFFICER,),
        (TrainingCourse.PRIVACY_SECURITY, TrainingCourse.CJIS_SECURITY_AWARENESS),
    ),
    (
        "privacy2",
        "privacy2@lab.example",
        "Omar Haddad",
        LAB,
        (Role.PRIVACY_OFFICER,),
        (TrainingCourse.PRIVACY_SECURITY, TrainingCourse.CJIS_SECURITY_AWARENESS),
    ),
    (
        "steward",
        "steward@lab.example",
        "Sam Whitfield",
        LAB,
        (Role.DATA_STEWARD,),
        (TrainingCourse.PRIVACY_SECURITY, TrainingCourse.CJIS_SECURITY_AWARENESS),
    ),
    (
        "compliance",
        "compliance@lab.example",
        "Carmen Ortiz",
        LAB,
        (Role.COMPLIANCE_MANAGER,),
        (TrainingCourse.PRIVACY_SECURITY,),
    ),
    (
        "analyst",
        "analyst@lab.example",
        "Alex Kim",
        LAB,
        (Role.ANALYST,),
        (
            TrainingCourse.PRIVACY_SECURITY,
            TrainingCourse.CJIS_SECURITY_AWARENESS,
            TrainingCourse.HUMAN_SUBJECTS,
        ),
    ),
    (
        "analyst2",
        "analyst2@lab.example",
        "Jordan Lee",
        LAB,
        (Role.ANALYST,),
        (TrainingCourse.PRIVACY_SECURITY,),
    ),
    (
        "checker",
        "checker@lab.example",
        "Morgan Blake",
        LAB,
        (Role.OUTPUT_CHECKER,),
        (TrainingCourse.PRIVACY_SECURITY,),
    ),
    (
        "police_reviewer",
        "reviewer@police.example",
        "Rita Alvarez",
        POLICE,
        (Role.PARTNER_REVIEWER,),
        (),
    ),
    (
        "probation_reviewer",
        "reviewer@probation.example",
        "Tom Becker",
        PROBATION,
        (Role.PARTNER_REVIEWER,),
        (),
    ),
    # A second administrator: roles with approval or audit powers need two.
    ("admin2", "admin2@lab.example", "Grace Mwangi", LAB, (Role.ADMIN,), ()),
)


@dataclass
class DemoWorld:
    organizations: dict[str, Organization] = field(default_factory=dict)
    people: dict[str, User] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def logins(self) -> list[tuple[Any, ...]]:
        return [
            (user.email, ", ".join(sorted(r.label for r in user.role_set)), user.organization.name)
            for user in self.people.values()
        ]


def create_people(session: Session, *, password_min_length: int) -> DemoWorld:
    world = DemoWorld()
    for name, kind in ORGANIZATIONS:
        world.organizations[name] = users.create_organization(
            session, name=name, kind=kind, by=DEMO_ACTOR
        )
    completed = dt.date(2026, 3, 1)
    for key, email, full_name, org, roles, courses in PEOPLE:
        user = users.create_user(
            session,
            email=email,
            name=full_name,
            organization_id=world.organizations[org].id,
            roles=[r.value for r in roles],
            password=DEMO_PASSWORD,
            password_min_length=password_min_length,
            by=DEMO_ACTOR,
        )
        for course in courses:
            users.record_training(
                session,
                user_id=user.id,
                course=course.value,
                completed_on=completed,
                expires_on=completed + dt.timedelta(days=365),
                by=DEMO_ACTOR,
            )
        world.people[key] = user
    # Waiting on the second administrator's dashboard and the compliance manager's page.
    analyst2 = world.people["analyst2"]
    users.update_user(
        session,
        user_id=analyst2.id,
        name=analyst2.name,
        organization_id=analyst2.organization_id,
        roles=[Role.ANALYST.value, Role.OUTPUT_CHECKER.value],
        by=world.people["admin"],
    )
    return world
