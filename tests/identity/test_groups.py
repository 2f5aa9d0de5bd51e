"""Roles follow external groups through the mappings an administrator configures: granted and
removed with an audit event naming the source, never touching a role given by hand."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.authz import Role
from governance.identity import groups, sessions, tokens
from governance.identity.actors import System
from governance.identity.group_mapping_model import GroupMapping
from governance.identity.models import User
from governance.identity.role_change_model import RoleChange
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.conftest import Browser, fresh
from tests.identity.conftest import login_from
from tests.support import PASSWORD, People, add_person

OPERATOR = System("test")


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


def newcomer(db: Session, app: Flask, people: People, *roles: Role) -> User:
    person = add_person(
        db, app, email="newcomer@test.example", name="New Comer", org=people.lab, roles=roles
    )
    db.commit()
    return person


def mapping(db: Session, group: str, role: Role | None, *, org: int | None = None) -> None:
    groups.create_mapping(
        db, source="scim", external_group=group, role=role, organization_id=org, by=OPERATOR
    )
    db.commit()


def roles_of(db: Session, user_id: int) -> set[Role]:
    user = fresh(db).get(User, user_id)
    assert user is not None
    return set(user.role_set)


def test_groups_grant_and_remove_mapped_roles_with_the_source_audited(
    app: Flask, db: Session, people: People
) -> None:
    person = newcomer(db, app, people, Role.ANALYST)
    mapping(db, "research-stewards", Role.DATA_STEWARD)
    mapping(db, "checkers", Role.OUTPUT_CHECKER)

    changes = groups.apply_external_groups(
        db,
        actor_label="scim",
        user=person,
        source="scim",
        groups=["research-stewards", "checkers", "canteen"],
    )
    db.commit()
    assert {(c.kind, c.value) for c in changes} == {
        (groups.ChangeKind.GRANT, "data_steward"),
        (groups.ChangeKind.GRANT, "output_checker"),
    }
    assert roles_of(db, person.id) == {Role.ANALYST, Role.DATA_STEWARD, Role.OUTPUT_CHECKER}
    granted = events(db, AuditType.GROUP_ROLE_GRANT)
    assert {e.detail["role"] for e in granted} == {"data_steward", "output_checker"}
    assert all(e.detail["source"] == "scim" and e.actor_email == "system:scim" for e in granted)
    unmapped = events(db, AuditType.GROUPS_UNMAPPED)
    assert len(unmapped) == 1
    assert unmapped[0].detail["groups"] == ["canteen"]

    # Leaving a group removes what it gave, and only that.
    person = fresh(db).get(User, person.id)
    assert person is not None
    changes = groups.apply_external_groups(
        db, actor_label="scim", user=person, source="scim", groups=["checkers"]
    )
    db.commit()
    assert [(c.kind, c.value) for c in changes] == [(groups.ChangeKind.REMOVE, "data_steward")]
    assert roles_of(db, person.id) == {Role.ANALYST, Role.OUTPUT_CHECKER}
    removed = events(db, AuditType.GROUP_ROLE_REMOVE)
    assert [e.detail["role"] for e in removed] == ["data_steward"]
    rows = fresh(db).scalars(select(RoleChange).where(RoleChange.user_id == person.id)).all()
    assert {(r.kind, r.role, r.decided_by) for r in rows} >= {
        ("grant", "data_steward", "system:scim"),
        ("remove", "data_steward", "system:scim"),
    }


def test_a_role_given_by_hand_is_never_removed_by_a_group(
    app: Flask, db: Session, people: People
) -> None:
    person = newcomer(db, app, people, Role.ANALYST, Role.OUTPUT_CHECKER)
    mapping(db, "checkers", Role.OUTPUT_CHECKER)
    groups.apply_external_groups(
        db, actor_label="scim", user=person, source="scim", groups=["checkers"]
    )
    db.commit()
    person = fresh(db).get(User, person.id)
    assert person is not None
    changes = groups.apply_external_groups(
        db, actor_label="scim", user=person, source="scim", groups=[]
    )
    db.commit()
    assert changes == []
    assert roles_of(db, person.id) == {Role.ANALYST, Role.OUTPUT_CHECKER}


def test_two_sources_share_a_role_until_both_drop_it(
    app: Flask, db: Session, people: People
) -> None:
    person = newcomer(db, app, people, Role.ANALYST)
    mapping(db, "checkers", Role.OUTPUT_CHECKER)
    groups.create_mapping(
        db,
        source="entra",
        external_group="Checkers",
        role=Role.OUTPUT_CHECKER,
        organization_id=None,
        by=OPERATOR,
    )
    db.commit()
    for source, group in (("scim", "checkers"), ("entra", "Checkers")):
        groups.apply_external_groups(
            db,
            actor_label=source,
            user=fresh(db).get(User, person.id),
            source=source,
            groups=[group],
        )
        db.commit()
    groups.apply_external_groups(
        db, actor_label="scim", user=fresh(db).get(User, person.id), source="scim", groups=[]
    )
    db.commit()
    assert Role.OUTPUT_CHECKER in roles_of(db, person.id)
    groups.apply_external_groups(
        db, actor_label="entra", user=fresh(db).get(User, person.id), source="entra", groups=[]
    )
    db.commit()
    assert roles_of(db, person.id) == {Role.ANALYST}


def test_a_group_can_set_the_organisation(app: Flask, db: Session, people: People) -> None:
    person = newcomer(db, app, people, Role.ANALYST)
    mapping(db, "probation-staff", None, org=people.probation.id)
    changes = groups.apply_external_groups(
        db, actor_label="scim", user=person, source="scim", groups=["probation-staff"]
    )
    db.commit()
    assert [(c.kind, c.value) for c in changes] == [
        (groups.ChangeKind.ORGANIZATION, people.probation.name)
    ]
    user = fresh(db).get(User, person.id)
    assert user is not None
    assert user.organization_id == people.probation.id
    assert events(db, AuditType.GROUP_ORGANIZATION)[0].detail["source"] == "scim"


def test_a_change_of_roles_ends_sessions_but_the_one_signing_in(
    app: Flask, db: Session, people: People
) -> None:
    person = newcomer(db, app, people, Role.ANALYST)
    mapping(db, "checkers", Role.OUTPUT_CHECKER)
    now = utcnow()
    old = sessions.start_session(db, user=person, now=now, client_address="a", user_agent="b")
    new = sessions.start_session(db, user=person, now=now, client_address="a", user_agent="b")
    db.commit()
    groups.apply_external_groups(
        db,
        actor_label="oidc",
        user=person,
        source="scim",
        groups=["checkers"],
        keep_session_id=new.record.id,
    )
    db.commit()
    assert sessions.find_active(fresh(db), old.secret, user_id=person.id) is None
    assert sessions.find_active(fresh(db), new.secret, user_id=person.id) is not None


def test_a_powerful_mapping_counts_only_after_a_second_administrator(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: an administrator maps a group they belong to at the provider to the privacy
    officer's role, to get round the two-administrator rule."""
    person = newcomer(db, app, people, Role.ANALYST)
    created = groups.create_mapping(
        db,
        source="scim",
        external_group="po",
        role=Role.PRIVACY_OFFICER,
        organization_id=None,
        by=people.admin,
    )
    db.commit()
    assert not created.approved
    groups.apply_external_groups(db, actor_label="scim", user=person, source="scim", groups=["po"])
    db.commit()
    assert roles_of(db, person.id) == {Role.ANALYST}
    creator = fresh(db).get(User, people.admin.id)
    assert creator is not None
    with pytest.raises(PermissionDenied, match="second administrator"):
        groups.approve_mapping(db, mapping_id=created.id, by=creator)
    db.rollback()
    admin2 = add_person(
        db,
        app,
        email="admin2@test.example",
        name="Admin Two",
        org=people.lab,
        roles=(Role.ADMIN,),
    )
    db.commit()
    groups.approve_mapping(db, mapping_id=created.id, by=admin2)
    db.commit()
    groups.apply_external_groups(
        db, actor_label="scim", user=fresh(db).get(User, person.id), source="scim", groups=["po"]
    )
    db.commit()
    assert Role.PRIVACY_OFFICER in roles_of(db, person.id)


def test_an_administrator_maps_a_group_on_the_page_and_a_steward_cannot(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: a data steward tries to map a group to a role (page and API)."""
    steward = Browser(app.test_client())
    assert (
        login_from(steward.client, "192.0.2.20", people.steward.email, PASSWORD).status_code == 302
    )
    assert steward.get("/admin/identity/groups").status_code == 403
    refused = steward.post(
        "/admin/identity/groups",
        {
            "mapping-source": "scim",
            "mapping-external_group": "x",
            "mapping-role": "admin",
            "mapping-organization_id": "",
        },
    )
    assert refused.status_code == 403
    secret = tokens.create_token(
        db, user_id=people.steward.id, name="t", days=1, by=people.steward, now=utcnow()
    ).secret
    db.commit()
    api = app.test_client()
    answer = api.post(
        "/api/v1/group-mappings",
        json={"source": "scim", "external_group": "x", "role": "admin"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 403
    assert fresh(db).scalars(select(GroupMapping)).all() == []
    denied = events(db, AuditType.GROUP_MAPPING_CREATE)
    assert denied
    assert all(e.outcome == "denied" for e in denied)

    admin = Browser(app.test_client())
    assert login_from(admin.client, "192.0.2.21", people.admin.email, PASSWORD).status_code == 302
    saved = admin.post(
        "/admin/identity/groups",
        {
            "mapping-source": "scim",
            "mapping-external_group": "analysts",
            "mapping-role": "analyst",
            "mapping-organization_id": "",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200
    page = saved.get_data(as_text=True)
    assert "analysts" in page
    assert "counts (approved by" in page
