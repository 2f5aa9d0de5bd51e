"""Changing a password, and the reset an administrator starts without ever knowing the new
one: a single-use, expiring link e-mailed to the person, stored only as a hash."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity.account_link_model import AccountLink, LinkPurpose
from governance.identity.models import User
from governance.identity.session_model import SessionEndReason, UserSession
from tests.conftest import Browser, fresh
from tests.identity.conftest import Inbox, login_from, mail_settings
from tests.support import PASSWORD, People

NEW_PASSWORD = "a brand new passphrase 2026"


@pytest.fixture
def app_config(database_url: str, smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {"TESTING": True, "DATABASE_URL": database_url, **mail_settings(smtp)}


def signed_in(
    app: Flask, email: str, password: str = PASSWORD, address: str = "192.0.2.10"
) -> Browser:
    client = app.test_client()
    assert login_from(client, address, email, password).status_code == 302
    return Browser(client)


def is_signed_in(client: FlaskClient) -> bool:
    return client.get("/agreements/").status_code == 200


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


def change(
    browser: Browser, current: str, new: str = NEW_PASSWORD, confirm: str | None = None
) -> Any:
    return browser.post(
        "/account/password",
        {
            "change-current_password": current,
            "change-new_password": new,
            "change-confirm_password": new if confirm is None else confirm,
        },
    )


def can_log_in(app: Flask, email: str, password: str) -> bool:
    return login_from(app.test_client(), "192.0.2.99", email, password).status_code == 302


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    app: Flask, people: People, db: Session, inbox: Inbox
) -> None:
    here = signed_in(app, people.analyst.email)
    elsewhere = signed_in(app, people.analyst.email, address="192.0.2.20")
    wrong = change(here, "not my password at all")
    assert wrong.status_code == 422
    assert "current password is not right" in wrong.get_data(as_text=True)
    refused = events(db, AuditType.PASSWORD_CHANGE)
    assert [(e.outcome, e.actor_id) for e in refused] == [("failure", people.analyst.id)]
    assert is_signed_in(elsewhere.client)
    assert change(here, PASSWORD, confirm="something else entirely").status_code == 422
    assert change(here, PASSWORD, new="short").status_code == 422
    assert change(here, PASSWORD).status_code == 302
    assert is_signed_in(here.client)
    assert not is_signed_in(elsewhere.client)
    assert can_log_in(app, people.analyst.email, NEW_PASSWORD)
    assert not can_log_in(app, people.analyst.email, PASSWORD)
    done = events(db, AuditType.PASSWORD_CHANGE)[-1]
    assert (done.outcome, done.detail) == ("success", {"other_sessions_ended": 1})
    assert [s for s, _ in inbox.to(people.analyst.email)] == ["Your password was changed"]
    ended = (
        fresh(db)
        .scalars(select(UserSession.ended_reason).where(UserSession.ended_at.is_not(None)))
        .all()
    )
    assert ended == [SessionEndReason.PASSWORD_CHANGED]


def test_a_session_left_open_cannot_be_used_to_guess_the_password(
    app: Flask, people: People, db: Session
) -> None:
    """Attack: someone at a machine left signed in tries passwords on the change form."""
    here = signed_in(app, people.analyst.email)
    for _ in range(app.config["LOCKOUT_THRESHOLD"] - 1):
        assert change(here, "a guess at the password").status_code == 422
    throttled = change(here, PASSWORD)
    assert throttled.status_code == 429
    assert "Too many" in throttled.get_data(as_text=True)
    assert not can_log_in(app, people.analyst.email, NEW_PASSWORD)


def test_an_administrator_resets_a_password_without_ever_knowing_it(
    app: Flask, people: People, db: Session, inbox: Inbox
) -> None:
    analyst = signed_in(app, people.analyst.email)
    admin = signed_in(app, people.admin.email)
    answer = admin.post(f"/admin/users/{people.analyst.id}/reset-link", follow_redirects=True)
    assert answer.status_code == 200
    link = inbox.link(people.analyst.email, "reset")
    secret = link.rsplit("/", 1)[1]
    # The administrator's pages, the table and the audit trail never hold the secret.
    assert secret not in answer.get_data(as_text=True)
    stored = fresh(db).scalars(select(AccountLink)).one()
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.requested_by == people.admin.email
    assert all(secret not in str(e.detail) for e in events(db, AuditType.PASSWORD_RESET_LINK))
    assert is_signed_in(analyst.client)  # asking for a reset changes nothing yet

    person = app.test_client()
    form = person.get(link)
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert people.analyst.email in form.get_data(as_text=True)
    assert (
        Browser(person)
        .post(link, {"new_password": NEW_PASSWORD, "confirm_password": "different"})
        .status_code
        == 422
    )
    done = Browser(person).post(
        link, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert "/login" in done.headers["Location"]
    assert not is_signed_in(analyst.client)
    assert can_log_in(app, people.analyst.email, NEW_PASSWORD)
    assert person.get(link).status_code == 404  # once only
    reset = events(db, AuditType.PASSWORD_RESET)[-1]
    assert (reset.actor_id, reset.detail["requested_by"]) == (people.analyst.id, people.admin.email)
    assert reset.detail["sessions_ended"] == 1


def test_reset_links_expire_are_replaced_and_need_the_permission(
    app: Flask, people: People, db: Session, inbox: Inbox
) -> None:
    steward = signed_in(app, people.steward.email)
    assert steward.post(f"/admin/users/{people.analyst.id}/reset-link").status_code == 403
    assert [e.outcome for e in events(db, AuditType.PASSWORD_RESET_LINK)] == ["denied"]
    admin = signed_in(app, people.admin.email)
    admin.post(f"/admin/users/{people.analyst.id}/reset-link")
    first = inbox.link(people.analyst.email, "reset")
    admin.post(f"/admin/users/{people.analyst.id}/reset-link")
    second = inbox.link(people.analyst.email, "reset")
    client = app.test_client()
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    link = fresh(db).scalars(select(AccountLink).where(AccountLink.closed_at.is_(None))).one()
    assert link.expires_at - link.created_at == dt.timedelta(hours=24)
    link.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.commit()
    assert client.get(second).status_code == 404
    assert client.get("/reset/not-a-real-link").status_code == 404


def test_a_reset_unlocks_a_locked_account(
    app: Flask, people: People, db: Session, inbox: Inbox
) -> None:
    user = fresh(db).get(User, people.analyst.id)
    assert user is not None
    user.locked_until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    db.commit()
    signed_in(app, people.admin.email).post(f"/admin/users/{people.analyst.id}/reset-link")
    link = inbox.link(people.analyst.email, "reset")
    Browser(app.test_client()).post(
        link, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert can_log_in(app, people.analyst.email, NEW_PASSWORD)


def test_a_deactivated_person_gets_no_reset_link_and_loses_an_open_one(
    app: Flask, people: People, db: Session, inbox: Inbox
) -> None:
    admin = signed_in(app, people.admin.email)
    admin.post(f"/admin/users/{people.analyst.id}/reset-link")
    link = inbox.link(people.analyst.email, "reset")
    admin.post(f"/admin/users/{people.analyst.id}/active")
    assert app.test_client().get(link).status_code == 404
    assert admin.post(f"/admin/users/{people.analyst.id}/reset-link").status_code == 409
    assert fresh(db).scalars(select(AccountLink.closed_reason)).one() == "deactivated"
    assert fresh(db).scalars(select(AccountLink.purpose)).one() == LinkPurpose.PASSWORD_RESET
