"""A person who left the institution: deactivated at once, and taken off what they were named on.

`deactivate_leaver` is what SCIM deactivation (and an identity provider's back-channel logout,
where one is supported) calls. Beyond the deactivation of users.py (sessions ended, API tokens
revoked, e-mailed links closed, pending role requests cancelled, all audited), the listeners
the registry installs take the person off every live agreement's personnel list, with an audit
event naming the source, and recompute their grants so that the next read is refused. Identity
sits below agreements and access, so it names no listener itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy.orm import Session

from governance.identity import users
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.types import utcnow


class LeaverListener(Protocol):
    """What follows a leaver's deactivation, inside the same transaction."""

    def __call__(
        self, session: Session, user_id: int, *, by: Actor, now: dt.datetime, source: str
    ) -> object: ...


LEAVER_LISTENERS: list[LeaverListener] = []


def on_leaver(listener: LeaverListener) -> LeaverListener:
    """Register a listener to run after each leaver's deactivation (installing twice is once)."""
    if listener not in LEAVER_LISTENERS:
        LEAVER_LISTENERS.append(listener)
    return listener


def deactivate_leaver(
    session: Session, *, user_id: int, by: Actor, source: str, now: dt.datetime | None = None
) -> User:
    """Deactivate the person and run the leaver listeners, in the caller's transaction."""
    now = now or utcnow()
    user = users.get_user(session, user_id)
    if user.active:
        users.set_active(session, user_id=user_id, active=False, by=by)
    for listener in LEAVER_LISTENERS:
        listener(session, user_id, by=by, now=now, source=source)
    return user
