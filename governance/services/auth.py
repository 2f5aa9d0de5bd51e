"""Logging in: argon2 passwords, the same answer for every failure, and lockout.

After LOCKOUT_THRESHOLD failures in a row an account is locked for LOCKOUT_MINUTES. An unknown
e-mail, a wrong password, a locked and a deactivated account all get the same message, so the
login form does not reveal who has an account. Each outcome is recorded; the caller commits
even when login fails, so the failure count and its audit event persist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from governance.errors import DomainError
from governance.models.audit import AuditType, Outcome
from governance.models.user import User
from governance.services import audit
from governance.services.passwords import hash_password, needs_rehash, verify_password
from governance.services.users import find_user_by_email


class LoginFailed(DomainError):
    status = 401


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    minutes: int

    @property
    def failure_message(self) -> str:
        return (f"That e-mail and password do not match an active account. After "
                f"{self.threshold} failed attempts an account is locked for {self.minutes} "
                f"minutes; ask an administrator if you cannot get in.")


def authenticate(session: Session, *, email: str, password: str, policy: LockoutPolicy,
                 now: dt.datetime, source: str = "web") -> User:
    user = find_user_by_email(session, email)
    detail = {"source": source}
    if user is None:
        verify_password(None, password)
        audit.record(session, AuditType.LOGIN_FAILED, by=None, outcome=Outcome.FAILURE,
                     actor_email=email.strip().lower()[:320],
                     detail={**detail, "reason": "unknown account"}, now=now)
        raise LoginFailed(policy.failure_message)
    if user.locked_until is not None and user.locked_until > now:
        audit.record(session, AuditType.LOGIN_FAILED, by=user, outcome=Outcome.FAILURE,
                     detail={**detail, "reason": "locked"}, now=now)
        raise LoginFailed(policy.failure_message)
    if not verify_password(user.password_hash, password):
        _count_failure(session, user, policy, now, detail)
        raise LoginFailed(policy.failure_message)
    if not user.active:
        audit.record(session, AuditType.LOGIN_FAILED, by=user, outcome=Outcome.FAILURE,
                     detail={**detail, "reason": "deactivated"}, now=now)
        raise LoginFailed(policy.failure_message)
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password, min_length=1)
    audit.record(session, AuditType.LOGIN, by=user, detail=detail, now=now)
    return user


def _count_failure(session: Session, user: User, policy: LockoutPolicy, now: dt.datetime,
                   detail: dict[str, str]) -> None:
    user.failed_login_count += 1
    audit.record(session, AuditType.LOGIN_FAILED, by=user, outcome=Outcome.FAILURE,
                 detail={**detail, "reason": "wrong password",
                         "failures_in_a_row": user.failed_login_count}, now=now)
    if user.failed_login_count >= policy.threshold:
        user.locked_until = now + dt.timedelta(minutes=policy.minutes)
        user.failed_login_count = 0
        audit.record(session, AuditType.LOCKOUT, by=user, outcome=Outcome.FAILURE,
                     detail={**detail, "locked_until": user.locked_until.isoformat()}, now=now)


def record_logout(session: Session, user: User, *, source: str = "web") -> None:
    audit.record(session, AuditType.LOGOUT, by=user, detail={"source": source})
