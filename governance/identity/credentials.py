"""Changing a password (knowing the current one) and resetting it through an e-mailed link.

An administrator can send a person a reset link but never sets or sees the new password: the
link goes to the person's own address, works once and expires (ACCOUNT_LINK_HOURS), and only
its hash is stored. A change ends the person's other sessions; a reset ends all of them and
unlocks the account. Each step is recorded, and the person is told by e-mail.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.authz import Permission
from governance.identity import account_links, sessions
from governance.identity.account_link_model import AccountLink, LinkPurpose
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.identity.passwords import (
    RESET_ADDRESS_RULE,
    has_local_password,
    hash_password,
    verify_password,
)
from governance.identity.session_model import SessionEndReason
from governance.identity.signin import clear_failures
from governance.identity.users import get_user
from governance.kernel import notify
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed


def change_password(
    session: Session,
    *,
    user: User,
    current_password: str,
    new_password: str,
    confirm_password: str,
    min_length: int,
    keep_session: int | None,
    now: dt.datetime,
) -> int:
    """Set a new password for the signed-in person; returns how many other sessions ended."""
    if not verify_password(user.password_hash, current_password):
        # Recorded (the refusal is committed by the error handler): a session left open on a
        # shared machine must not be able to try passwords unseen.
        raise ValidationFailed(
            "The current password is not right; nothing was changed.",
            {"current_password": "Not your current password."},
            audit={
                "event_type": AuditType.PASSWORD_CHANGE,
                "outcome": Outcome.FAILURE,
                "target_type": "user",
                "target_id": user.id,
                "detail": {"reason": "wrong current password"},
            },
        )
    _check_new(new_password, confirm_password)
    user.password_hash = hash_password(new_password, min_length=min_length)
    ended = sessions.end_sessions_of(
        session,
        user_id=user.id,
        now=now,
        keep=keep_session,
        reason=SessionEndReason.PASSWORD_CHANGED,
    )
    account_links.close_links_of(
        session,
        user_id=user.id,
        reason="password changed",
        now=now,
        purpose=LinkPurpose.PASSWORD_RESET,
    )
    audit.record(
        session,
        AuditType.PASSWORD_CHANGE,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"other_sessions_ended": ended},
    )
    notify.queue(
        session,
        to=[user.email],
        subject="Your password was changed",
        body=f"The password of {user.email} was changed at {now:%Y-%m-%d %H:%M} UTC, "
        f"and every other session was signed out.\n\nIf you did not do this, "
        "tell an administrator at once.\n",
    )
    return ended


def send_reset_link(session: Session, *, user_id: int, by: Actor, now: dt.datetime) -> AccountLink:
    """E-mail the person a single-use link to set a new password; `by` never sees it."""
    authz.require(
        by,
        Permission.ACCOUNT_RESET,
        audit={
            "event_type": AuditType.PASSWORD_RESET_LINK,
            "target_type": "user",
            "target_id": user_id,
        },
    )
    user = get_user(session, user_id)
    if not user.active:
        raise InvalidTransition(f"{user.email} is deactivated; reactivate the account first.")
    if not has_local_password(user.password_hash):
        # Its address may have been set by SCIM: a link there would give whoever set it a
        # password for someone else's account.
        raise InvalidTransition(
            f"{user.email} signs in through their institution and has no password here to reset.",
            audit={
                "event_type": AuditType.PASSWORD_RESET_LINK,
                "target_type": "user",
                "target_id": user.id,
                "rule": RESET_ADDRESS_RULE,
                "detail": {"email": user.email},
            },
        )
    link, secret = account_links.issue(
        session, user=user, purpose=LinkPurpose.PASSWORD_RESET, requested_by=by.email, now=now
    )
    url = notify.link(session, account_links.path(LinkPurpose.PASSWORD_RESET, secret))
    notify.queue(
        session,
        to=[user.email],
        subject="Set a new password",
        body=f"An administrator asked for a new password to be set for {user.email}."
        f"\n\nChoose it with this link (it works once, until "
        f"{link.expires_at:%Y-%m-%d %H:%M} UTC):\n{url}\n\n"
        "If you did not expect this, tell your administrator.\n",
    )
    audit.record(
        session,
        AuditType.PASSWORD_RESET_LINK,
        by=by,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"email": user.email, "link": link.id, "expires_at": link.expires_at.isoformat()},
    )
    return link


def reset_link(session: Session, secret: str, *, now: dt.datetime) -> AccountLink:
    """The usable reset link this secret names, or 404."""
    link = account_links.find_usable(session, secret, purpose=LinkPurpose.PASSWORD_RESET, now=now)
    if link is None:
        raise NotFound(
            "This password-reset link is unknown, already used, replaced or "
            "expired. Ask an administrator for a new one."
        )
    return link


def reset_password(
    session: Session,
    *,
    secret: str,
    new_password: str,
    confirm_password: str,
    min_length: int,
    now: dt.datetime,
) -> User:
    """Set the password chosen on the reset page: ends every session and unlocks."""
    link = reset_link(session, secret, now=now)
    _check_new(new_password, confirm_password)
    user = link.user
    user.password_hash = hash_password(new_password, min_length=min_length)
    link.closed_at, link.closed_reason = now, "used"
    account_links.close_links_of(session, user_id=user.id, reason="password reset", now=now)
    clear_failures(user)
    ended = sessions.end_sessions_of(
        session, user_id=user.id, now=now, reason=SessionEndReason.PASSWORD_RESET
    )
    audit.record(
        session,
        AuditType.PASSWORD_RESET,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"link": link.id, "requested_by": link.requested_by, "sessions_ended": ended},
    )
    notify.queue(
        session,
        to=[user.email],
        subject="Your password was changed",
        body=f"A new password was set for {user.email} with a reset link at "
        f"{now:%Y-%m-%d %H:%M} UTC, and every session was signed out.\n\n"
        "If you did not do this, tell an administrator at once.\n",
    )
    return user


def _check_new(new_password: str, confirm_password: str) -> None:
    if new_password != confirm_password:
        raise ValidationFailed(
            "The two new passwords differ; nothing was changed.",
            {"confirm_password": "Type the same new password twice."},
        )
