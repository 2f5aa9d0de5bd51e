"""Sessions live on the server: logging out, signing out everywhere, deactivation and a change
of roles end them at once, for every copy of the cookie; each page costs one lookup."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.session_model import SessionEndReason, UserSession
from governance.kernel.extensions import SESSION_KEY, database
from tests.conftest import Browser, fresh
from tests.identity.conftest import cookie_content, login_from
from tests.support import PASSWORD, SETUP, People


def signed_in(app: Flask, email: str, address: str = "192.0.2.10") -> FlaskClient:
    client = app.test_client()
    assert login_from(client, address, email, PASSWORD).status_code == 302
    return client


def is_signed_in(client: FlaskClient, path: str = "/agreements/") -> bool:
    response = client.get(path)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200, response.status_code
    return True


def last_event(db: Session, kind: AuditType) -> AuditEvent:
    found = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert found is not None, f"no {kind} event"
    return found


def test_a_cookie_copied_before_logout_is_refused_after_it(
    app: Flask, people: People, db: Session
) -> None:
    """Attack: copy the session cookie (a shared machine, a proxy log), wait for the person to
    log out, then use the copy. The session ended on the server, so the copy is worthless."""
    victim = signed_in(app, people.analyst.email)
    stolen = victim.get_cookie("session")
    assert stolen is not None
    assert Browser(victim).post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen.value)
    assert not is_signed_in(thief)
    assert not is_signed_in(thief, "/dashboard/analyst")
    record = fresh(db).scalars(select(UserSession)).one()
    assert record.ended_reason == SessionEndReason.LOGOUT
    assert last_event(db, AuditType.LOGOUT).detail["session"] == record.id


def test_only_the_secrets_digest_is_stored_with_who_where_and_when(
    app: Flask, people: People, db: Session
) -> None:
    client = app.test_client()
    login_from(
        client,
        "192.0.2.77",
        people.analyst.email,
        PASSWORD,
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    )
    secret = cookie_content(app, client)[SESSION_KEY]
    record = fresh(db).scalars(select(UserSession)).one()
    assert record.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {record.secret_sha256, record.user_agent, record.client_address}
    assert (record.user_id, record.client_address) == (people.analyst.id, "192.0.2.77")
    assert record.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    assert record.method == "password"
    assert record.created_at == record.authenticated_at == record.last_seen_at
    assert record.ended_at is None
    assert last_event(db, AuditType.LOGIN).detail["session"] == record.id


def test_a_forged_or_old_cookie_without_a_session_signs_nobody_in(
    app: Flask, people: People
) -> None:
    """A cookie that names the person but no live session (as every cookie signed before
    server-side sessions did) is refused."""
    client = signed_in(app, people.analyst.email)
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = "made-up"
    assert not is_signed_in(client)
    with client.session_transaction() as cookie:
        cookie.pop(SESSION_KEY)
    assert not is_signed_in(client)


def test_a_session_cannot_be_moved_to_another_person(app: Flask, people: People) -> None:
    analyst = signed_in(app, people.analyst.email)
    with analyst.session_transaction() as cookie:
        cookie["_user_id"] = str(people.privacy.id)
    assert not is_signed_in(analyst)


def test_signing_out_everywhere_ends_every_session_of_the_person(
    app: Flask, people: People, db: Session
) -> None:
    laptop = signed_in(app, people.analyst.email, "192.0.2.1")
    phone = signed_in(app, people.analyst.email, "192.0.2.2")
    colleague = signed_in(app, people.analyst2.email)
    page = laptop.get("/account/").get_data(as_text=True)
    assert "192.0.2.1" in page
    assert "192.0.2.2" in page
    assert "this browser" in page
    answer = Browser(laptop).post("/account/sign-out-everywhere")
    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert is_signed_in(colleague)
    ended = last_event(db, AuditType.SESSIONS_END)
    assert ended.actor_id == people.analyst.id
    assert ended.detail == {
        "email": people.analyst.email,
        "reason": "sign_out_everywhere",
        "sessions": 2,
    }


def test_an_administrator_signs_someone_out_everywhere_and_nobody_else_can(
    app: Flask, people: People, db: Session
) -> None:
    analyst = signed_in(app, people.analyst.email)
    steward = signed_in(app, people.steward.email)
    refused = Browser(steward).post(f"/admin/users/{people.analyst.id}/sign-out")
    assert refused.status_code == 403
    denial = last_event(db, AuditType.SESSIONS_END)
    assert (denial.outcome, denial.actor_id) == ("denied", people.steward.id)
    assert is_signed_in(analyst)
    admin = signed_in(app, people.admin.email)
    detail = admin.get(f"/admin/users/{people.analyst.id}").get_data(as_text=True)
    assert "192.0.2.10" in detail
    assert "Sign Analyst out everywhere" in detail
    assert Browser(admin).post(f"/admin/users/{people.analyst.id}/sign-out").status_code == 302
    assert not is_signed_in(analyst)
    assert is_signed_in(admin)
    ended = last_event(db, AuditType.SESSIONS_END)
    assert (ended.actor_id, ended.outcome) == (people.admin.id, "success")
    assert ended.detail["reason"] == "ended_by_administrator"
    record = (
        fresh(db).scalars(select(UserSession).where(UserSession.user_id == people.analyst.id)).one()
    )
    assert record.ended_reason == SessionEndReason.ENDED_BY_ADMINISTRATOR


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(
    app: Flask, people: People, db: Session
) -> None:
    analyst = signed_in(app, people.analyst.email)
    users.set_active(fresh(db), user_id=people.analyst.id, active=False, by=SETUP)
    db.commit()
    users.set_active(fresh(db), user_id=people.analyst.id, active=True, by=SETUP)
    db.commit()
    assert not is_signed_in(analyst)
    record = fresh(db).scalars(select(UserSession)).one()
    assert record.ended_reason == SessionEndReason.DEACTIVATED
    assert last_event(db, AuditType.USER_DEACTIVATE).detail["sessions_ended"] == 1


def test_a_change_of_roles_ends_the_persons_sessions(
    app: Flask, people: People, db: Session
) -> None:
    """Attack: a checker about to lose the role keeps a session open to approve one more
    output. Removing the role ends every session of theirs at once."""
    checker = signed_in(app, people.checker.email)
    admin = Browser(signed_in(app, people.admin.email))
    assert (
        admin.post(
            f"/admin/users/{people.checker.id}",
            {
                "edit-name": people.checker.name,
                "edit-organization_id": people.lab.id,
                "edit-roles": ["analyst"],
            },
        ).status_code
        == 302
    )
    assert not is_signed_in(checker)
    assert (
        fresh(db)
        .scalars(select(UserSession.ended_reason).where(UserSession.user_id == people.checker.id))
        .one()
        == SessionEndReason.ROLES_CHANGED
    )


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    engine = database(app).engine
    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def test_a_page_finds_its_session_with_one_lookup_and_writes_at_most_once_a_minute(
    app: Flask, people: People, db: Session, statements: list[str]
) -> None:
    client = signed_in(app, people.analyst.email)
    statements.clear()
    assert is_signed_in(client, "/account/")
    about_sessions = [
        s for s in statements if "FROM user_session" in s and "user_session.secret_sha256 =" in s
    ]
    assert len(about_sessions) == 1
    # The person's roles come with the session, not in a second statement of every page.
    assert "JOIN user_role" in about_sessions[0]
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    record = fresh(db).scalars(select(UserSession)).one()
    record.last_seen_at -= dt.timedelta(minutes=2)
    db.commit()
    before = record.last_seen_at
    assert is_signed_in(client)
    assert fresh(db).scalars(select(UserSession.last_seen_at)).one() > before
