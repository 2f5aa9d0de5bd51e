"""Signed-in sessions, kept on the server so that ending one ends it everywhere at once.

The browser's signed session cookie carries a random secret; this table keeps only the secret's
SHA-256 (32 random bytes cannot be guessed, so a fast digest is right, as for API tokens) with
who signed in, how, when and from where, when the session was last seen, and when and why it
ended. Each page request finds its session by that digest on a unique index, so a session that
was ended (logout, "sign out everywhere", a password change, deactivation, a role change) is
refused on its next request, whatever copies of the cookie exist.

`method` and `authenticated_at` are there for single sign-on and multi-factor sign-in: how the
person proved who they are, and when they last did so (re-authentication before the most
sensitive actions moves it; idle and absolute timeouts read `last_seen_at` and `created_at`).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.identity.models import User
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, intpk, str200


class SessionEndReason(StrEnum):
    LOGOUT = "logout"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    ENDED_BY_ADMINISTRATOR = "ended_by_administrator"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  (a reason, not a secret)
    PASSWORD_RESET = "password_reset"  # noqa: S105
    DEACTIVATED = "deactivated"
    ROLES_CHANGED = "roles_changed"
    LOCAL_PASSWORDS_OFF = "local_passwords_off"
    IDLE_TIMEOUT = "idle_timeout"
    LIFETIME_ENDED = "lifetime_ended"

    @property
    def label(self) -> str:
        return END_REASON_LABELS[self]


END_REASON_LABELS = {
    SessionEndReason.LOGOUT: "logged out",
    SessionEndReason.SIGN_OUT_EVERYWHERE: "signed out everywhere",
    SessionEndReason.ENDED_BY_ADMINISTRATOR: "ended by an administrator",
    SessionEndReason.PASSWORD_CHANGED: "password changed",
    SessionEndReason.PASSWORD_RESET: "password reset",
    SessionEndReason.DEACTIVATED: "account deactivated",
    SessionEndReason.ROLES_CHANGED: "roles changed",
    SessionEndReason.LOCAL_PASSWORDS_OFF: "local passwords switched off for the organisation",
    SessionEndReason.IDLE_TIMEOUT: "unused too long",
    SessionEndReason.LIFETIME_ENDED: "reached its longest lifetime",
}


class UserSession(Base):
    __tablename__ = "user_session"
    __table_args__ = (UniqueConstraint("secret_sha256"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    authenticated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[SessionEndReason | None] = mapped_column(String(40))
    client_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str200]
    # The keyed seal over whose the session is, its digest, how and when it began
    # (identity/seals.py): set by the application at every write; a session whose seal does not hold
    # signs nobody in.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    @property
    def ended_reason_label(self) -> str:
        return SessionEndReason(self.ended_reason).label if self.ended_reason else ""

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user {self.user_id}>"
