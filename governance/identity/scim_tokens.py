"""Bearer tokens for the identity provider's SCIM client: issued and revoked by an
administrator (`identity:configure`), shown once, stored as their SHA-256, expiring.

A SCIM token acts as the provisioning source "scim", not as a person: it can create, change
and deactivate accounts and push groups, and nothing else (no page, no API call). Every issue
and revocation is audited; a request with a bad token is refused (401) and recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity import seals
from governance.identity.actors import Actor
from governance.identity.scim_model import PREFIX_LENGTH, ScimToken
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed
from governance.kernel.text import clean_line

SECRET_BYTES = 32
MAX_DAYS = 366
TOUCH_INTERVAL = dt.timedelta(minutes=5)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(
    session: Session, *, name: str, days: int, by: Actor, now: dt.datetime
) -> tuple[ScimToken, str]:
    """A new SCIM token and its secret (shown once, to paste into the provider's settings)."""
    authz.require(
        by,
        Permission.IDENTITY_CONFIGURE,
        audit={"event_type": AuditType.SCIM_TOKEN_CREATE, "target_type": "scim_token"},
    )
    errors: dict[str, str] = {}
    label = clean_line(name, "name", errors, max_length=200)
    if not 1 <= days <= MAX_DAYS:
        errors["days"] = f"From 1 to {MAX_DAYS} days."
    if errors:
        raise ValidationFailed("The SCIM token was not issued.", errors)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = ScimToken(
        name=label,
        prefix=secret[:PREFIX_LENGTH],
        secret_sha256=digest(secret),
        created_by=by.email,
        created_by_id=by.id,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        AuditType.SCIM_TOKEN_CREATE,
        by=by,
        target_type="scim_token",
        target_id=token.id,
        now=now,
        detail={"name": label, "prefix": token.prefix, "expires_at": token.expires_at.isoformat()},
    )
    return token, secret


def revoke_token(session: Session, *, token_id: int, by: Actor, now: dt.datetime) -> ScimToken:
    authz.require(
        by,
        Permission.IDENTITY_CONFIGURE,
        audit={
            "event_type": AuditType.SCIM_TOKEN_REVOKE,
            "target_type": "scim_token",
            "target_id": token_id,
        },
    )
    token = session.get(ScimToken, token_id)
    if token is None:
        raise NotFound(f"There is no SCIM token {token_id}.")
    if token.revoked_at is not None:
        raise InvalidTransition(f"SCIM token {token.prefix}… is already revoked.")
    token.revoked_at = now
    token.revoked_by = by.email
    audit.record(
        session,
        AuditType.SCIM_TOKEN_REVOKE,
        by=by,
        target_type="scim_token",
        target_id=token.id,
        now=now,
        detail={"name": token.name, "prefix": token.prefix},
    )
    return token


def tokens(session: Session, *, by: Actor) -> list[ScimToken]:
    authz.require(by, Permission.IDENTITY_CONFIGURE)
    return list(session.scalars(select(ScimToken).order_by(ScimToken.created_at.desc())))


def authenticate(session: Session, secret: str, now: dt.datetime) -> ScimToken | None:
    """The usable token this secret names: not revoked, not expired (one indexed lookup)."""
    if not secret or len(secret) > 200:
        return None
    token = session.scalars(
        select(ScimToken).where(ScimToken.secret_sha256 == digest(secret))
    ).first()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    if not seals.holds(session, seals.SCIM_TOKEN, token):
        return None  # written in the database outside the service (identity/seals.py)
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
        token.last_used_at = now
    return token
