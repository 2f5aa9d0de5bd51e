"""Single-use links e-mailed to a person (set a new password, unlock the account).

The secret exists only in the e-mail; the table keeps its SHA-256
(identity/account_link_model.py). A person has at most one open link of each purpose: issuing a
new one closes the older one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.identity import seals
from governance.identity.account_link_model import AccountLink, LinkPurpose
from governance.identity.models import User

SECRET_BYTES = 32
DEFAULT_HOURS = 24
PATHS = {LinkPurpose.PASSWORD_RESET: "/reset/", LinkPurpose.UNLOCK: "/unlock/"}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def link_hours(session: Session) -> int:
    """How long a link works: the ACCOUNT_LINK_HOURS setting."""
    settings = session.info.get("settings")
    if isinstance(settings, Mapping):
        hours: Any = settings.get("ACCOUNT_LINK_HOURS")
        if isinstance(hours, int):
            return hours
    return DEFAULT_HOURS


def issue(
    session: Session, *, user: User, purpose: LinkPurpose, requested_by: str, now: dt.datetime
) -> tuple[AccountLink, str]:
    """A new link and its secret (to be e-mailed, never shown or logged); older open links of
    the same purpose are closed."""
    close_links_of(session, user_id=user.id, reason="replaced", now=now, purpose=purpose)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    link = AccountLink(
        user_id=user.id,
        purpose=purpose,
        secret_sha256=digest(secret),
        created_at=now,
        expires_at=now + dt.timedelta(hours=link_hours(session)),
        requested_by=requested_by[:320],
    )
    session.add(link)
    session.flush()
    return link, secret


def path(purpose: LinkPurpose, secret: str) -> str:
    return f"{PATHS[purpose]}{secret}"


def find_usable(
    session: Session, secret: str, *, purpose: LinkPurpose, now: dt.datetime
) -> AccountLink | None:
    """The open, unexpired link of this purpose for an active person, if the secret names one."""
    if not secret or len(secret) > 200:
        return None
    link = session.scalars(
        select(AccountLink).where(AccountLink.secret_sha256 == digest(secret))
    ).first()
    if link is None or link.purpose != purpose or not link.usable(now):
        return None
    if not seals.holds(session, seals.ACCOUNT_LINK, link):
        return None  # written in the database outside the service (identity/seals.py)
    return link


def close_links_of(
    session: Session,
    *,
    user_id: int,
    reason: str,
    now: dt.datetime,
    purpose: LinkPurpose | None = None,
) -> int:
    statement = (
        update(AccountLink)
        .where(AccountLink.user_id == user_id, AccountLink.closed_at.is_(None))
        .values(closed_at=now, closed_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    if purpose is not None:
        statement = statement.where(AccountLink.purpose == purpose)
    closed: int = session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
    return closed
