"""Nobody changes their own roles; a role with approval or audit powers needs a second
administrator; every change is recorded and shown to the compliance manager."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit.models import AuditEvent, AuditType
from governance.authz import Role
from governance.cli import context, core, main
from governance.identity import users
from governance.identity.models import User
from governance.identity.role_change_model import RoleChange, RoleChangeStatus
from governance.kernel.extensions import database
from tests.conftest import Browser, fresh
from tests.identity.conftest import login_from
from tests.support import PASSWORD, SETUP, People, add_person


def signed_in(app: Flask, email: str) -> Browser:
    client = app.test_client()
    assert login_from(client, "192.0.2.10", email, PASSWORD).status_code == 302
    return Browser(client)


def roles_of(db: Session, user_id: int) -> set[str]:
    user = fresh(db).get(User, user_id)
    assert user is not None
    return {role.value for role in user.role_set}


def edit_roles(admin: Browser, person: User, *roles: str) -> Any:
    return admin.post(
        f"/admin/users/{person.id}",
        {
            "edit-name": person.name,
            "edit-organization_id": person.organization_id,
            "edit-roles": list(roles),
        },
    )


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


def second_admin(db: Session, app: Flask, people: People) -> User:
    admin2 = add_person(
        db,
        app,
        email="admin2@test.example",
        name="Second Admin",
        org=people.lab,
        roles=(Role.ADMIN,),
    )
    db.commit()
    return admin2


def test_an_administrator_cannot_give_themselves_a_role(
    app: Flask, people: People, db: Session
) -> None:
    """Attack: an administrator gives themselves the compliance manager's role, then reads the
    audit trail (or the privacy officer's, then gives the second approval for identifiers)."""
    admin = signed_in(app, people.admin.email)
    for power in ("compliance_manager", "privacy_officer"):
        refused = edit_roles(admin, people.admin, "admin", power)
        assert refused.status_code == 403
        assert "Nobody changes their own roles" in refused.get_data(as_text=True)
    assert roles_of(db, people.admin.id) == {"admin"}
    assert admin.get("/audit/").status_code == 403
    denial = events(db, AuditType.USER_ROLES_CHANGE)[-1]
    assert (denial.outcome, denial.actor_id, denial.rule) == (
        "denied",
        people.admin.id,
        "no-self-role-change",
    )
    requested = (
        fresh(db)
        .scalars(select(RoleChange.requested_by).where(RoleChange.user_id == people.admin.id))
        .all()
    )
    assert requested == ["system:test-setup"]  # only the set-up's grant: no request was made
    # Nor drop one: a person's roles are always someone else's decision.
    assert edit_roles(admin, people.admin, "analyst").status_code == 403


def test_a_powerful_role_waits_for_a_second_administrator(
    app: Flask, people: People, db: Session
) -> None:
    """Attack: an administrator makes an accomplice (or a second account of their own) a
    compliance manager. The grant waits; neither the one who asked nor the person concerned
    can approve it; another administrator can."""
    admin2 = second_admin(db, app, people)
    analyst = signed_in(app, people.analyst.email)
    admin = signed_in(app, people.admin.email)
    answer = edit_roles(admin, people.analyst, "analyst", "compliance_manager")
    assert answer.status_code == 302
    assert "Waiting for a second administrator" in admin.get(answer.headers["Location"]).get_data(
        as_text=True
    )
    assert roles_of(db, people.analyst.id) == {"analyst"}
    assert analyst.get("/audit/").status_code == 403
    change = (
        fresh(db)
        .scalars(select(RoleChange).where(RoleChange.status == RoleChangeStatus.PENDING))
        .one()
    )
    assert (change.role, change.requested_by_id) == ("compliance_manager", people.admin.id)
    assert events(db, AuditType.ROLE_REQUEST)[-1].detail["role"] == "compliance_manager"
    # Asking twice does not make two requests.
    edit_roles(admin, people.analyst, "analyst", "compliance_manager")
    assert (
        len(
            fresh(db)
            .scalars(select(RoleChange).where(RoleChange.status == RoleChangeStatus.PENDING))
            .all()
        )
        == 1
    )

    own = admin.post(f"/admin/role-changes/{change.id}/approve")
    assert own.status_code == 403
    assert events(db, AuditType.ROLE_APPROVE)[-1].rule == "second-administrator"
    assert analyst.post(f"/admin/role-changes/{change.id}/approve").status_code == 403
    assert roles_of(db, people.analyst.id) == {"analyst"}

    second = signed_in(app, admin2.email)
    page = second.get("/admin/role-changes").get_data(as_text=True)
    assert "Approve compliance manager for analyst@test.example" in page
    assert second.post(f"/admin/role-changes/{change.id}/approve").status_code == 302
    assert roles_of(db, people.analyst.id) == {"analyst", "compliance_manager"}
    approved = events(db, AuditType.ROLE_APPROVE)[-1]
    assert (approved.outcome, approved.actor_id) == ("success", admin2.id)
    assert approved.detail["requested_by"] == people.admin.email
    # The change of roles ended the person's session: they sign in again with the new role.
    assert analyst.get("/audit/").status_code == 302
    assert signed_in(app, people.analyst.email).get("/audit/").status_code == 200
    assert second.post(f"/admin/role-changes/{change.id}/approve").status_code == 409


def test_a_second_administrator_rejects_and_the_asker_withdraws(
    app: Flask, people: People, db: Session
) -> None:
    admin2 = second_admin(db, app, people)
    admin = signed_in(app, people.admin.email)
    edit_roles(admin, people.analyst, "analyst", "output_checker")
    edit_roles(admin, people.analyst2, "analyst", "data_steward")
    rejected, withdrawn = (
        fresh(db)
        .scalars(
            select(RoleChange)
            .where(RoleChange.status == RoleChangeStatus.PENDING)
            .order_by(RoleChange.id)
        )
        .all()
    )
    second = signed_in(app, admin2.email)
    assert (
        second.post(
            f"/admin/role-changes/{rejected.id}/reject", {"reject-note": "Not on the project."}
        ).status_code
        == 302
    )
    assert admin.post(f"/admin/role-changes/{withdrawn.id}/reject").status_code == 302
    assert roles_of(db, people.analyst.id) == {"analyst"}
    assert roles_of(db, people.analyst2.id) == {"analyst"}
    statuses = {
        c.id: (c.status, c.decided_by, c.note)
        for c in fresh(db).scalars(
            select(RoleChange).where(RoleChange.id.in_([rejected.id, withdrawn.id]))
        )
    }
    assert statuses == {
        rejected.id: (RoleChangeStatus.REJECTED, admin2.email, "Not on the project."),
        withdrawn.id: (RoleChangeStatus.CANCELLED, people.admin.email, None),
    }
    assert [e.detail["status"] for e in events(db, AuditType.ROLE_REJECT)] == [
        "rejected",
        "cancelled",
    ]


def test_removing_a_role_or_granting_one_without_powers_applies_at_once(
    app: Flask, people: People, db: Session
) -> None:
    admin = signed_in(app, people.admin.email)
    assert edit_roles(admin, people.steward, "analyst").status_code == 302
    assert roles_of(db, people.steward.id) == {"analyst"}
    applied = (
        fresh(db)
        .scalars(
            select(RoleChange)
            .where(
                RoleChange.user_id == people.steward.id,
                RoleChange.requested_by_id == people.admin.id,
            )
            .order_by(RoleChange.role)
        )
        .all()
    )
    assert [(c.kind, c.role, c.status, c.decided_by) for c in applied] == [
        ("grant", "analyst", "applied", people.admin.email),
        ("remove", "data_steward", "applied", people.admin.email),
    ]


def test_the_roles_that_need_a_second_administrator_are_those_with_powers() -> None:
    """Decided from the permissions in policies/roles.csv, not from a list of roles."""
    assert {role for role in Role if authz.carries_powers(role)} == {
        Role.ADMIN,
        Role.PRIVACY_OFFICER,
        Role.COMPLIANCE_MANAGER,
        Role.DATA_STEWARD,
        Role.OUTPUT_CHECKER,
        Role.PARTNER_REVIEWER,
    }


def test_the_compliance_manager_watches_every_role_change(
    app: Flask, people: People, db: Session
) -> None:
    admin2 = second_admin(db, app, people)
    admin = signed_in(app, people.admin.email)
    edit_roles(admin, people.analyst, "analyst", "privacy_officer")
    change = (
        fresh(db)
        .scalars(select(RoleChange).where(RoleChange.status == RoleChangeStatus.PENDING))
        .one()
    )
    signed_in(app, admin2.email).post(f"/admin/role-changes/{change.id}/approve")
    edit_roles(admin, people.analyst2, "analyst", "output_checker")
    compliance = signed_in(app, people.compliance.email)
    assert "Role changes" in compliance.get("/audit/").get_data(as_text=True)
    page = compliance.get("/admin/role-changes")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    waiting, decided = text.split("<h2>Decided</h2>")
    assert "analyst2@test.example" in waiting
    assert "Output checker" in waiting
    assert "Approve" not in waiting
    assert "Reject" not in waiting
    assert "grant privacy officer" in decided
    assert admin2.email in decided
    assert "system:test-setup" in decided  # the accounts the host operator created
    assert signed_in(app, people.analyst2.email).get("/admin/role-changes").status_code == 403


def test_admins_see_requests_to_approve_on_their_dashboard(
    app: Flask, people: People, db: Session
) -> None:
    admin2 = second_admin(db, app, people)
    admin = signed_in(app, people.admin.email)
    edit_roles(admin, people.analyst, "analyst", "data_steward")
    assert "waiting for a second administrator" not in admin.get("/dashboard/admin").get_data(
        as_text=True
    )
    assert "1 role request(s) waiting for a second administrator" in signed_in(
        app, admin2.email
    ).get("/dashboard/admin").get_data(as_text=True)


def test_deactivation_cancels_pending_requests(app: Flask, people: People, db: Session) -> None:
    admin = signed_in(app, people.admin.email)
    edit_roles(admin, people.analyst, "analyst", "data_steward")
    users.set_active(fresh(db), user_id=people.analyst.id, active=False, by=SETUP)
    db.commit()
    change = (
        fresh(db)
        .scalars(
            select(RoleChange).where(
                RoleChange.user_id == people.analyst.id, RoleChange.role == "data_steward"
            )
        )
        .one()
    )
    assert (change.status, change.note) == (RoleChangeStatus.CANCELLED, "account deactivated")


def test_the_host_operator_creates_the_first_administrator(
    app: Flask, people: People, db: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`governance create-user` (shell access to the host, its database and keys) grants
    directly, as the demo and test set-up do; the grant is recorded as the operator's."""
    built: list[Flask] = []

    def build_and_remember() -> Flask:
        built.append(context.build_app())
        return built[-1]

    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    monkeypatch.setattr(core, "build_app", build_and_remember)
    result = CliRunner().invoke(
        main,
        [
            "create-user",
            "--email",
            "root@test.example",
            "--name",
            "Root",
            "--org",
            "Test Lab",
            "--role",
            "admin",
            "--role",
            "compliance_manager",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    created = users.find_user_by_email(fresh(db), "root@test.example")
    assert created is not None
    assert {r.value for r in created.role_set} == {"admin", "compliance_manager"}
    rows = fresh(db).scalars(select(RoleChange).where(RoleChange.user_id == created.id)).all()
    assert {(c.role, c.status, c.requested_by, c.note) for c in rows} == {
        ("admin", "applied", "system:cli", "granted by the host operator"),
        ("compliance_manager", "applied", "system:cli", "granted by the host operator"),
    }
    for application in built:
        database(application).dispose()


def test_a_new_account_asked_with_powerful_roles_only_holds_none_until_approved(
    app: Flask, people: People, db: Session
) -> None:
    admin2 = second_admin(db, app, people)
    admin = signed_in(app, people.admin.email)
    assert (
        admin.post(
            "/admin/users/new",
            {
                "email": "new.steward@test.example",
                "name": "New Steward",
                "organization_id": people.lab.id,
                "roles": ["data_steward"],
                "password": "a long enough password",
            },
        ).status_code
        == 302
    )
    created = users.find_user_by_email(fresh(db), "new.steward@test.example")
    assert created is not None
    assert created.role_set == frozenset()
    newcomer = Browser(app.test_client())
    login_from(newcomer.client, "192.0.2.5", created.email, "a long enough password")
    home = newcomer.get("/")
    assert home.status_code == 200
    assert "holds no role yet" in home.get_data(as_text=True)
    assert newcomer.get("/datasets/new").status_code == 403
    change = fresh(db).scalars(select(RoleChange).where(RoleChange.user_id == created.id)).one()
    signed_in(app, admin2.email).post(f"/admin/role-changes/{change.id}/approve")
    assert roles_of(db, created.id) == {"data_steward"}
