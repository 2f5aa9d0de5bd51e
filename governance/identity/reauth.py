"""Proving who you are again before the most sensitive actions: approving an agreement, giving
the second approval for direct identifiers, exporting the audit trail.

A page guarded by `web_login.require_recent_auth` sends a person whose last proof (sign-in or
re-authentication) is older than REAUTH_MINUTES here first. They give their password; every
check in `SECOND_FACTOR_CHECKS` then runs too, so a second factor (TOTP, a passkey) added by
the sign-in code is asked for as well, by appending one check. The session's
`authenticated_at` moves on success; each attempt is audited, failures as denied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.identity.models import User
from governance.identity.passwords import verify_password
from governance.identity.session_model import UserSession
from governance.kernel.errors import PermissionDenied

# Each takes (session, user, the submitted form) and returns an error message, or None when
# satisfied. The sign-in code appends its second factor's check here.
SecondFactorCheck = Callable[[Session, User, Mapping[str, str]], str | None]
SECOND_FACTOR_CHECKS: list[SecondFactorCheck] = []


def reauthenticate(
    session: Session,
    *,
    record: UserSession,
    password: str,
    form: Mapping[str, str],
    now: dt.datetime,
) -> None:
    """Check the password (and any second factor) of the session's person; on success the
    session counts as freshly authenticated. Raises PermissionDenied (audited) otherwise."""
    user = record.user
    problem = None
    if not verify_password(user.password_hash, password):
        problem = "The password is not right."
    else:
        problem = next(
            (found for check in SECOND_FACTOR_CHECKS if (found := check(session, user, form))),
            None,
        )
    if problem is not None:
        raise PermissionDenied(
            problem,
            audit={
                "event_type": AuditType.REAUTHENTICATE,
                "target_type": "user_session",
                "target_id": record.id,
                "outcome": Outcome.DENIED,
                "now": now,
                "detail": {"method": record.method},
            },
        )
    record.authenticated_at = now
    audit.record(
        session,
        AuditType.REAUTHENTICATE,
        by=user,
        target_type="user_session",
        target_id=record.id,
        now=now,
        detail={"method": record.method},
    )
