"""An administrator cannot give themselves a role through a SCIM token they issued.

The attack: a second administrator approved the mapping of the SCIM group "Privacy Officers"
to the privacy officer's role (the institution's provider decides who is in it). One
administrator issues a SCIM token on the page, then acts as the provider: pushes that group with
their own account in it and holds the privacy officer's role, round the two-administrator rule
and "nobody changes their own roles".
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from governance import schema
from governance.audit.models import AuditEvent, AuditType
from governance.authz import Role
from governance.identity import groups
from governance.identity.models import User
from governance.identity.scim_model import ScimToken
from governance.kernel.db import Base
from tests.conftest import fresh
from tests.identity.test_scim import GROUP_SCHEMA, OPERATOR, Scim, issue
from tests.support import People


def push_privacy_officers(app: Flask, db: Session, people: People, member: User) -> Any:
    """The administrator's own SCIM token pushes the group a second administrator (here the
    host operator) mapped to the privacy officer's role, with `member` in it."""
    return push_group(app, db, people, member, "Privacy Officers", role=Role.PRIVACY_OFFICER)


def push_group(
    app: Flask,
    db: Session,
    people: People,
    member: User,
    group: str,
    *,
    role: Role | None = None,
    organization_id: int | None = None,
) -> tuple[Scim, Any]:
    """The administrator's own SCIM token pushes `group`, mapped (by the host operator) to
    `role` and/or an organisation, with `member` in it."""
    groups.create_mapping(
        db,
        source="scim",
        external_group=group,
        role=role,
        organization_id=organization_id,
        by=OPERATOR,
    )
    db.commit()
    scim = Scim(app.test_client(), issue(db, people)[1])
    return scim, scim.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": group, "members": [{"value": str(member.id)}]},
    )


def roles_of(db: Session, user: User) -> frozenset[Role]:
    found = fresh(db).get(User, user.id)
    assert found is not None
    return found.role_set


def test_an_administrator_cannot_promote_themselves_through_their_own_scim_token(
    app: Flask, db: Session, people: People
) -> None:
    scim, pushed = push_privacy_officers(app, db, people, people.admin)
    assert Role.PRIVACY_OFFICER not in roles_of(db, people.admin), pushed.get_json()
    assert pushed.status_code == 403
    assert "cannot give you a role" in pushed.get_json()["detail"]
    # Nothing of the push was kept (a later push by another token would grant it), and the
    # refusal is recorded under the rule.
    assert scim.call("GET", "/Groups").get_json()["totalResults"] == 0
    (refusal,) = fresh(db).scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.GROUP_ROLE_GRANT)
    )
    assert refusal.outcome == "denied"
    assert refusal.rule == "no-self-role-change"
    assert refusal.target_id == str(people.admin.id)
    assert refusal.detail["roles"] == ["privacy_officer"]


def test_the_same_token_still_gives_mapped_roles_to_others(
    app: Flask, db: Session, people: People
) -> None:
    """The refusal is about the issuer gaining a role, not about the token."""
    _scim, pushed = push_privacy_officers(app, db, people, people.analyst)
    assert pushed.status_code == 201, pushed.get_json()
    assert Role.PRIVACY_OFFICER in roles_of(db, people.analyst)


def test_migration_0048_finds_the_issuer_of_tokens_issued_before(
    app: Flask, db: Session, people: People
) -> None:
    """Tokens issued before 0048 named their issuer by e-mail only: the upgrade finds the
    account, so those tokens are held to the rule too; the schema is the models'."""
    token, _secret = issue(db, people)
    engine = db.get_bind()
    db.close()
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0047")
    assert "created_by_id" not in {c["name"] for c in inspect(engine).get_columns("scim_token")}
    schema.upgrade(engine)
    found = fresh(db).get(ScimToken, token.id)
    assert found is not None
    assert found.created_by_id == people.admin.id
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert not [d for d in differences if "scim_token" in repr(d)]
