"""A second factor for local accounts: TOTP codes (RFC 6238, pyotp) and one-time recovery codes.

Enrolment is two steps: a new secret (shown as a QR code and as text), then a first valid code
from the person's app, which confirms it and issues ten recovery codes, shown once and stored
as argon2 hashes. At login a code is accepted within one 30-second step either side of now,
and never twice: the step of the last accepted code is kept, and no code of that step or an
earlier one is taken again (a code read over a shoulder cannot be replayed). A wrong code
counts towards the same lockout as a wrong password (signin.py). Administrators must enrol:
until they do, the pages send them to enrolment (web_two_factor.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

import pyotp
import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity import seals, sessions
from governance.identity.models import User
from governance.identity.passwords import hash_password, verify_password
from governance.identity.second_factor_model import RecoveryCode, TotpCredential
from governance.identity.session_model import UserSession
from governance.identity.signin import (
    LockoutPolicy,
    LoginFailed,
    SignedIn,
    clear_failures,
    count_failure,
    refuse_broken_account,
)
from governance.kernel import sealing
from governance.kernel.errors import Conflict, PermissionDenied, ValidationFailed
from governance.kernel.keys import rings_of
from governance.kernel.types import utcnow

ISSUER = "Data Governance"
SEAL_LABEL = "totp-secret"
STEP_SECONDS = 30
# The form field the re-authentication page sends the code in.
REAUTH_FIELD = "reauth-code"
RECOVERY_CODES = 10


def enrolled(session: Session, user_id: int) -> bool:
    credential = session.get(TotpCredential, user_id)
    return credential is not None and credential.confirmed_at is not None


def must_enrol(session: Session, user: User) -> bool:
    """Administrators (whoever may manage accounts) hold the keys to everyone's access: a
    password alone is not enough for them."""
    return authz.can(user, Permission.USER_MANAGE) and not enrolled(session, user.id)


def start_enrolment(session: Session, *, user: User, now: dt.datetime) -> str:
    """A new secret for the person's app (replacing an unconfirmed one); returns it."""
    credential = session.get(TotpCredential, user.id)
    if credential is not None and credential.confirmed_at is not None:
        raise Conflict("A second factor is already set up for this account.")
    secret = pyotp.random_base32()
    key_id, sealed = _seal(session, secret)
    if credential is None:
        credential = TotpCredential(user_id=user.id)
        session.add(credential)
    credential.sealed_secret, credential.key_id = sealed, key_id
    credential.created_at, credential.last_used_step = now, None
    session.flush()
    return secret


def pending_secret(session: Session, *, user: User) -> str | None:
    """The secret of an enrolment started but not confirmed, to show again."""
    credential = session.get(TotpCredential, user.id)
    if credential is None or credential.confirmed_at is not None:
        return None
    return _unseal(session, credential)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, dark="#111"))


def confirm_enrolment(session: Session, *, user: User, code: str, now: dt.datetime) -> list[str]:
    """Check the first code from the person's app; returns the recovery codes (shown once)."""
    credential = session.get(TotpCredential, user.id)
    if credential is None or credential.confirmed_at is not None:
        raise Conflict("Start setting up the authenticator app first.")
    step = _matching_step(_unseal(session, credential), code, now, after=None)
    if step is None:
        raise ValidationFailed(
            "That code does not match. Check the time on your phone and type the current code.",
            {"code": "Not the current code."},
        )
    credential.confirmed_at, credential.last_used_step = now, step
    codes = _new_recovery_codes(session, user=user, now=now)
    audit.record(
        session,
        AuditType.SECOND_FACTOR_ENROL,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"method": "totp", "recovery_codes": len(codes)},
    )
    return codes


def disable(
    session: Session,
    *,
    user: User,
    record: UserSession | None,
    max_age: dt.timedelta,
    administrators_must_keep: bool,
    now: dt.datetime,
) -> None:
    """Turn the second factor off: the secret and every recovery code go. Only from a session
    whose person proved who they are within `max_age` (a stolen session cookie alone cannot
    strip the account's second factor), and never for an administrator while administrators
    must have one (`administrators_must_keep`)."""
    refusal = {
        "event_type": AuditType.SECOND_FACTOR_DISABLE,
        "target_type": "user",
        "target_id": user.id,
        "now": now,
    }
    _require_recent(record, max_age=max_age, now=now, refusal=refusal)
    credential = _confirmed(session, user)
    if administrators_must_keep and authz.can(user, Permission.USER_MANAGE):
        raise PermissionDenied(
            "Administrators must keep a second factor: it cannot be turned off.",
            audit=refusal | {"detail": {"rule": "administrators-keep-second-factor"}},
        )
    left = _unused_codes(session, user.id)
    for code in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(code)
    session.delete(credential)
    session.flush()
    audit.record(
        session,
        AuditType.SECOND_FACTOR_DISABLE,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"method": "totp", "recovery_codes_dropped": left, "session": _id(record)},
    )


def regenerate_recovery_codes(
    session: Session,
    *,
    user: User,
    record: UserSession | None,
    max_age: dt.timedelta,
    now: dt.datetime,
) -> list[str]:
    """Ten new recovery codes (shown once); every earlier one, used or not, stops working.
    Recovery codes pass the second factor, so they too need a recent proof of who one is."""
    refusal = {
        "event_type": AuditType.RECOVERY_CODES_REGENERATE,
        "target_type": "user",
        "target_id": user.id,
        "now": now,
    }
    _require_recent(record, max_age=max_age, now=now, refusal=refusal)
    _confirmed(session, user)
    replaced = _unused_codes(session, user.id)
    codes = _new_recovery_codes(session, user=user, now=now)
    audit.record(
        session,
        AuditType.RECOVERY_CODES_REGENERATE,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"recovery_codes": len(codes), "unused_replaced": replaced, "session": _id(record)},
    )
    return codes


def _require_recent(
    record: UserSession | None, *, max_age: dt.timedelta, now: dt.datetime, refusal: dict[str, Any]
) -> None:
    if record is None or not sessions.is_recent(record, max_age=max_age, now=now):
        raise PermissionDenied(
            "Confirm your password (and code) again first.",
            audit=refusal | {"detail": {"rule": "recent-authentication"}},
        )


def _confirmed(session: Session, user: User) -> TotpCredential:
    credential = session.get(TotpCredential, user.id)
    if credential is None or credential.confirmed_at is None:
        raise Conflict("No second factor is set up for this account.")
    return credential


def _id(record: UserSession | None) -> int | None:
    return record.id if record is not None else None


def complete_login(
    session: Session,
    *,
    user_id: int,
    code: str,
    policy: LockoutPolicy,
    now: dt.datetime,
    source: str,
    user_agent: str,
) -> SignedIn:
    """The second step of a password login: a current code or an unused recovery code."""
    user = session.get(User, user_id)
    credential = session.get(TotpCredential, user_id)
    if user is None or credential is None or credential.confirmed_at is None:
        raise LoginFailed(policy.failure_message)
    detail = {"source": source}
    if not seals.holds(session, seals.TOTP, credential) or not seals.account_holds(session, user):
        refuse_broken_account(session, user, detail, now)
        raise LoginFailed(policy.failure_message)
    if not user.active or (user.locked_until is not None and user.locked_until > now):
        raise LoginFailed(policy.failure_message)
    code = code.strip().replace(" ", "")
    used = "totp"
    step = _matching_step(_unseal(session, credential), code, now, after=credential.last_used_step)
    if step is not None:
        credential.last_used_step = step
    elif _spend_recovery_code(session, user_id=user.id, code=code, now=now):
        used = "recovery code"
    else:
        count_failure(session, user, policy, now, detail, reason="wrong second factor")
        raise LoginFailed(policy.failure_message)
    clear_failures(user)
    user.last_login_at = now
    started = sessions.start_session(
        session,
        user=user,
        now=now,
        client_address=source,
        user_agent=user_agent,
        method=sessions.PASSWORD_AND_TOTP,
    )
    if used == "recovery code":
        audit.record(
            session,
            AuditType.RECOVERY_CODE_USE,
            by=user,
            now=now,
            detail={**detail, "left": _unused_codes(session, user.id)},
        )
    audit.record(
        session,
        AuditType.LOGIN,
        by=user,
        now=now,
        detail={**detail, "session": started.record.id, "second_factor": used},
    )
    return SignedIn(user=user, session_secret=started.secret)


def reauth_check(session: Session, user: User, form: Mapping[str, str]) -> str | None:
    """Re-authentication's second step (reauth.py): a current code, never one used before."""
    credential = session.get(TotpCredential, user.id)
    if credential is None or credential.confirmed_at is None:
        return None
    if not seals.holds(session, seals.TOTP, credential):
        return "The code from your authenticator app is not right."
    code = str(form.get(REAUTH_FIELD, "")).strip().replace(" ", "")
    step = _matching_step(
        _unseal(session, credential), code, utcnow(), after=credential.last_used_step
    )
    if step is None:
        return "The code from your authenticator app is not right."
    credential.last_used_step = step
    return None


def _matching_step(secret: str, code: str, now: dt.datetime, *, after: int | None) -> int | None:
    """The step (one either side of now) whose code this is, if later than `after`."""
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _new_recovery_codes(session: Session, *, user: User, now: dt.datetime) -> list[str]:
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        session.add(
            RecoveryCode(
                user_id=user.id, code_hash=hash_password(code, min_length=1), created_at=now
            )
        )
    session.flush()
    return codes


def _spend_recovery_code(session: Session, *, user_id: int, code: str, now: dt.datetime) -> bool:
    if len(code) != 17 or code[8] != "-":
        return False
    unused = session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    for row in unused:
        if not seals.holds(session, seals.RECOVERY_CODE, row):
            continue  # written in the database outside the service (identity/seals.py)
        if verify_password(row.code_hash, code.lower()):
            row.used_at = now
            return True
    return False


def _unused_codes(session: Session, user_id: int) -> int:
    return len(
        list(
            session.scalars(
                select(RecoveryCode.id).where(
                    RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                )
            )
        )
    )


def _seal(session: Session, secret: str) -> tuple[str, bytes]:
    return sealing.seal(rings_of(session).data, SEAL_LABEL, secret.encode())


def _unseal(session: Session, credential: TotpCredential) -> str:
    return sealing.unseal(
        rings_of(session).data, SEAL_LABEL, credential.key_id, credential.sealed_secret
    ).decode()
