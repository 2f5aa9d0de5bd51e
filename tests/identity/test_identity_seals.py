"""Someone with the database but not the key files cannot give anyone a role, move a person to
another organisation, or take over an account by writing rows.

An attacker's view: a DBA (or whoever restores a stolen backup) writes the identity tables
directly with SQL on a connection of their own, bumping the policy epoch as a competent one
would so every process reloads. They give their own account the administrator role; give a
second account they control the privacy officer's role, to be the "second person" who approves
direct identifiers; write a password hash they computed offline; move their API token to an
administrator, or insert one or a session whose secret they know; move a person to another
organisation. Each must give nothing: every such row carries a keyed seal (HMAC under a subkey
of the audit key, governance/identity/seals.py) that only the application can make.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pyotp
import pytest
from alembic import command
from flask import Flask
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from governance import authz, schema
from governance.access import requests
from governance.access import seals as access_seals
from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.authz import Permission
from governance.authz.roles import Role
from governance.identity import (
    account_links,
    credentials,
    groups,
    role_changes,
    scim_tokens,
    sessions,
    tokens,
    totp,
)
from governance.identity.account_link_model import LinkPurpose
from governance.identity.actors import System
from governance.identity.models import User
from governance.identity.passwords import hash_password
from governance.identity.signin import LockoutPolicy, LoginFailed
from governance.incidents.alerts import open_from_broken_seals
from governance.kernel.errors import NotFound, PermissionDenied
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.access.conftest import agreement, datasets
from tests.access.test_requests_and_grants import steward_approves_an_identifier
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

BUMP = "UPDATE policy_epoch SET epoch = epoch + 1 WHERE id = 1"
# The rules a refusal names, spelled out: these tests also run against code from before the
# seals, where they must fail on their assertions.
ROLE_SEAL = "role-seal"
ACCOUNT_SEAL = "account-seal"
DBA_PASSWORD = "the-dba-knows-this-one"

__all__ = ["agreement", "datasets"]


def as_the_dba(app: Flask, *statements: tuple[str, dict[str, Any]]) -> None:
    """Write with the database alone: one transaction outside every session of the service."""
    with database(app).engine.begin() as connection:
        connection.execute(text(BUMP))
        for statement, params in statements:
            connection.execute(text(statement), params)


def signed_in(browser: Browser, email: str, password: str = PASSWORD) -> bool:
    return browser.login(email, password).status_code == 302


def test_a_role_inserted_by_sql_gives_nothing(
    app: Flask, db: Session, browser: Browser, people: People
) -> None:
    """The DBA gives their own account the administrator role: the admin pages stay shut."""
    assert signed_in(browser, people.analyst.email)
    assert browser.get("/admin/users/new").status_code == 403
    as_the_dba(
        app,
        (
            "INSERT INTO user_role (user_id, role) VALUES (:user, 'admin')",
            {"user": people.analyst.id},
        ),
    )
    assert browser.get("/admin/users/new").status_code == 403
    browser.get("/logout")
    assert signed_in(browser, people.analyst.email)
    assert browser.get("/admin/users/new").status_code == 403
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    assert "admin" not in {r.value for r in analyst.role_set}


def test_a_second_approver_made_by_sql_cannot_approve_direct_identifiers(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """Direct identifiers need two people; a DBA makes a second account of theirs a privacy
    officer to be the second: the approval is refused, naming the broken seal."""
    request = steward_approves_an_identifier(db, people, agreement, datasets)
    as_the_dba(
        app,
        (
            "INSERT INTO user_role (user_id, role) VALUES (:user, 'privacy_officer')",
            {"user": people.analyst2.id},
        ),
    )
    accomplice = fresh(db).get(User, people.analyst2.id)
    assert accomplice is not None
    # Refused, as to anyone without the role: the request is not even theirs to see.
    with pytest.raises((PermissionDenied, NotFound)):
        requests.privacy_approve(
            db, request_id=request.id, comment="Needed.", by=accomplice, now=utcnow()
        )
    db.rollback()
    # The permission check itself names the broken seal.
    with pytest.raises(PermissionDenied) as refused:
        authz.require(accomplice, Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS)
    assert str((refused.value.audit or {}).get("rule", "")).startswith(ROLE_SEAL)
    assert fresh(db).scalars(select(Grant)).first() is None


def test_a_password_hash_written_by_sql_does_not_sign_in(
    app: Flask, db: Session, browser: Browser, people: People
) -> None:
    """The DBA writes an argon2 hash of a password they chose over the administrator's: the
    sign-in fails exactly as a wrong password does, and the trail says why."""
    wrong = browser.login(people.admin.email, "not-the-password").get_data(as_text=True)
    as_the_dba(
        app,
        (
            "UPDATE user_account SET password_hash = :hash WHERE id = :user",
            {"hash": hash_password(DBA_PASSWORD, min_length=1), "user": people.admin.id},
        ),
    )
    answer = browser.login(people.admin.email, DBA_PASSWORD)
    assert answer.status_code == 200
    assert "do not match an active account" in answer.get_data(as_text=True)
    assert "do not match an active account" in wrong
    assert browser.get("/admin/users/new").status_code != 200
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.event_type == AuditType.LOGIN_FAILED
    assert event.rule == ACCOUNT_SEAL
    assert "integrity check" in event.detail["reason"]


def test_a_move_to_another_organisation_by_sql_leaves_an_account_nobody_can_use(
    app: Flask, db: Session, browser: Browser, people: People
) -> None:
    assert signed_in(browser, people.analyst.email)
    as_the_dba(
        app,
        (
            "UPDATE user_account SET organization_id = :org WHERE id = :user",
            {"org": people.police.id, "user": people.analyst.id},
        ),
    )
    assert browser.get("/dashboard/analyst").status_code == 302  # signed out
    assert not signed_in(browser, people.analyst.email)


def test_an_api_token_moved_or_inserted_by_sql_authenticates_nobody(
    app: Flask, db: Session, people: People
) -> None:
    """The DBA moves their own token to the administrator, and inserts one whose secret they
    chose (its SHA-256 is all the table keeps)."""
    client = app.test_client()
    mine = tokens.create_token(
        fresh(db), user_id=people.analyst.id, name="mine", days=None, by=SETUP, now=utcnow()
    )
    db.commit()
    bearer = {"Authorization": f"Bearer {mine.secret}"}
    assert client.get("/api/v1/me", headers=bearer).status_code == 200
    chosen = "a-secret-the-dba-chose-" + "x" * 20
    as_the_dba(
        app,
        (
            "INSERT INTO api_token (user_id, name, prefix, secret_sha256, created_at, "
            "expires_at) SELECT :user, 'x', 'a-secret', :digest, created_at, expires_at "
            "FROM api_token WHERE id = :mine",
            {
                "user": people.admin.id,
                "digest": hashlib.sha256(chosen.encode()).hexdigest(),
                "mine": mine.token.id,
            },
        ),
        (
            "UPDATE api_token SET user_id = :user WHERE id = :mine",
            {"user": people.admin.id, "mine": mine.token.id},
        ),
    )
    for secret in (mine.secret, chosen):
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 401


def test_a_session_inserted_by_sql_signs_nobody_in(
    app: Flask, db: Session, browser: Browser, people: People
) -> None:
    assert signed_in(browser, people.analyst.email)
    chosen = "a-session-secret-the-dba-chose"
    as_the_dba(
        app,
        (
            "INSERT INTO user_session (user_id, secret_sha256, method, created_at, "
            "authenticated_at, last_seen_at, client_address, user_agent) SELECT :user, "
            ":digest, method, created_at, authenticated_at, last_seen_at, client_address, "
            "user_agent FROM user_session WHERE user_id = :mine",
            {
                "user": people.admin.id,
                "digest": hashlib.sha256(chosen.encode()).hexdigest(),
                "mine": people.analyst.id,
            },
        ),
    )
    assert sessions.find_active(fresh(db), chosen, user_id=people.admin.id) is None


def test_each_broken_row_opens_one_incident(app: Flask, db: Session, people: People) -> None:
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    as_the_dba(
        app,
        ("INSERT INTO user_role (user_id, role) VALUES (:u, 'admin')", {"u": people.analyst.id}),
        (
            "UPDATE user_account SET password_hash = :hash WHERE id = :u",
            {"hash": hash_password(DBA_PASSWORD, min_length=1), "u": people.admin.id},
        ),
    )
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 2
    db.commit()
    # Each alert says what to do about its kind of row: an account's password hash cannot be
    # told apart from the person's own, so only a trusted copy or a new account will do.
    told = {broken.kind: broken.describe() for broken in access_seals.broken_seals(fresh(db))}
    assert "trusted copy" in told["user_account"]
    assert "a second administrator approves" in told["user_role"]
    followed = fresh(db).scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.INCIDENT_FROM_ALERT)
    )
    assert {(e.target_type, e.rule) for e in followed} == {
        ("user_role", ROLE_SEAL),
        ("user_account", ACCOUNT_SEAL),
    }
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0


def test_the_service_keeps_its_own_changes_sealed(
    app: Flask, db: Session, browser: Browser, people: People
) -> None:
    """Legitimate changes keep working: a password change, a role given through the service
    (role changes with powers and their second approval: tests/identity/test_roles.py)."""
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    credentials.change_password(
        db,
        user=analyst,
        current_password=PASSWORD,
        new_password=DBA_PASSWORD,
        confirm_password=DBA_PASSWORD,
        min_length=8,
        keep_session=None,
        now=utcnow(),
    )
    role_changes.change_roles(
        db, user=analyst, wanted={Role.ANALYST, Role.OUTPUT_CHECKER}, by=SETUP, now=utcnow()
    )
    db.commit()
    assert signed_in(browser, people.analyst.email, DBA_PASSWORD)
    again = fresh(db).get(User, people.analyst.id)
    assert again is not None
    assert Role.OUTPUT_CHECKER in again.role_set
    assert not again.broken_roles
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0


def test_an_upgraded_instance_seals_the_new_kinds_once(
    app: Flask, db: Session, people: People
) -> None:
    """An instance whose trail records the first sealing (grants and training only) still
    seals accounts, roles and credentials once, and never again."""
    db.execute(text("UPDATE user_account SET seal = NULL"))
    db.execute(text("UPDATE user_role SET seal = NULL"))
    db.commit()
    from governance.audit import service as audit

    audit.record(
        db,
        AuditType.GRANT_SEALS_START,
        by=SETUP,
        detail={"grants": 0, "training_records": 0, "key_id": "x"},
    )
    db.commit()
    counts = access_seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow())
    db.commit()
    assert counts is not None
    assert "access_grant" not in counts
    assert counts["user_account"] == len(fresh(db).scalars(select(User.id)).all())
    assert counts["user_role"] > 0
    assert access_seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow()) is None
    # A seal blanked after that stays blank: the account does not sign in.
    as_the_dba(app, ("UPDATE user_account SET seal = NULL WHERE id = :u", {"u": people.admin.id}))
    assert access_seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow()) is None
    assert not signed_in(Browser(app.test_client()), people.admin.email)
    assert signed_in(Browser(app.test_client()), people.analyst.email)


def test_migration_0052_adds_the_seals_and_removes_them(app: Flask, db: Session) -> None:
    engine = db.get_bind()
    db.close()
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0051")
    assert "seal" not in {c["name"] for c in inspect(engine).get_columns("user_account")}
    assert "seal" not in {c["name"] for c in inspect(engine).get_columns("user_role")}
    schema.upgrade(engine)
    for table in ("user_account", "user_role", "api_token", "user_session", "totp_credential"):
        assert "seal" in {c["name"] for c in inspect(engine).get_columns(table)}


def test_a_reset_link_or_scim_token_written_by_sql_opens_nothing(
    app: Flask, db: Session, people: People
) -> None:
    """A reset link for the administrator whose secret the DBA chose (copied from their own
    link), and a SCIM token whose digest they replaced: neither works."""
    now = utcnow()
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    link, _ = account_links.issue(
        db, user=analyst, purpose=LinkPurpose.PASSWORD_RESET, requested_by="self", now=now
    )
    _, scim_secret = scim_tokens.issue_token(db, name="idp", days=30, by=people.admin, now=now)
    db.commit()
    chosen = "a-link-secret-the-dba-chose"
    digest = hashlib.sha256(chosen.encode()).hexdigest()
    as_the_dba(
        app,
        (
            "INSERT INTO account_link (user_id, purpose, secret_sha256, created_at, expires_at, "
            "requested_by) SELECT :user, purpose, :digest, created_at, expires_at, requested_by "
            "FROM account_link WHERE id = :mine",
            {"user": people.admin.id, "digest": digest, "mine": link.id},
        ),
        ("UPDATE scim_token SET secret_sha256 = :digest", {"digest": digest}),
    )
    found = account_links.find_usable(
        fresh(db), chosen, purpose=LinkPurpose.PASSWORD_RESET, now=now
    )
    assert found is None
    assert scim_tokens.authenticate(fresh(db), chosen, now) is None
    assert scim_tokens.authenticate(fresh(db), scim_secret, now) is None


def test_a_second_factor_copied_by_sql_accepts_no_code(
    app: Flask, db: Session, people: People
) -> None:
    """The DBA enrols their own authenticator, then copies its sealed secret onto the
    administrator's row: codes from their app do not complete the administrator's sign-in."""
    now = utcnow()
    for person in (people.analyst, people.admin):
        user = fresh(db).get(User, person.id)
        assert user is not None
        secret = totp.start_enrolment(db, user=user, now=now)
        totp.confirm_enrolment(db, user=user, code=pyotp.TOTP(secret).at(now), now=now)
        db.commit()
        if person is people.analyst:
            mine = secret
    as_the_dba(
        app,
        (
            "UPDATE totp_credential SET sealed_secret = (SELECT sealed_secret FROM "
            "totp_credential WHERE user_id = :mine), key_id = (SELECT key_id FROM "
            "totp_credential WHERE user_id = :mine), last_used_step = NULL WHERE user_id = :admin",
            {"mine": people.analyst.id, "admin": people.admin.id},
        ),
    )
    with pytest.raises(LoginFailed):
        totp.complete_login(
            fresh(db),
            user_id=people.admin.id,
            code=pyotp.TOTP(mine).at(now + dt.timedelta(seconds=30)),
            policy=LockoutPolicy(threshold=5, minutes=15),
            now=now + dt.timedelta(seconds=30),
            source="test",
            user_agent="",
        )


def test_a_group_mapping_approved_by_sql_gives_no_role(
    app: Flask, db: Session, people: People
) -> None:
    mapping = groups.create_mapping(
        db,
        source="campus",
        external_group="everyone",
        role="admin",
        organization_id=None,
        by=people.admin,
    )
    db.commit()
    as_the_dba(
        app,
        (
            "UPDATE group_mapping SET approved_at = created_at, approved_by = 'x' WHERE id = :id",
            {"id": mapping.id},
        ),
    )
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    changes = groups.apply_external_groups(
        db, actor_label="sso:campus", user=analyst, source="campus", groups=["everyone"]
    )
    db.commit()
    assert changes == []
    again = fresh(db).get(User, people.analyst.id)
    assert again is not None
    assert "admin" not in {r.value for r in again.role_set | again.broken_roles}
