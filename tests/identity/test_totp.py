"""The second factor of local accounts: enrolment, login with a code, replay, recovery codes,
the lockout, and administrators sent to enrolment until they have one."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import User
from governance.identity.second_factor_model import RecoveryCode, TotpCredential
from governance.identity.session_model import UserSession
from tests.conftest import Browser, csrf_token, fresh
from tests.support import PASSWORD, People

EXPORT = "/audit/export?format=csv"


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


def code_at(secret: str, steps_from_now: int) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * steps_from_now)


def enrol(browser: Browser, step: int = 0) -> tuple[str, list[str]]:
    """Set up the app as a person would: start, read the key, type the current code."""
    page = browser.get("/account/two-factor").get_data(as_text=True)
    assert "Set up an authenticator app" in page
    browser.post("/account/two-factor/start")
    page = browser.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret, page
    assert 'src="data:image/svg+xml' in page
    done = browser.post("/account/two-factor/confirm", {"code": code_at(secret.group(1), step)})
    codes = re.findall(r"<li>([0-9a-f]{8}-[0-9a-f]{8})</li>", done.get_data(as_text=True))
    return secret.group(1), codes


def logout(client: FlaskClient) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})


def give_code(client: FlaskClient, code: str) -> Any:
    return client.post(
        "/login/second-factor",
        data={"code": code, "csrf_token": csrf_token(client, "/login/second-factor")},
    )


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account/").status_code == 200


def test_enrol_then_log_in_with_a_code_once(
    client: FlaskClient, db: Session, people: People
) -> None:
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    secret, codes = enrol(browser)
    assert len(set(codes)) == 10
    credential = fresh(db).get(TotpCredential, people.analyst.id)
    assert credential is not None
    assert credential.confirmed_at is not None
    assert secret.encode() not in credential.sealed_secret  # sealed, not stored as typed
    stored = [r.code_hash for r in db.scalars(select(RecoveryCode))]
    assert len(stored) == 10
    assert not any(code in h for code in codes for h in stored)
    (enrolled,) = events(db, AuditType.SECOND_FACTOR_ENROL)
    assert enrolled.actor_email == people.analyst.email

    logout(client)
    answer = browser.login(people.analyst.email, PASSWORD)
    assert answer.headers["Location"].endswith("/login/second-factor")
    assert not signed_in(client)  # the password alone opens nothing
    next_code = code_at(secret, 1)
    assert give_code(client, next_code).status_code == 302
    assert signed_in(client)
    login = events(db, AuditType.LOGIN)[-1]
    assert login.detail["second_factor"] == "totp"

    # The same code, read over a shoulder, does not work again; nor does an older one.
    logout(client)
    browser.login(people.analyst.email, PASSWORD)
    for replayed in (next_code, code_at(secret, 0)):
        assert give_code(client, replayed).status_code == 200
        assert not signed_in(client)
    failures = [e.detail["reason"] for e in events(db, AuditType.LOGIN_FAILED)]
    assert failures == ["wrong second factor"] * 2


def test_a_recovery_code_works_once(client: FlaskClient, db: Session, people: People) -> None:
    browser = Browser(client)
    browser.login(people.steward.email, PASSWORD)
    _secret, codes = enrol(browser)
    logout(client)
    browser.login(people.steward.email, PASSWORD)
    assert give_code(client, codes[3]).status_code == 302
    assert signed_in(client)
    (used,) = events(db, AuditType.RECOVERY_CODE_USE)
    assert used.detail["left"] == 9
    logout(client)
    browser.login(people.steward.email, PASSWORD)
    assert give_code(client, codes[3]).status_code == 200
    assert not signed_in(client)


def test_wrong_codes_lock_the_account_like_wrong_passwords(
    client: FlaskClient, db: Session, people: People
) -> None:
    browser = Browser(client)
    browser.login(people.checker.email, PASSWORD)
    secret, _codes = enrol(browser)
    logout(client)
    browser.login(people.checker.email, PASSWORD)
    for attempt in range(5):
        give_code(client, f"00000{attempt}")
    checker = fresh(db).get(User, people.checker.id)
    assert checker is not None
    assert checker.locked_until is not None
    assert len(events(db, AuditType.LOCKOUT)) == 1
    # Locked: the right password and the right code no longer open it.
    browser.login(people.checker.email, PASSWORD)
    give_code(client, code_at(secret, 1))
    assert not signed_in(client)


def test_retyping_the_password_buys_no_more_guesses(
    client: FlaskClient, db: Session, people: People
) -> None:
    browser = Browser(client)
    browser.login(people.compliance.email, PASSWORD)
    enrol(browser)
    logout(client)
    for attempt in range(5):
        browser.login(people.compliance.email, PASSWORD)
        give_code(client, f"99999{attempt}")
    compliance = fresh(db).get(User, people.compliance.id)
    assert compliance is not None
    assert compliance.locked_until is not None


def test_the_second_step_needs_the_first(client: FlaskClient, people: People) -> None:
    answer = client.post("/login/second-factor", data={"code": "123456"})
    assert answer.status_code in (302, 400)
    page = client.get("/login/second-factor")
    assert page.status_code == 302
    assert page.headers["Location"].endswith("/login")


def test_re_authentication_asks_for_a_code_too(
    client: FlaskClient, db: Session, people: People
) -> None:
    """Someone at the privacy officer's unlocked screen who knows the password, an hour after
    sign-in, exports the audit trail."""
    browser = Browser(client)
    browser.login(people.privacy.email, PASSWORD)
    # The previous step's code enrols, the current one logs in, the next re-authenticates.
    secret, _codes = enrol(browser, step=-1)
    logout(client)
    browser.login(people.privacy.email, PASSWORD)
    give_code(client, code_at(secret, 0))
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    fresh(db).execute(
        update(UserSession)
        .where(UserSession.user_id == people.privacy.id)
        .values(authenticated_at=an_hour_ago)
    )
    db.commit()
    asked = client.get(EXPORT)
    assert "/account/reauthenticate" in asked.headers["Location"]
    assert 'name="reauth-code"' in client.get(asked.headers["Location"]).get_data(as_text=True)
    password_only = browser.post(asked.headers["Location"], {"reauth-password": PASSWORD})
    assert "authenticator app is not right" in password_only.get_data(as_text=True)
    assert client.get(EXPORT).status_code == 302
    both = browser.post(
        asked.headers["Location"],
        {"reauth-password": PASSWORD, "reauth-code": code_at(secret, 1)},
    )
    assert both.status_code == 302
    assert client.get(EXPORT).status_code == 200


class TestAdministrators:
    @pytest.fixture
    def app_config(self, database_url: str) -> dict[str, Any]:
        return {"TESTING": True, "DATABASE_URL": database_url, "ADMIN_SECOND_FACTOR_REQUIRED": True}

    def test_an_administrator_is_sent_to_enrolment_until_they_enrol(
        self, client: FlaskClient, people: People
    ) -> None:
        browser = Browser(client)
        browser.login(people.admin.email, PASSWORD)
        for page in ("/", "/admin/users", "/account/"):
            answer = client.get(page)
            assert answer.status_code == 302, page
            assert answer.headers["Location"].endswith("/account/two-factor")
        assert "Administrators must set up" in client.get("/account/two-factor").get_data(
            as_text=True
        )
        enrol(browser)
        assert client.get("/admin/users").status_code == 200

    def test_other_roles_are_not_forced(self, client: FlaskClient, people: People) -> None:
        Browser(client).login(people.analyst.email, PASSWORD)
        assert client.get("/account/").status_code == 200
