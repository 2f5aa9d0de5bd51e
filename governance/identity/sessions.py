"""Signed-in sessions: starting one, finding it on each request, and ending it at once.

The session cookie carries a random secret; the server keeps its SHA-256
(identity/session_model.py). Ending a session on the server ends it for every copy of the
cookie. Sessions end on logout, on "sign out everywhere" (the person, or anyone holding
`session:end_any`), and, through `end_sessions_of`, when the password is changed or reset,
the account is deactivated or its roles change: the services that make those changes call it
in their own transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity import seals
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.identity.session_model import SessionEndReason, UserSession
from governance.kernel.errors import NotFound, PermissionDenied

SECRET_BYTES = 32
# `last_seen_at` is written at most this often, so browsing does not make every page a write.
TOUCH_INTERVAL = dt.timedelta(minutes=1)
ADDRESS_LENGTH = 64
AGENT_LENGTH = 200


@dataclass(frozen=True)
class StartedSession:
    """A new session and its secret, which goes into the cookie and nowhere else."""

    record: UserSession
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


#: How a session was signed in with the account's local password, with or without a second
#: factor (single sign-on sessions are named after their provider).
PASSWORD = "password"  # noqa: S105  (a method's name, not a secret)
PASSWORD_AND_TOTP = "password+totp"  # noqa: S105
PASSWORD_METHODS = (PASSWORD, PASSWORD_AND_TOTP)


def start_session(
    session: Session,
    *,
    user: User,
    now: dt.datetime,
    client_address: str,
    user_agent: str,
    method: str = PASSWORD,
) -> StartedSession:
    """Record a new session for someone who has just proved who they are (the caller
    records the login itself)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    record = UserSession(
        user_id=user.id,
        secret_sha256=digest(secret),
        method=method,
        created_at=now,
        authenticated_at=now,
        last_seen_at=now,
        client_address=_printable(client_address, ADDRESS_LENGTH) or "unknown",
        user_agent=_printable(user_agent, AGENT_LENGTH),
    )
    session.add(record)
    session.flush()
    return StartedSession(record=record, secret=secret)


# The person's roles come in the same statement (a join, not the model's usual second
# `selectin` query): every page needs them, for the menu and for each permission check. Built
# once: every page runs it, and building the statement with its loader options cost about a
# third of the lookup's CPU (the statement sent is the same; it is still sent at every page).
_FIND_ACTIVE = (
    select(UserSession)
    .where(UserSession.secret_sha256 == bindparam("digest"))
    .options(joinedload(UserSession.user).joinedload(User.roles))
)


def find_active(session: Session, secret: object, *, user_id: int) -> UserSession | None:
    """The live session this cookie secret names, for this person, if it has not ended and
    the person is active: one lookup on a unique index, the person and their roles loaded with
    it."""
    if not isinstance(secret, str) or not secret or len(secret) > 200:
        return None
    record = session.scalars(_FIND_ACTIVE, {"digest": digest(secret)}).unique().first()
    if (
        record is None
        or record.ended_at is not None
        or record.user_id != user_id
        or not record.user.active
        or not seals.holds(session, seals.SESSION, record)
        or not seals.account_holds(session, record.user)
    ):
        return None
    return record


@dataclass(frozen=True)
class SessionLimits:
    """How long a session may stay unused, and how long it may last at all (NIST SP 800-63B
    section 7: reauthenticate after 30 minutes idle and 12 hours in all, at AAL2)."""

    idle: dt.timedelta
    lifetime: dt.timedelta

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SessionLimits:
        return cls(
            idle=dt.timedelta(minutes=int(settings.get("SESSION_IDLE_MINUTES", 30))),
            lifetime=dt.timedelta(hours=int(settings.get("SESSION_MAX_HOURS", 12))),
        )


def end_if_expired(
    session: Session, *, record: UserSession, limits: SessionLimits, now: dt.datetime
) -> SessionEndReason | None:
    """End a session unused for longer than the idle limit, or older than its lifetime, with
    its audit event; returns why, or None while it may go on (the caller commits)."""
    if now - record.created_at >= limits.lifetime:
        reason = SessionEndReason.LIFETIME_ENDED
    elif now - record.last_seen_at >= limits.idle:
        reason = SessionEndReason.IDLE_TIMEOUT
    else:
        return None
    end_session(session, record=record, reason=reason, now=now)
    audit.record(
        session,
        AuditType.SESSION_TIMEOUT,
        by=record.user,
        target_type="user_session",
        target_id=record.id,
        now=now,
        detail={
            "reason": reason.value,
            "started": record.created_at.isoformat(),
            "last_seen": record.last_seen_at.isoformat(),
        },
    )
    return reason


def is_recent(record: UserSession, *, max_age: dt.timedelta, now: dt.datetime) -> bool:
    """Whether the person proved who they are within `max_age` (sign-in or re-authentication)."""
    return now - record.authenticated_at < max_age


def touch(record: UserSession, now: dt.datetime) -> bool:
    """Note that the session was used; True when that is a change the caller should commit."""
    if now - record.last_seen_at < TOUCH_INTERVAL:
        return False
    record.last_seen_at = now
    return True


def end_session(
    session: Session, *, record: UserSession, reason: SessionEndReason, now: dt.datetime
) -> None:
    if record.ended_at is None:
        record.ended_at = now
        record.ended_reason = reason


def end_sessions_of(
    session: Session,
    *,
    user_id: int | Select[int],
    reason: SessionEndReason,
    now: dt.datetime,
    keep: int | None = None,
    methods: Iterable[str] | None = None,
) -> int:
    """End every live session of a person, or of the people a query selects, in one statement
    (but `keep`, the one in use, when given; only those signed in by one of `methods`, when
    given); returns how many ended. The caller has checked permission and records its own
    event."""
    whose = (
        UserSession.user_id.in_(user_id)
        if isinstance(user_id, Select)
        else UserSession.user_id == user_id
    )
    statement = (
        update(UserSession)
        .where(whose, UserSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    if keep is not None:
        statement = statement.where(UserSession.id != keep)
    if methods is not None:
        statement = statement.where(UserSession.method.in_(list(methods)))
    ended: int = session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
    return ended


def sign_out_everywhere(session: Session, *, user_id: int, by: Actor, now: dt.datetime) -> int:
    """End every session of a person: their own choice, or someone holding `session:end_any`
    (a lost laptop, a suspected break-in). Recorded even when nothing was live."""
    refusal = {
        "event_type": AuditType.SESSIONS_END,
        "target_type": "user",
        "target_id": user_id,
        "rule": f"self-or-{Permission.SESSION_END_ANY.value}",
    }
    if by.id != user_id and not authz.can(by, Permission.SESSION_END_ANY):
        raise PermissionDenied(
            "Only the person or an administrator may sign them out everywhere.", audit=refusal
        )
    person = session.get(User, user_id)
    if person is None:
        raise NotFound(f"There is no user {user_id}.")
    reason = (
        SessionEndReason.SIGN_OUT_EVERYWHERE
        if by.id == user_id
        else SessionEndReason.ENDED_BY_ADMINISTRATOR
    )
    ended = end_sessions_of(session, user_id=user_id, reason=reason, now=now)
    audit.record(
        session,
        AuditType.SESSIONS_END,
        by=by,
        target_type="user",
        target_id=user_id,
        now=now,
        detail={"email": person.email, "reason": reason.value, "sessions": ended},
    )
    return ended


def sessions_of(session: Session, *, user_id: int, by: Actor, limit: int = 50) -> list[UserSession]:
    """A person's sessions, live ones first, then the most recently ended."""
    if by.id != user_id:
        authz.require(by, Permission.SESSION_END_ANY)
    return list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(
                UserSession.ended_at.is_not(None),
                UserSession.last_seen_at.desc(),
                UserSession.id.desc(),
            )
            .limit(limit)
        )
    )


def _printable(raw: str, length: int) -> str:
    return "".join(ch for ch in raw if ch.isprintable())[:length]
