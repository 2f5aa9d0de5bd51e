"""Personal API tokens: creating one (its secret shown once), revoking, and authenticating.

A token acts as its holder with the holder's own roles and grants: it adds no permission. It is
refused from the moment it expires or is revoked, or its holder is deactivated. Only the
SHA-256 of the secret is stored (see identity/token_model.py for why a fast hash is right for 256
random bits), and a request is authenticated by looking that digest up: the comparison of
secrets never happens character by character in Python, so its timing says nothing about how
much of a guess was right.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload, lazyload

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.authz.read_memo import remembered_row
from governance.identity import seals
from governance.identity.actors import Actor, System
from governance.identity.models import User
from governance.identity.token_model import PREFIX_LENGTH, ApiToken
from governance.kernel.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from governance.kernel.text import clean_line

DEFAULT_DAYS = 90
SECRET_BYTES = 32
# `last_used_at` is refreshed at most this often, so reading through the API does not turn
# every request into a write.
TOUCH_INTERVAL = dt.timedelta(minutes=5)


# The token with its holder in one query. The holder's roles and organisation load only when a
# request asks for them (an authorisation check does; a read of granted rows, decided by its
# grants, does not): eagerly they were a second query on every API request.
_BY_DIGEST = (
    select(ApiToken)
    .where(ApiToken.secret_sha256 == bindparam("digest"))
    .options(joinedload(ApiToken.user).options(lazyload(User.roles), lazyload(User.organization)))
)


@dataclass(frozen=True)
class CreatedToken:
    """A new token and its secret: the only moment the secret exists outside its holder."""

    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_days(session: Session) -> int:
    """The longest (and default) lifetime: the API_TOKEN_DAYS setting."""
    settings = session.info.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("API_TOKEN_DAYS"), int):
        days: int = settings["API_TOKEN_DAYS"]
        return days
    return DEFAULT_DAYS


def create_token(
    session: Session, *, user_id: int, name: str, days: int | None, by: Actor, now: dt.datetime
) -> CreatedToken:
    """A new token for `user_id`, valid for `days` (at most API_TOKEN_DAYS, the default).

    People create tokens for themselves; the host operator (`governance token create`) may
    create one for anyone who could create it themselves.
    """
    refusal = {
        "event_type": AuditType.TOKEN_CREATE,
        "target_type": "api_token",
        "detail": {"user_id": user_id},
    }
    authz.require(by, Permission.TOKEN_CREATE, audit=refusal)
    if not isinstance(by, System) and by.id != user_id:
        raise PermissionDenied("You can create tokens only for yourself.", audit=refusal)
    holder = session.get(User, user_id)
    if holder is None:
        raise NotFound(f"There is no user {user_id}.")
    if not holder.active or not authz.can(holder, Permission.TOKEN_CREATE):
        raise ValidationFailed(
            f"{holder.email} cannot hold API tokens (the account is "
            "deactivated or its roles do not allow tokens).",
            {"user": "Choose an active account."},
        )
    errors: dict[str, str] = {}
    label = clean_line(name, "name", errors, max_length=200)
    longest = token_days(session)
    lifetime = longest if days is None else days
    if not 1 <= lifetime <= longest:
        errors["days"] = f"From 1 to {longest} days."
    if errors:
        raise ValidationFailed("The token was not created.", errors)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(
        user_id=holder.id,
        name=label,
        prefix=secret[:PREFIX_LENGTH],
        secret_sha256=digest(secret),
        created_at=now,
        expires_at=now + dt.timedelta(days=lifetime),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        AuditType.TOKEN_CREATE,
        by=by,
        target_type="api_token",
        target_id=token.id,
        now=now,
        detail={
            "user_id": holder.id,
            "email": holder.email,
            "name": label,
            "prefix": token.prefix,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return CreatedToken(token=token, secret=secret)


def can_revoke(by: Actor, token: ApiToken) -> bool:
    """Holders revoke their own tokens; people who manage accounts revoke anyone's."""
    return by.id == token.user_id or authz.can(by, Permission.USER_MANAGE)


def revoke_token(session: Session, *, token_id: int, by: Actor, now: dt.datetime) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"There is no token {token_id}.")
    if not can_revoke(by, token):
        raise PermissionDenied(
            "Only the token's holder or an administrator may revoke it.",
            audit={
                "event_type": AuditType.TOKEN_REVOKE,
                "target_type": "api_token",
                "target_id": token.id,
                "rule": "token-holder-or-user-manager",
            },
        )
    if token.revoked_at is not None:
        raise InvalidTransition(f"Token {token.prefix}… is already revoked.")
    revoke(session, token, by=by, now=now)
    return token


def revoke(
    session: Session, token: ApiToken, *, by: Actor, now: dt.datetime, reason: str | None = None
) -> None:
    """Revoke a live token, recorded in the caller's transaction; `reason` when it was not
    asked for (its holder deactivated). The caller has checked who may."""
    token.revoked_at = now
    token.revoked_by_id = by.id
    detail: dict[str, object] = {
        "user_id": token.user_id,
        "name": token.name,
        "prefix": token.prefix,
        "expired": token.expires_at <= now,
    }
    if reason is not None:
        detail["reason"] = reason
    audit.record(
        session,
        AuditType.TOKEN_REVOKE,
        by=by,
        target_type="api_token",
        target_id=token.id,
        now=now,
        detail=detail,
    )


def authenticate(session: Session, secret: str, now: dt.datetime) -> ApiToken | None:
    """The token whose secret this is, if it may be used now: not expired, not revoked, its
    holder active. Refreshes `last_used_at` (the caller commits)."""
    if not secret or len(secret) > 200:
        return None
    wanted = digest(secret)
    token = _by_digest(session, wanted)
    if token is None or not hmac.compare_digest(token.secret_sha256, wanted):
        return None
    if token.revoked_at is not None or token.expires_at <= now or not token.user.active:
        return None
    if not seals.holds(session, seals.API_TOKEN, token) or not seals.account_holds(
        session, token.user
    ):
        return None  # written in the database outside the service (identity/seals.py)
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
        token.last_used_at = now
    return token


def _by_digest(session: Session, wanted: str) -> ApiToken | None:
    """The token and its holder as this process last loaded them under the current policy
    epoch (any change to either bumps it: authz/read_memo.py), else from the database."""
    return remembered_row(
        session,
        ("api_token", wanted),
        lambda: session.scalars(_BY_DIGEST, {"digest": wanted}).first(),
        "user",
    )


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """A person's tokens, newest first, including revoked and expired ones (for the record)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def active_tokens(session: Session, *, by: Actor, now: dt.datetime) -> list[ApiToken]:
    """Everyone's usable tokens, for people who manage accounts (to revoke a leaked one)."""
    authz.require(by, Permission.USER_MANAGE)
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
            .order_by(ApiToken.user_id, ApiToken.created_at.desc())
        )
    )
