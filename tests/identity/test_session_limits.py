"""Session hardening: an idle timeout and an absolute lifetime on the server-side sessions, and
re-authentication before the most sensitive actions (here the audit export; the approvals are
in the browser journey)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity.session_model import SessionEndReason, UserSession
from tests.conftest import Browser, fresh
from tests.identity.conftest import login_from
from tests.support import PASSWORD, People

EXPORT = "/audit/export?format=csv"


def signed_in(app: Flask, email: str) -> Browser:
    browser = Browser(app.test_client())
    assert login_from(browser.client, "192.0.2.40", email, PASSWORD).status_code == 302
    return browser


def age_sessions(db: Session, user_id: int, **moved: dt.timedelta) -> None:
    """Move the person's session times back, as if that much time had passed."""
    record = fresh(db).scalars(select(UserSession).where(UserSession.user_id == user_id)).one()
    values = {name: getattr(record, name) - delta for name, delta in moved.items()}
    db.execute(update(UserSession).where(UserSession.id == record.id).values(**values))
    db.commit()


def last(db: Session, kind: AuditType) -> AuditEvent:
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    return event


def ended_reason(db: Session, user_id: int) -> str | None:
    record = fresh(db).scalars(select(UserSession).where(UserSession.user_id == user_id)).one()
    return record.ended_reason


def test_a_session_unused_for_too_long_ends(app: Flask, db: Session, people: People) -> None:
    browser = signed_in(app, people.analyst.email)
    assert browser.get("/account/").status_code == 200
    age_sessions(db, people.analyst.id, last_seen_at=dt.timedelta(minutes=29))
    assert browser.get("/account/").status_code == 200
    age_sessions(db, people.analyst.id, last_seen_at=dt.timedelta(minutes=31))
    refused = browser.get("/account/")
    assert refused.status_code == 302
    assert "/login" in refused.headers["Location"]
    assert ended_reason(db, people.analyst.id) == SessionEndReason.IDLE_TIMEOUT
    assert last(db, AuditType.SESSION_TIMEOUT).detail["reason"] == "idle_timeout"


def test_a_session_ends_at_its_lifetime_however_busy(
    app: Flask, db: Session, people: People
) -> None:
    browser = signed_in(app, people.analyst.email)
    age_sessions(db, people.analyst.id, created_at=dt.timedelta(hours=12, minutes=1))
    assert browser.get("/account/").status_code == 302
    assert ended_reason(db, people.analyst.id) == SessionEndReason.LIFETIME_ENDED


def test_the_limits_come_from_the_settings(app: Flask, db: Session, people: People) -> None:
    app.config["SESSION_IDLE_MINUTES"] = 5
    browser = signed_in(app, people.analyst.email)
    age_sessions(db, people.analyst.id, last_seen_at=dt.timedelta(minutes=6))
    assert browser.get("/account/").status_code == 302


def test_exporting_the_audit_trail_asks_for_the_password_again(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: someone at the privacy officer's unlocked screen, an hour after sign-in,
    exports the audit trail."""
    browser = signed_in(app, people.privacy.email)
    assert browser.get(EXPORT).status_code == 200  # just signed in: a fresh proof
    age_sessions(db, people.privacy.id, authenticated_at=dt.timedelta(minutes=11))
    asked = browser.get(EXPORT)
    assert asked.status_code == 302
    assert "/account/reauthenticate" in asked.headers["Location"]
    wrong = browser.post(asked.headers["Location"], {"reauth-password": "not-my-password"})
    assert wrong.status_code == 200
    assert "not right" in wrong.get_data(as_text=True)
    assert last(db, AuditType.REAUTHENTICATE).outcome == "denied"
    assert browser.get(EXPORT).status_code == 302
    right = browser.post(asked.headers["Location"], {"reauth-password": PASSWORD})
    assert right.status_code == 302
    assert right.headers["Location"].endswith(EXPORT)
    assert last(db, AuditType.REAUTHENTICATE).outcome == "success"
    assert browser.get(EXPORT).status_code == 200


def test_the_reauthentication_page_sends_nobody_to_another_site(app: Flask, people: People) -> None:
    browser = signed_in(app, people.privacy.email)
    answer = browser.post(
        "/account/reauthenticate?next=https://evil.example/", {"reauth-password": PASSWORD}
    )
    assert answer.status_code == 302
    assert "evil.example" not in answer.headers["Location"]


def test_an_administrator_signs_a_person_out_everywhere(
    app: Flask, db: Session, people: People
) -> None:
    analyst = signed_in(app, people.analyst.email)
    admin = signed_in(app, people.admin.email)
    assert admin.post(f"/admin/users/{people.analyst.id}/sign-out").status_code == 302
    assert analyst.get("/account/").status_code == 302
    assert ended_reason(db, people.analyst.id) == SessionEndReason.ENDED_BY_ADMINISTRATOR
    assert last(db, AuditType.SESSIONS_END).actor_email == people.admin.email
