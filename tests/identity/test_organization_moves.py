"""A person's organisation decides whose outputs a partner reviewer previews, whose role requests
an administrator handles and whom partners write to: one administrator alone neither moves
someone whose powers follow it, nor themselves, nor maps a group to an organisation.

The attacks: a lone administrator moves a partner reviewer to another provider agency (who then
previews that agency's outputs), a steward, privacy officer, checker or another administrator
to another organisation (their duties and whom they answer to change), or themselves; or maps
a provider's group to an organisation, so that whoever the provider puts in it moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from governance import schema
from governance.audit.models import AuditType
from governance.authz import Role
from governance.identity import groups, tokens, users
from governance.identity.group_mapping_model import GroupMapping
from governance.identity.models import User
from governance.identity.organization_model import Organization, OrganizationKind
from governance.identity.role_change_model import RoleChange, RoleChangeKind, RoleChangeStatus
from governance.kernel.db import Base
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.conftest import Browser, fresh
from tests.identity.test_roles import events, second_admin, signed_in
from tests.identity.test_scim import OPERATOR
from tests.identity.test_scim_self_promotion import push_group
from tests.support import PASSWORD, SETUP, People, add_person


def move(admin: Browser, person: User, organization: Organization, *roles: str) -> Any:
    return admin.post(
        f"/admin/users/{person.id}",
        {
            "edit-name": person.name,
            "edit-organization_id": organization.id,
            "edit-roles": list(roles) or sorted(r.value for r in person.role_set),
        },
    )


def organization_of(db: Session, user_id: int) -> int:
    user = fresh(db).get(User, user_id)
    assert user is not None
    return user.organization_id


def moves_of(db: Session, user_id: int) -> list[RoleChange]:
    return list(
        fresh(db).scalars(
            select(RoleChange)
            .where(RoleChange.user_id == user_id, RoleChange.kind == RoleChangeKind.MOVE)
            .order_by(RoleChange.id)
        )
    )


def other_lab(db: Session) -> Organization:
    org = users.create_organization(db, name="Other Lab", kind=OrganizationKind.RESEARCH, by=SETUP)
    db.commit()
    return org


# Who is moved, and where to: each holds a role whose powers follow their organisation.
MOVES: dict[str, Callable[[Session, Flask, People], tuple[User, Organization]]] = {
    # Would preview Probation's outputs instead of the police's.
    "partner reviewer": lambda db, app, p: (p.partner, p.probation),
    # Would be the provider's own, answering to it for the datasets they steward.
    "data steward": lambda db, app, p: (p.steward, p.police),
    # Partners would stop (or start) writing to them.
    "privacy officer": lambda db, app, p: (p.privacy, other_lab(db)),
    "output checker": lambda db, app, p: (p.checker, p.police),
    # Would handle another organisation's role requests.
    "administrator": lambda db, app, p: (
        add_person(
            db, app, email="admin3@test.example", name="Admin 3", org=p.lab, roles=(Role.ADMIN,)
        ),
        other_lab(db),
    ),
}


@pytest.mark.parametrize("who", sorted(MOVES))
def test_a_lone_administrator_cannot_move_someone_whose_powers_follow_their_organisation(
    app: Flask, db: Session, people: People, who: str
) -> None:
    person, target = MOVES[who](db, app, people)
    db.commit()
    home = person.organization_id
    admin = signed_in(app, people.admin.email)
    saved = move(admin, person, target)
    assert saved.status_code == 302
    # Nothing moved: the move waits as a request, recorded under the rule.
    assert organization_of(db, person.id) == home
    (waiting,) = moves_of(db, person.id)
    assert (waiting.status, waiting.organization_id, waiting.requested_by_id) == (
        RoleChangeStatus.PENDING,
        target.id,
        people.admin.id,
    )
    request = events(db, AuditType.ROLE_REQUEST)[-1]
    assert (request.rule, request.target_id, request.detail["to"]) == (
        "second-administrator",
        str(person.id),
        target.name,
    )
    # The administrator who asked cannot approve it (403, recorded) ...
    refused = admin.post(f"/admin/role-changes/{waiting.id}/approve", {})
    assert refused.status_code == 403
    assert organization_of(db, person.id) == home
    assert events(db, AuditType.ROLE_APPROVE)[-1].rule == "second-administrator"
    # ... a second administrator can, on the role-changes page.
    admin2 = second_admin(db, app, people)
    second = signed_in(app, admin2.email)
    page = second.get("/admin/role-changes").get_data(as_text=True)
    assert f"Organisation: {target.name}" in page
    assert second.post(f"/admin/role-changes/{waiting.id}/approve", {}).status_code == 302
    assert organization_of(db, person.id) == target.id
    approved = events(db, AuditType.ROLE_APPROVE)[-1]
    assert (approved.outcome, approved.actor_id, approved.detail["to"]) == (
        "success",
        admin2.id,
        target.name,
    )


def test_the_person_moved_cannot_approve_their_own_move(
    app: Flask, db: Session, people: People
) -> None:
    admin2 = second_admin(db, app, people)
    target = other_lab(db)
    assert move(signed_in(app, people.admin.email), admin2, target).status_code == 302
    (waiting,) = moves_of(db, admin2.id)
    mover = signed_in(app, admin2.email)
    assert mover.post(f"/admin/role-changes/{waiting.id}/approve", {}).status_code == 403
    assert organization_of(db, admin2.id) == people.lab.id
    assert events(db, AuditType.ROLE_APPROVE)[-1].rule == "no-self-role-change"


def test_an_administrator_cannot_move_themselves(app: Flask, db: Session, people: People) -> None:
    """Attack: the administrator moves into a provider agency, to handle its people's role
    requests (and, with a partner reviewer's role later, preview its outputs)."""
    admin = signed_in(app, people.admin.email)
    refused = move(admin, people.admin, people.police)
    assert refused.status_code == 403
    assert "Nobody moves themselves" in refused.get_data(as_text=True)
    assert organization_of(db, people.admin.id) == people.lab.id
    assert moves_of(db, people.admin.id) == []
    denial = events(db, AuditType.USER_UPDATE)[-1]
    assert (denial.outcome, denial.rule, denial.detail["to"]) == (
        "denied",
        "no-self-organization-change",
        people.police.name,
    )


def test_a_powerful_role_given_with_the_move_makes_it_wait(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: move an analyst and make them a steward in one form, so that the move is
    judged on the roles they held before."""
    target = other_lab(db)
    assert (
        move(
            signed_in(app, people.admin.email), people.analyst, target, "analyst", "data_steward"
        ).status_code
        == 302
    )
    assert organization_of(db, people.analyst.id) == people.lab.id
    assert [c.status for c in moves_of(db, people.analyst.id)] == [RoleChangeStatus.PENDING]


def test_a_second_move_while_one_waits_is_refused(app: Flask, db: Session, people: People) -> None:
    other = users.create_organization(db, name="Courts", kind=OrganizationKind.PROVIDER, by=SETUP)
    db.commit()
    admin = signed_in(app, people.admin.email)
    assert move(admin, people.partner, people.probation).status_code == 302
    # Asking the same again changes nothing; asking another organisation is a conflict.
    assert move(admin, people.partner, people.probation).status_code == 302
    assert move(admin, people.partner, other).status_code == 409
    assert len(moves_of(db, people.partner.id)) == 1
    assert events(db, AuditType.ROLE_REQUEST)[-1].rule == "one-move-at-a-time"


def test_moving_an_analyst_between_research_organisations_applies_at_once(
    app: Flask, db: Session, people: People
) -> None:
    """An analyst's organisation gives them nobody's previews or requests: one administrator
    could as well open them an account there. The move is still a role change on the page."""
    target = other_lab(db)
    assert move(signed_in(app, people.admin.email), people.analyst, target).status_code == 302
    assert organization_of(db, people.analyst.id) == target.id
    (applied,) = moves_of(db, people.analyst.id)
    assert (applied.status, applied.decided_by_id) == (RoleChangeStatus.APPLIED, people.admin.id)


def test_a_move_applied_at_once_ends_the_persons_sessions_as_an_approved_one_does(
    app: Flask, db: Session, people: People
) -> None:
    """The organisation decides which agreements and provider datasets a person sees. An
    approved move ends the person's sessions, so no page opened under the old organisation
    goes on; a move applied at once (an analyst's) used to leave them signed in. Now both end
    them, in the move's transaction, and the administrator's record says how many."""
    analyst = signed_in(app, people.analyst.email)
    assert analyst.get("/account/").status_code == 200
    admin = signed_in(app, people.admin.email)
    assert move(admin, people.analyst, other_lab(db)).status_code == 302
    assert analyst.get("/account/").status_code == 302  # signed out: to the login page
    assert admin.get("/account/").status_code == 200  # the administrator's own session goes on
    update = events(db, AuditType.USER_UPDATE)[-1]
    assert (update.target_id, update.detail["sessions_ended"]) == (str(people.analyst.id), 1)
    assert signed_in(app, people.analyst.email).get("/account/").status_code == 200


def mapped_to_probation(db: Session, people: People, source: str, user_id: int) -> None:
    """The group "probation-staff" of `source` mapped to Probation (approved), and the person
    put in it by that source."""
    groups.create_mapping(
        db,
        source=source,
        external_group="probation-staff",
        role=None,
        organization_id=people.probation.id,
        by=OPERATOR,
    )
    db.commit()
    person = fresh(db).get(User, user_id)
    assert person is not None
    groups.apply_external_groups(
        db, actor_label=source, user=person, source=source, groups=["probation-staff"]
    )
    db.commit()


def test_a_move_by_an_approved_group_mapping_ends_the_persons_other_sessions(
    app: Flask, db: Session, people: People
) -> None:
    """The same for a move by an identity provider's or SCIM's group: every session ends but
    the one being signed in with, if any, and the move's record says how many."""
    analyst = signed_in(app, people.analyst.email)
    mapped_to_probation(db, people, "scim", people.analyst.id)
    assert organization_of(db, people.analyst.id) == people.probation.id
    assert analyst.get("/account/").status_code == 302
    assert events(db, AuditType.GROUP_ORGANIZATION)[-1].detail["sessions_ended"] == 1


def test_deactivation_closes_a_waiting_move(app: Flask, db: Session, people: People) -> None:
    move(signed_in(app, people.admin.email), people.partner, people.probation)
    users.set_active(db, user_id=people.partner.id, active=False, by=people.admin)
    db.commit()
    assert [c.status for c in moves_of(db, people.partner.id)] == [RoleChangeStatus.CANCELLED]


def api_token(db: Session, user: User) -> dict[str, str]:
    secret = tokens.create_token(
        db, user_id=user.id, name="t", days=1, by=user, now=utcnow()
    ).secret
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_a_group_mapped_to_an_organisation_waits_for_a_second_administrator(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: map the provider's group "probation-staff" to Probation, so that the partner
    reviewer the provider (or the administrator's own SCIM token) puts in it previews
    Probation's outputs."""
    api = app.test_client()
    created = api.post(
        "/api/v1/group-mappings",
        json={
            "source": "scim",
            "external_group": "probation-staff",
            "organization_id": people.probation.id,
        },
        headers=api_token(db, people.admin),
    )
    assert created.status_code == 201, created.get_json()
    mapping = created.get_json()
    assert mapping["approved"] is False
    partner = fresh(db).get(User, people.partner.id)
    assert partner is not None
    assert (
        groups.apply_external_groups(
            db, actor_label="scim", user=partner, source="scim", groups=["probation-staff"]
        )
        == []
    )
    db.commit()
    assert organization_of(db, people.partner.id) == people.police.id
    # Its creator cannot approve it (403, recorded); a second administrator can.
    own = api.post(
        f"/api/v1/group-mappings/{mapping['id']}/approve", headers=api_token(db, people.admin)
    )
    assert own.status_code == 403
    assert events(db, AuditType.GROUP_MAPPING_APPROVE)[-1].rule == "second-administrator"
    admin2 = second_admin(db, app, people)
    approved = api.post(
        f"/api/v1/group-mappings/{mapping['id']}/approve", headers=api_token(db, admin2)
    )
    assert approved.status_code == 200
    assert approved.get_json()["approved_by"] == admin2.email
    partner = fresh(db).get(User, people.partner.id)
    assert partner is not None
    groups.apply_external_groups(
        db, actor_label="scim", user=partner, source="scim", groups=["probation-staff"]
    )
    db.commit()
    assert organization_of(db, people.partner.id) == people.probation.id


def test_the_mapping_page_says_an_organisation_mapping_waits(
    app: Flask, db: Session, people: People
) -> None:
    admin = signed_in(app, people.admin.email)
    saved = admin.post(
        "/admin/identity/groups",
        {
            "mapping-source": "scim",
            "mapping-external_group": "police-staff",
            "mapping-role": "",
            "mapping-organization_id": str(people.police.id),
        },
        follow_redirects=True,
    )
    assert "counts once a second administrator approves it" in saved.get_data(as_text=True)
    (mapping,) = fresh(db).scalars(select(GroupMapping))
    assert not mapping.approved


def test_an_administrator_cannot_move_themselves_through_their_own_scim_token(
    app: Flask, db: Session, people: People
) -> None:
    _scim, pushed = push_group(
        app, db, people, people.admin, "probation-staff", organization_id=people.probation.id
    )
    assert pushed.status_code == 403, pushed.get_json()
    assert "cannot move you" in pushed.get_json()["detail"]
    assert organization_of(db, people.admin.id) == people.lab.id
    refusal = events(db, AuditType.GROUP_ORGANIZATION)[-1]
    assert (refusal.outcome, refusal.rule) == ("denied", "no-self-organization-change")


def test_scim_still_places_people_by_an_approved_mapping(
    app: Flask, db: Session, people: People
) -> None:
    _scim, pushed = push_group(
        app, db, people, people.partner, "probation-staff", organization_id=people.probation.id
    )
    assert pushed.status_code == 201, pushed.get_json()
    assert organization_of(db, people.partner.id) == people.probation.id


def test_a_source_acting_for_no_one_moves_anyone_by_an_approved_mapping(
    app: Flask, db: Session, people: People
) -> None:
    """Sign-in (OIDC, SAML) acts on nobody's authority: it may move even an administrator by
    a mapping two administrators approved."""
    mapped_to_probation(db, people, "oidc", people.admin.id)
    assert organization_of(db, people.admin.id) == people.probation.id
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    with pytest.raises(PermissionDenied):
        groups.apply_external_groups(
            db,
            actor_label="scim",
            user=analyst,
            source="oidc",
            groups=["probation-staff"],
            on_authority_of=people.analyst.id,
        )


def test_migration_0049_keeps_role_changes_and_matches_the_models(
    app: Flask, db: Session, people: People
) -> None:
    """Role requests made before stay; a move needs no role, and the schema is the models'."""
    move(signed_in(app, people.admin.email), people.analyst, people.lab, "analyst", "admin")
    engine = db.get_bind()
    db.close()
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0048")
    assert "organization_id" not in {c["name"] for c in inspect(engine).get_columns("role_change")}
    schema.upgrade(engine)
    assert [c.role for c in fresh(db).scalars(select(RoleChange)) if c.requested_by_id] == [
        Role.ADMIN
    ]
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert not [d for d in differences if "role_change" in repr(d)]


def test_a_lone_administrator_cannot_make_someone_a_partner_reviewer(
    app: Flask, db: Session, people: People
) -> None:
    """Attack, round the move rule: instead of moving the police's partner reviewer, make
    someone already at Probation its partner reviewer (or open such an account there)."""
    clerk = add_person(
        db,
        app,
        email="clerk@test.example",
        name="Clerk",
        org=people.probation,
        roles=(Role.ANALYST,),
    )
    db.commit()
    admin = signed_in(app, people.admin.email)
    assert move(admin, clerk, people.probation, "partner_reviewer").status_code == 302
    created = admin.post(
        "/admin/users/new",
        {
            "email": "mine@test.example",
            "name": "Mine",
            "organization_id": people.probation.id,
            "roles": ["partner_reviewer"],
            "password": PASSWORD,
        },
    )
    assert created.status_code == 302
    for email in (clerk.email, "mine@test.example"):
        user = users.find_user_by_email(fresh(db), email)
        assert user is not None
        assert Role.PARTNER_REVIEWER not in user.role_set
    waiting = fresh(db).scalars(
        select(RoleChange.role).where(RoleChange.status == RoleChangeStatus.PENDING)
    )
    assert sorted(waiting) == [Role.PARTNER_REVIEWER, Role.PARTNER_REVIEWER]
