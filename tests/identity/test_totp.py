"""The second factor of local accounts: enrolment, login with a code, replay, recovery codes,
the lockout, and administrators sent to enrolment until they have one."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.identity import totp
from governance.identity.models import User
from governance.identity.second_factor_model import RecoveryCode, TotpCredential
from governance.identity.session_model import UserSession
from governance.kernel.errors import PermissionDenied
from tests.conftest import Browser, csrf_token, fresh
from tests.support import PASSWORD, People

EXPORT = "/audit/export?format=csv"


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


# The moment every code is made for and checked at, in the middle of a 30-second step. On the
# real clock a step could end between a test making "the previous step's code" and the server
# checking it, which then finds the code two steps old and refuses it.
MOMENT = dt.datetime(2026, 6, 1, 12, 0, 15, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _codes_checked_at_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    matching = totp._matching_step

    def at_the_moment(secret: str, code: str, now: dt.datetime, *, after: int | None) -> int | None:
        return matching(secret, code, MOMENT, after=after)

    monkeypatch.setattr(totp, "_matching_step", at_the_moment)


def code_at(secret: str, steps_from_now: int) -> str:
    return pyotp.TOTP(secret).at(int(MOMENT.timestamp()) + 30 * steps_from_now)


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


def age_sessions(db: Session, user_id: int, *, hours: int = 1) -> None:
    """Make the person's last proof of who they are `hours` old."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    fresh(db).execute(
        update(UserSession).where(UserSession.user_id == user_id).values(authenticated_at=then)
    )
    db.commit()


def sign_in_with_code(browser: Browser, email: str, secret: str, step: int) -> None:
    browser.login(email, PASSWORD)
    assert give_code(browser.client, code_at(secret, step)).status_code == 302
    assert signed_in(browser.client)


def test_a_stolen_session_cannot_turn_off_the_second_factor(
    client: FlaskClient, db: Session, people: People
) -> None:
    """Someone holding the analyst's session cookie an hour after sign-in, without the
    password and the phone, tries to strip the account's second factor and to mint recovery
    codes for themselves."""
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    secret, _old_codes = enrol(browser, step=-1)
    logout(client)
    sign_in_with_code(browser, people.analyst.email, secret, 0)
    age_sessions(db, people.analyst.id)
    for action in ("/account/two-factor/disable", "/account/two-factor/recovery-codes"):
        asked = browser.post(action)
        assert asked.status_code == 302, action
        assert "/account/reauthenticate" in asked.headers["Location"], action
    assert fresh(db).get(TotpCredential, people.analyst.id) is not None
    assert len(list(fresh(db).scalars(select(RecoveryCode)))) == 10
    assert events(db, AuditType.SECOND_FACTOR_DISABLE) == []
    assert events(db, AuditType.RECOVERY_CODES_REGENERATE) == []
    # The password alone is not enough to re-authenticate: the code is asked too.
    page = "/account/reauthenticate?next=/account/"
    assert "authenticator app is not right" in browser.post(
        page, {"reauth-password": PASSWORD}
    ).get_data(as_text=True)
    assert browser.post("/account/two-factor/disable").status_code == 302
    assert fresh(db).get(TotpCredential, people.analyst.id) is not None


def test_the_service_refuses_a_stale_session_too(
    client: FlaskClient, db: Session, people: People
) -> None:
    """Behind the page's guard, the rule holds in the service itself (another caller)."""
    browser = Browser(client)
    browser.login(people.steward.email, PASSWORD)
    enrol(browser)
    age_sessions(db, people.steward.id)
    session = fresh(db)
    user = session.get(User, people.steward.id)
    record = session.scalars(
        select(UserSession).where(UserSession.user_id == people.steward.id)
    ).first()
    assert user is not None
    assert record is not None
    window = dt.timedelta(minutes=15)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(PermissionDenied) as refused:
        totp.disable(
            session,
            user=user,
            record=record,
            max_age=window,
            administrators_must_keep=False,
            now=now,
        )
    assert refused.value.audit is not None
    assert refused.value.audit["detail"] == {"rule": "recent-authentication"}
    with pytest.raises(PermissionDenied):
        totp.regenerate_recovery_codes(session, user=user, record=None, max_age=window, now=now)
    session.rollback()
    assert fresh(db).get(TotpCredential, people.steward.id) is not None


def test_turn_off_the_second_factor_after_proving_who_one_is(
    client: FlaskClient, db: Session, people: People
) -> None:
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    secret, _codes = enrol(browser, step=-1)
    logout(client)
    sign_in_with_code(browser, people.analyst.email, secret, 0)
    account = client.get("/account/").get_data(as_text=True)
    assert "Second factor: on" in account
    assert "Turn off the second factor" in account
    age_sessions(db, people.analyst.id)
    page = "/account/reauthenticate?next=/account/"
    proved = browser.post(page, {"reauth-password": PASSWORD, "reauth-code": code_at(secret, 1)})
    assert proved.status_code == 302
    done = browser.post("/account/two-factor/disable")
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/account/")
    assert fresh(db).get(TotpCredential, people.analyst.id) is None
    assert list(fresh(db).scalars(select(RecoveryCode))) == []
    (off,) = events(db, AuditType.SECOND_FACTOR_DISABLE)
    assert off.actor_id == people.analyst.id
    assert off.detail["recovery_codes_dropped"] == 10
    assert "Second factor: off" in client.get("/account/").get_data(as_text=True)
    # The password alone signs in now.
    logout(client)
    answer = browser.login(people.analyst.email, PASSWORD)
    assert "second-factor" not in answer.headers.get("Location", "")
    assert signed_in(client)


def test_new_recovery_codes_replace_the_old_ones(
    client: FlaskClient, db: Session, people: People
) -> None:
    browser = Browser(client)
    browser.login(people.checker.email, PASSWORD)
    _secret, old = enrol(browser)
    answer = browser.post("/account/two-factor/recovery-codes")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "Your earlier recovery codes no longer work" in text
    new = re.findall(r"<li>([0-9a-f]{8}-[0-9a-f]{8})</li>", text)
    assert len(set(new)) == 10
    assert not set(new) & set(old)
    (issued,) = events(db, AuditType.RECOVERY_CODES_REGENERATE)
    assert issued.detail["unused_replaced"] == 10
    assert issued.detail["recovery_codes"] == 10
    logout(client)
    browser.login(people.checker.email, PASSWORD)
    assert give_code(client, old[0]).status_code == 200  # refused: an old code
    assert not signed_in(client)
    browser.login(people.checker.email, PASSWORD)
    assert give_code(client, new[0]).status_code == 302
    assert signed_in(client)


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

    def test_an_administrator_cannot_turn_off_their_second_factor(
        self, client: FlaskClient, db: Session, people: People
    ) -> None:
        browser = Browser(client)
        browser.login(people.admin.email, PASSWORD)
        enrol(browser)
        account = client.get("/account/").get_data(as_text=True)
        assert "Administrators must keep a second factor" in account
        assert "Turn off the second factor" not in account
        refused = browser.post("/account/two-factor/disable")
        assert refused.status_code == 403
        assert fresh(db).get(TotpCredential, people.admin.id) is not None
        (denied,) = events(db, AuditType.SECOND_FACTOR_DISABLE)
        assert denied.outcome == Outcome.DENIED
        assert denied.detail == {"rule": "administrators-keep-second-factor"}
        # New recovery codes stay open to them.
        assert browser.post("/account/two-factor/recovery-codes").status_code == 200
