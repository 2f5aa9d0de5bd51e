"""Logging in: argon2 passwords, the same answer and the same cost for every failure, lockout.

After LOCKOUT_THRESHOLD failures within LOCKOUT_MINUTES an account is locked for LOCKOUT_MINUTES
and its holder is e-mailed a single-use unlock link (an administrator can unlock it too). An
unknown e-mail, a wrong password, a locked and a deactivated account all get the same message
after the same work (one argon2 verification, see passwords.py), so neither the message nor
its timing reveals who has an account or that it is locked. Each outcome is recorded; the
caller commits even when login fails, so the failure count and its audit event persist.
Throttling per client address (identity/web_throttle.py) stops one attacker before the lockout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.authz import Permission
from governance.identity import account_links, seals, sessions
from governance.identity.account_link_model import AccountLink, LinkPurpose
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.identity.passwords import (
    hash_password,
    needs_rehash,
    spend_verification,
    verify_password,
)
from governance.identity.second_factor_model import TotpCredential
from governance.identity.session_model import SessionEndReason, UserSession
from governance.identity.users import find_user_by_email, get_user
from governance.kernel import notify
from governance.kernel.errors import DomainError, InvalidTransition, NotFound

LOCKOUT_ACTOR = "system:lockout"


class LoginFailed(DomainError):
    status = 401


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    minutes: int

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.minutes)

    @property
    def failure_message(self) -> str:
        return (
            f"That e-mail and password do not match an active account. After "
            f"{self.threshold} failed attempts an account is locked for {self.minutes} "
            f"minutes; ask an administrator if you cannot get in."
        )


@dataclass(frozen=True)
class SecondFactorDue:
    """The password was right and the account has a second factor: no session yet."""

    user: User


@dataclass(frozen=True)
class SignedIn:
    """Who signed in and the secret of their new session (for the cookie only)."""

    user: User
    session_secret: str


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    policy: LockoutPolicy,
    now: dt.datetime,
    source: str = "web",
    user_agent: str = "",
) -> SignedIn | SecondFactorDue:
    """Check the password and start a server-side session, or, for an account with a second
    factor, say that it is due (totp.py completes the login); `source` is the client address."""
    user = find_user_by_email(session, email)
    detail: dict[str, Any] = {"source": source}
    if user is None:
        spend_verification(password)
        audit.record(
            session,
            AuditType.LOGIN_FAILED,
            by=None,
            outcome=Outcome.FAILURE,
            actor_email=email.strip().lower()[:320],
            detail={**detail, "reason": "unknown account"},
            now=now,
        )
        raise LoginFailed(policy.failure_message)
    if user.locked_until is not None and user.locked_until > now:
        spend_verification(password, like_hash=user.password_hash)
        audit.record(
            session,
            AuditType.LOGIN_FAILED,
            by=user,
            outcome=Outcome.FAILURE,
            detail={**detail, "reason": "locked"},
            now=now,
        )
        raise LoginFailed(policy.failure_message)
    if not user.active:
        spend_verification(password, like_hash=user.password_hash)
        audit.record(
            session,
            AuditType.LOGIN_FAILED,
            by=user,
            outcome=Outcome.FAILURE,
            detail={**detail, "reason": "deactivated"},
            now=now,
        )
        raise LoginFailed(policy.failure_message)
    if not verify_password(user.password_hash, password):
        count_failure(session, user, policy, now, detail, reason="wrong password")
        raise LoginFailed(policy.failure_message)
    if not seals.account_holds(session, user):
        # Written in the database outside the service (a password hash someone knows, another
        # organisation, a reactivation): refused as a wrong password is, the trail says why.
        refuse_broken_account(session, user, detail, now)
        raise LoginFailed(policy.failure_message)
    if not seals.local_passwords_on(user.organization):
        # Checked only after the password matched, so the answer tells nothing to whoever
        # does not know it. Whoever may switch the setting back (`identity:configure`, the
        # administrators) keeps their password as the break-glass path. A switch turned on by
        # SQL counts as off (its seal does not hold: rule `organisation-seal`).
        if not authz.can(user, Permission.IDENTITY_CONFIGURE):
            tampered = user.organization.local_passwords
            audit.record(
                session,
                AuditType.LOGIN_FAILED,
                by=user,
                outcome=Outcome.DENIED,
                detail={**detail, "reason": "local passwords are off for the organisation"},
                rule=seals.ORGANIZATION_SEAL_RULE if tampered else None,
                now=now,
            )
            raise LoginFailed(
                f"{user.organization.name} signs in through its identity provider: local "
                "passwords are switched off. Use your institution's sign-in instead."
            )
        detail = {**detail, "break_glass": True}
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password, min_length=1)
    if _has_second_factor(session, user.id):
        # Failures are forgotten only once the second factor is right too, so that retyping
        # the password never buys more guesses at the code.
        return SecondFactorDue(user=user)
    clear_failures(user)
    user.last_login_at = now
    started = sessions.start_session(
        session, user=user, now=now, client_address=source, user_agent=user_agent
    )
    audit.record(
        session, AuditType.LOGIN, by=user, now=now, detail={**detail, "session": started.record.id}
    )
    return SignedIn(user=user, session_secret=started.secret)


def refuse_broken_account(
    session: Session, user: User, detail: dict[str, Any], now: dt.datetime
) -> None:
    """Record a sign-in refused because the account's seal does not hold (identity/seals.py)."""
    audit.record(
        session,
        AuditType.LOGIN_FAILED,
        by=user,
        outcome=Outcome.DENIED,
        target_type="user",
        target_id=user.id,
        rule=seals.ACCOUNT_SEAL_RULE,
        detail={
            **detail,
            "reason": "the account's row fails its integrity check: it was written in the "
            "database outside the service",
        },
        now=now,
    )


def clear_failures(user: User) -> None:
    user.failed_login_count = 0
    user.failed_login_since = None
    user.locked_until = None


def _has_second_factor(session: Session, user_id: int) -> bool:
    credential = session.get(TotpCredential, user_id)
    return credential is not None and credential.confirmed_at is not None


def count_failure(
    session: Session,
    user: User,
    policy: LockoutPolicy,
    now: dt.datetime,
    detail: dict[str, Any],
    *,
    reason: str,
) -> None:
    """One more failure in the current run (a wrong password or a wrong second factor); the
    account locks at LOCKOUT_THRESHOLD."""
    # Failures count within LOCKOUT_MINUTES of the first of a run: the throttle allows one
    # address fewer failures than the threshold in any such period, so it alone never locks.
    if user.failed_login_since is None or now - user.failed_login_since >= policy.window:
        user.failed_login_count = 0
        user.failed_login_since = now
    user.failed_login_count += 1
    audit.record(
        session,
        AuditType.LOGIN_FAILED,
        by=user,
        outcome=Outcome.FAILURE,
        detail={**detail, "reason": reason, "failures_in_a_row": user.failed_login_count},
        now=now,
    )
    if user.failed_login_count >= policy.threshold:
        clear_failures(user)
        user.locked_until = now + policy.window
        link, secret = account_links.issue(
            session, user=user, purpose=LinkPurpose.UNLOCK, requested_by=LOCKOUT_ACTOR, now=now
        )
        notify.queue(
            session,
            to=[user.email],
            subject="Your account was locked",
            body=_lockout_message(session, user, policy, link.expires_at, secret),
        )
        audit.record(
            session,
            AuditType.LOCKOUT,
            by=user,
            outcome=Outcome.FAILURE,
            now=now,
            detail={
                **detail,
                "locked_until": user.locked_until.isoformat(),
                "unlock_link": link.id,
            },
        )


def _lockout_message(
    session: Session, user: User, policy: LockoutPolicy, expires_at: dt.datetime, secret: str
) -> str:
    return (
        f"Someone, perhaps you, failed to log in to {user.email} {policy.threshold} "
        f"times, so the account is locked for {policy.minutes} minutes.\n\n"
        f"If it was you, unlock it now with this link (it works once, until "
        f"{expires_at:%Y-%m-%d %H:%M} UTC):\n"
        f"{notify.link(session, account_links.path(LinkPurpose.UNLOCK, secret))}\n\n"
        "If it was not you, ignore this message and tell an administrator.\n"
    )


def unlock_link(session: Session, secret: str, *, now: dt.datetime) -> AccountLink:
    """The usable unlock link this secret names, or 404."""
    link = account_links.find_usable(session, secret, purpose=LinkPurpose.UNLOCK, now=now)
    if link is None:
        raise NotFound(
            "This unlock link is unknown, already used, replaced or expired. "
            "Ask an administrator to unlock your account."
        )
    return link


def unlock_with_link(session: Session, *, secret: str, now: dt.datetime) -> User:
    """Unlock with the e-mailed link: it works once, and only for an active account."""
    link = unlock_link(session, secret, now=now)
    user = link.user
    link.closed_at, link.closed_reason = now, "used"
    was_locked = user.locked_until is not None and user.locked_until > now
    clear_failures(user)
    audit.record(
        session,
        AuditType.UNLOCK,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"via": "e-mailed link", "link": link.id, "was_locked": was_locked},
    )
    return user


def unlock(session: Session, *, user_id: int, by: Actor, now: dt.datetime) -> User:
    """An administrator unlocks a locked account (and forgets its failed attempts)."""
    authz.require(
        by,
        Permission.ACCOUNT_RESET,
        audit={"event_type": AuditType.UNLOCK, "target_type": "user", "target_id": user_id},
    )
    user = get_user(session, user_id)
    if user.locked_until is None or user.locked_until <= now:
        raise InvalidTransition(f"{user.email} is not locked.")
    clear_failures(user)
    account_links.close_links_of(
        session, user_id=user.id, reason="unlocked", now=now, purpose=LinkPurpose.UNLOCK
    )
    audit.record(
        session,
        AuditType.UNLOCK,
        by=by,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"via": "administrator", "email": user.email},
    )
    return user


def record_logout(
    session: Session,
    user: User,
    *,
    record: UserSession | None,
    now: dt.datetime,
    source: str = "web",
) -> None:
    """End the session in use and record the logout."""
    if record is not None:
        sessions.end_session(session, record=record, reason=SessionEndReason.LOGOUT, now=now)
    audit.record(
        session,
        AuditType.LOGOUT,
        by=user,
        now=now,
        detail={"source": source, "session": record.id if record else None},
    )
