"""An administrator switches local passwords off per organisation: its people are refused at
login with a clear message (only once the password matched), administrators keep the
break-glass path, and a steward cannot change the setting."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity import sessions
from governance.identity.organization_model import Organization
from governance.identity.session_model import SessionEndReason, UserSession
from governance.kernel.types import utcnow
from tests.conftest import Browser, fresh
from tests.identity.conftest import login_from
from tests.support import PASSWORD, People


def signed_in(app: Flask, email: str) -> Browser:
    browser = Browser(app.test_client())
    assert login_from(browser.client, "192.0.2.50", email, PASSWORD).status_code == 302
    return browser


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


def test_local_passwords_off_refuses_the_organisations_people_but_not_administrators(
    app: Flask, db: Session, people: People
) -> None:
    admin = signed_in(app, people.admin.email)
    switched = admin.post(f"/admin/identity/sign-in/{people.lab.id}", {"local_passwords": "off"})
    assert switched.status_code == 302
    lab = fresh(db).get(Organization, people.lab.id)
    assert lab is not None
    assert lab.local_passwords is False
    assert last(db, AuditType.ORGANIZATION_LOCAL_PASSWORDS).detail["after"] is False

    refused = login_from(app.test_client(), "192.0.2.51", people.analyst.email, PASSWORD)
    assert refused.status_code == 200
    assert "local passwords are switched off" in refused.get_data(as_text=True)
    assert last(db, AuditType.LOGIN_FAILED).outcome == "denied"
    # A wrong password gets the usual answer: the setting is told only to who knows it.
    wrong = login_from(app.test_client(), "192.0.2.52", people.analyst.email, "wrong-password1")
    assert "switched off" not in wrong.get_data(as_text=True)

    signed_in(app, people.admin.email)  # break-glass
    assert last(db, AuditType.LOGIN).detail["break_glass"] is True

    admin.post(f"/admin/identity/sign-in/{people.lab.id}", {"local_passwords": "on"})
    signed_in(app, people.analyst.email)


def test_a_steward_cannot_switch_local_passwords_off(
    app: Flask, db: Session, people: People
) -> None:
    steward = signed_in(app, people.steward.email)
    refused = steward.post(f"/admin/identity/sign-in/{people.lab.id}", {"local_passwords": "off"})
    assert refused.status_code == 403
    lab = fresh(db).get(Organization, people.lab.id)
    assert lab is not None
    assert lab.local_passwords is True
    assert last(db, AuditType.ORGANIZATION_LOCAL_PASSWORDS).outcome == "denied"


def test_switching_local_passwords_off_ends_the_password_sessions_already_open(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: an analyst (or whoever stole their session) signed in with the password a
    minute before the organisation moved to its identity provider keeps working for the
    session's whole lifetime. Switching off ends every password session of the organisation's
    people in the same transaction; single sign-on sessions and the administrators' own
    (the break-glass path) go on."""
    analyst = signed_in(app, people.analyst.email)
    signed_in(app, people.partner.email)  # of another organisation
    admin = signed_in(app, people.admin.email)
    sessions.start_session(
        db,
        user=people.analyst,
        now=utcnow(),
        client_address="192.0.2.60",
        user_agent="test",
        method="oidc:institution",
    )
    db.commit()

    switched = admin.post(f"/admin/identity/sign-in/{people.lab.id}", {"local_passwords": "off"})
    assert switched.status_code == 302

    assert analyst.client.get("/agreements/").status_code == 302
    assert "/login" in analyst.client.get("/agreements/").headers["Location"]
    assert admin.client.get("/agreements/").status_code == 200
    assert (
        fresh(db)
        .scalars(select(UserSession.ended_at).where(UserSession.user_id == people.partner.id))
        .one()
        is None
    )
    ended = fresh(db).scalars(select(UserSession).where(UserSession.user_id == people.analyst.id))
    by_method = {record.method: record.ended_reason for record in ended}
    assert by_method == {
        "password": SessionEndReason.LOCAL_PASSWORDS_OFF,
        "oidc:institution": None,
    }
    assert last(db, AuditType.ORGANIZATION_LOCAL_PASSWORDS).detail["sessions_ended"] >= 1
