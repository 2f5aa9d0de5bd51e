"""Logging in and out, lockout, deactivation and CSRF, as a person using the site sees them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.models import User
from tests.conftest import Browser, csrf_token, fresh
from tests.support import PASSWORD, SETUP, People

FAILURE_TEXT = "do not match an active account"


def audit_types(db: Session) -> list[str]:
    fresh(db)
    return [e.event_type for e in db.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_login_lands_on_the_role_dashboard(browser: Browser, people: People, db: Session) -> None:
    response = browser.login(people.analyst.email, PASSWORD)
    assert response.status_code == 302
    page = browser.get("/", follow_redirects=True)
    assert page.request.path == "/dashboard/analyst"
    assert "Analyst dashboard" in page.get_data(as_text=True)
    assert audit_types(db)[-1] == AuditType.LOGIN


def test_wrong_password_and_unknown_user_get_the_same_message(
    browser: Browser, people: People, db: Session
) -> None:
    wrong = browser.login(people.analyst.email, "not the password at all")
    unknown = browser.login("nobody@test.example", "not the password at all")
    assert FAILURE_TEXT in wrong.get_data(as_text=True)
    assert FAILURE_TEXT in unknown.get_data(as_text=True)

    # CSRF tokens carry a timestamp in seconds, so two pages differ in them across a second.
    def strip(page: Any) -> str:
        return re.sub(
            r'(csrf-token" content|csrf_token" value)="[^"]*"', "", page.get_data(as_text=True)
        )

    assert strip(wrong).replace(people.analyst.email, "") == strip(unknown).replace(
        "nobody@test.example", ""
    )
    assert browser.get("/").status_code == 302
    assert audit_types(db)[-2:] == [AuditType.LOGIN_FAILED, AuditType.LOGIN_FAILED]


def fail_from(browser: Browser, address: str, email: str, times: int = 1) -> list[int]:
    """Failed logins as if from another machine (another client address)."""
    statuses = []
    for _ in range(times):
        statuses.append(
            browser.client.post(
                "/login",
                data={
                    "email": email,
                    "password": "wrong password here",
                    "csrf_token": csrf_token(browser.client),
                },
                environ_base={"REMOTE_ADDR": address},
            ).status_code
        )
    return statuses


def test_five_failures_lock_the_account_for_fifteen_minutes(
    browser: Browser, people: People, db: Session
) -> None:
    # One address meets the throttle after four failures (tests/identity/test_throttle.py);
    # the fifth failure, from a second address, locks the account.
    assert fail_from(browser, "198.51.100.1", people.analyst.email, 4) == [200] * 4
    assert fail_from(browser, "198.51.100.2", people.analyst.email) == [200]
    assert AuditType.LOCKOUT in audit_types(db)
    locked = browser.login(people.analyst.email, PASSWORD)
    assert FAILURE_TEXT in locked.get_data(as_text=True)
    fresh(db)
    user = db.get(User, people.analyst.id)
    assert user is not None
    assert user.locked_until is not None
    remaining = user.locked_until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)


def test_lockout_expires(browser: Browser, people: People, db: Session) -> None:
    fail_from(browser, "198.51.100.1", people.analyst.email, 4)
    fail_from(browser, "198.51.100.2", people.analyst.email)
    user = db.get(User, people.analyst.id)
    assert user is not None
    user.locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.commit()
    assert browser.login(people.analyst.email, PASSWORD).status_code == 302


def test_four_failures_do_not_lock(browser: Browser, people: People, db: Session) -> None:
    fail_from(browser, "198.51.100.1", people.analyst.email, 4)
    assert fresh(db).get(User, people.analyst.id).locked_until is None  # type: ignore[union-attr]
    assert browser.login(people.analyst.email, PASSWORD).status_code == 302


def test_failures_further_apart_than_the_lockout_period_do_not_add_up(
    browser: Browser, people: People, db: Session
) -> None:
    fail_from(browser, "198.51.100.1", people.analyst.email, 4)
    user = fresh(db).get(User, people.analyst.id)
    assert user is not None
    assert user.failed_login_since is not None
    user.failed_login_since -= dt.timedelta(minutes=15)
    db.commit()
    fail_from(browser, "198.51.100.2", people.analyst.email)
    user = fresh(db).get(User, people.analyst.id)
    assert user is not None
    assert user.locked_until is None
    assert user.failed_login_count == 1


def test_deactivated_user_cannot_log_in(browser: Browser, people: People, db: Session) -> None:
    users.set_active(db, user_id=people.analyst.id, active=False, by=SETUP)
    db.commit()
    page = browser.login(people.analyst.email, PASSWORD)
    assert FAILURE_TEXT in page.get_data(as_text=True)


def test_deactivation_ends_an_existing_session_on_its_next_request(
    browser: Browser, people: People, db: Session
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get("/dashboard/analyst").status_code == 200
    users.set_active(db, user_id=people.analyst.id, active=False, by=SETUP)
    db.commit()
    response = browser.get("/dashboard/analyst")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_logout_ends_the_session(browser: Browser, people: People, db: Session) -> None:
    browser.login(people.analyst.email, PASSWORD)
    assert browser.post("/logout").status_code == 302
    assert browser.get("/dashboard/analyst").status_code == 302
    assert audit_types(db)[-1] == AuditType.LOGOUT


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_forms_without_a_valid_csrf_token_are_refused(
    browser: Browser, people: People, token: str | None
) -> None:
    data = {"email": people.analyst.email, "password": PASSWORD}
    if token:
        data["csrf_token"] = token
    response = browser.client.post("/login", data=data)
    assert response.status_code == 400
    assert "not sent from this site" in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(browser: Browser, people: People) -> None:
    response = browser.login(people.analyst.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_next_parameter_cannot_send_people_off_site(browser: Browser, people: People) -> None:
    response = browser.client.post(
        "/login?next=https://evil.example/",
        data={
            "email": people.analyst.email,
            "password": PASSWORD,
            "csrf_token": csrf_token(browser.client),
        },
    )
    assert response.headers["Location"] == "/"


def test_each_role_reaches_its_own_dashboard(app: Flask, people: People) -> None:
    for key in ("admin", "privacy", "steward", "compliance", "analyst", "checker", "partner"):
        client = app.test_client()
        browser = Browser(client)
        browser.login(getattr(people, key).email, PASSWORD)
        landing = client.get("/", follow_redirects=True)
        assert landing.status_code == 200, key
        assert landing.request.path.startswith("/dashboard/"), key
