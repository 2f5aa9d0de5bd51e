"""Personal API tokens: shown once, stored hashed, refused once expired or revoked or when
their holder is deactivated; created on the pages or from the command line."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.cli import context, main
from governance.identity import tokens, users
from governance.identity.token_model import ApiToken
from governance.kernel.errors import PermissionDenied, ValidationFailed
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.api.scenario import Api
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People


def make(db: Session, people: People, key: str = "analyst", **kwargs: object) -> str:
    values: dict[str, object] = {"name": "script", "days": None, "now": utcnow()}
    values.update(kwargs)
    user = getattr(people, key)
    secret = tokens.create_token(db, user_id=user.id, by=user, **values).secret  # type: ignore[arg-type]
    db.commit()
    return secret


def test_the_secret_is_stored_only_as_its_hash(db: Session, people: People) -> None:
    secret = make(db, people)
    token = fresh(db).scalars(select(ApiToken)).one()
    assert len(secret) >= 43
    assert token.prefix == secret[:8]
    assert token.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(token.__dict__)
    created = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.TOKEN_CREATE)
    ).one()
    assert created.detail["prefix"] == secret[:8]
    assert secret not in str(created.detail)


def test_lifetime_defaults_to_the_setting_and_may_be_shorter(
    app: Flask, db: Session, people: People
) -> None:
    now = utcnow()
    make(db, people, now=now)
    make(db, people, days=7, now=now)
    lifetimes = sorted((t.expires_at - now).days for t in fresh(db).scalars(select(ApiToken)))
    assert lifetimes == [7, app.config["API_TOKEN_DAYS"]]
    for days in (0, app.config["API_TOKEN_DAYS"] + 1):
        with pytest.raises(ValidationFailed) as refused:
            make(db, people, days=days)
        assert "days" in refused.value.fields
        db.rollback()


def test_nobody_creates_a_token_for_someone_else(db: Session, people: People) -> None:
    with pytest.raises(PermissionDenied):
        tokens.create_token(
            db, user_id=people.analyst.id, name="x", days=None, by=people.admin, now=utcnow()
        )


def test_authenticate_refuses_expired_and_revoked(db: Session, people: People) -> None:
    now = utcnow()
    secret = make(db, people, days=1, now=now)
    assert tokens.authenticate(db, secret, now) is not None
    assert tokens.authenticate(db, secret + "x", now) is None
    assert tokens.authenticate(db, "", now) is None
    assert tokens.authenticate(db, secret, now + dt.timedelta(days=1)) is None
    other = make(db, people, now=now)
    token = tokens.authenticate(db, other, now)
    assert token is not None
    tokens.revoke_token(db, token_id=token.id, by=people.analyst, now=now)
    db.commit()
    assert tokens.authenticate(db, other, now) is None


def test_a_revoked_token_stops_working_on_its_next_request(
    app: Flask, db: Session, people: People
) -> None:
    api = Api(app.test_client(), make(db, people))
    me = api.get("/api/v1/me").get_json()
    assert api.get("/api/v1/me").status_code == 200
    revoked = api.post(f"/api/v1/tokens/{me['token']['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "revoked"
    refused = api.get("/api/v1/me")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert refused.get_json()["status"] == 401


def test_an_expired_token_is_refused(app: Flask, db: Session, people: People) -> None:
    api = Api(app.test_client(), make(db, people))
    assert api.get("/api/v1/me").status_code == 200
    token = fresh(db).scalars(select(ApiToken)).one()
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.commit()
    assert api.get("/api/v1/me").status_code == 401


def test_a_deactivated_persons_session_and_token_stop_on_their_next_request(
    app: Flask, db: Session, people: People, browser: Browser
) -> None:
    api = Api(app.test_client(), make(db, people))
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get("/agreements/").status_code == 200
    assert api.get("/api/v1/me").status_code == 200
    users.set_active(fresh(db), user_id=people.analyst.id, active=False, by=SETUP)
    db.commit()
    page = browser.get("/agreements/")
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]
    assert api.get("/api/v1/me").status_code == 401


def test_a_token_of_a_deactivated_person_stays_dead_after_reactivation(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: a token copied before its holder left works again the day the account is
    reactivated. Deactivation revokes tokens (not pauses them), recorded as revoked."""
    api = Api(app.test_client(), make(db, people))
    assert api.get("/api/v1/me").status_code == 200
    users.set_active(fresh(db), user_id=people.analyst.id, active=False, by=SETUP)
    db.commit()
    users.set_active(fresh(db), user_id=people.analyst.id, active=True, by=SETUP)
    db.commit()
    assert api.get("/api/v1/me").status_code == 401
    token = fresh(db).scalars(select(ApiToken)).one()
    assert token.revoked_at is not None
    assert token.status(utcnow()) == "revoked"
    revoked = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.TOKEN_REVOKE)
    ).one()
    assert revoked.target_id == str(token.id)
    assert revoked.detail["reason"] == "holder deactivated"
    deactivation = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.USER_DEACTIVATE)
    ).one()
    assert deactivation.detail["tokens_revoked"] == [token.prefix]


def test_the_api_accepts_no_session_cookie_and_sets_none(
    app: Flask, people: People, browser: Browser
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    answer = browser.get("/api/v1/me")
    assert answer.status_code == 401
    assert browser.get("/api/v1/agreements").status_code == 401
    assert "Set-Cookie" not in answer.headers
    assert (
        app.test_client().get("/api/v1/me", headers={"Authorization": "Basic YTpi"}).status_code
        == 401
    )


def test_the_page_shows_the_secret_once(
    app: Flask, db: Session, people: People, browser: Browser
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    created = browser.post("/tokens/", {"name": "nightly export", "days": "30"})
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    assert "shown only this once" in html
    token = fresh(db).scalars(select(ApiToken)).one()
    secret = html.split('id="token-secret">')[1].split("<")[0]
    assert hashlib.sha256(secret.encode()).hexdigest() == token.secret_sha256
    assert created.headers["Cache-Control"] == "no-store"
    listing = browser.get("/tokens/").get_data(as_text=True)
    assert token.prefix in listing
    assert secret not in listing
    assert Api(app.test_client(), secret).get("/api/v1/me").status_code == 200
    revoked = browser.post(f"/tokens/{token.id}/revoke")
    assert revoked.status_code == 302
    assert Api(app.test_client(), secret).get("/api/v1/me").status_code == 401


def test_only_the_holder_or_an_administrator_revokes(
    app: Flask, db: Session, people: People, browser: Browser
) -> None:
    make(db, people)
    token = fresh(db).scalars(select(ApiToken)).one()
    browser.login(people.analyst2.email, PASSWORD)
    assert browser.post(f"/tokens/{token.id}/revoke").status_code == 403
    refusal = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.TOKEN_REVOKE))
        .one()
    )
    assert refusal.outcome == "denied"
    assert refusal.actor_email == people.analyst2.email
    admin = Browser(app.test_client())
    admin.login(people.admin.email, PASSWORD)
    assert token.prefix in admin.get("/tokens/").get_data(as_text=True)
    assert admin.post(f"/tokens/{token.id}/revoke").status_code == 302
    assert fresh(db).get(ApiToken, token.id).revoked_at is not None  # type: ignore[union-attr]


@pytest.fixture
def cli(app: Flask, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    from governance.identity import cli as token_commands

    built: list[Flask] = []

    def build_and_remember() -> Flask:
        built.append(context.build_app())
        return built[-1]

    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    monkeypatch.setattr(token_commands, "build_app", build_and_remember)
    yield CliRunner()
    for application in built:
        database(application).dispose()


def test_the_command_line_prints_the_secret_once(
    app: Flask, cli: CliRunner, db: Session, people: People
) -> None:
    result = cli.invoke(
        main,
        [
            "token",
            "create",
            "--user",
            people.compliance.email,
            "--name",
            "audit export",
            "--days",
            "14",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert "only time the secret is shown" in result.stderr
    answer = Api(app.test_client(), secret).get("/api/v1/me")
    assert answer.get_json()["email"] == people.compliance.email
    token = fresh(db).scalars(select(ApiToken)).one()
    assert token.name == "audit export"
    assert (token.expires_at - token.created_at).days == 14
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.TOKEN_CREATE)
    ).one()
    assert event.actor_email == "system:cli"
    unknown = cli.invoke(main, ["token", "create", "--user", "nobody@test.example"])
    assert unknown.exit_code != 0
    assert "no account" in unknown.output


def test_the_command_line_lists_and_revokes_tokens(
    app: Flask, cli: CliRunner, db: Session, people: People
) -> None:
    created = cli.invoke(
        main,
        ["token", "create", "--user", people.compliance.email, "--name", "nightly export"],
        catch_exceptions=False,
    )
    secret = created.stdout.strip()
    token = fresh(db).scalars(select(ApiToken)).one()
    listed = cli.invoke(main, ["token", "list"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert f"{token.prefix}…" in listed.output
    assert people.compliance.email in listed.output
    assert "nightly export" in listed.output
    assert "usable" in listed.output
    revoked = cli.invoke(main, ["token", "revoke", str(token.id)], catch_exceptions=False)
    assert revoked.exit_code == 0, revoked.output
    assert f"Revoked token {token.prefix}…" in revoked.output
    assert Api(app.test_client(), secret).get("/api/v1/me").status_code == 401
    assert cli.invoke(main, ["token", "list"]).output.strip() == "No tokens."
    mine = cli.invoke(main, ["token", "list", "--user", people.compliance.email])
    assert "revoked" in mine.output
    again = cli.invoke(main, ["token", "revoke", str(token.id)])
    assert again.exit_code == 1
    assert "already revoked" in again.output
    assert (
        cli.invoke(main, ["token", "revoke", "999"])
        .output.strip()
        .endswith("There is no token 999.")
    )
