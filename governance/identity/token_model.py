"""Personal API tokens: a secret shown once, stored only as its SHA-256, revocable, expiring.

A token is 32 random bytes (URL-safe base64, 43 characters). Only its first 8 characters are
kept in clear, to tell tokens apart in lists; the rest is known to its holder alone. A fast
hash is right here, unlike for passwords: a password is a guessable secret that needs a slow
hash, whereas 256 random bits cannot be guessed however fast each guess is, and a fast digest
lets every API request be checked by one indexed lookup.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.identity.models import User
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, created_at, intpk, str200

PREFIX_LENGTH = 8


class ApiToken(Base):
    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("secret_sha256"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str200]
    prefix: Mapped[str] = mapped_column(String(PREFIX_LENGTH))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_at]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The keyed seal over whose the token is, its digest and expiry (identity/seals.py): set by the
    # application at every write; a token whose seal does not hold authenticates nobody.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    def status(self, now: dt.datetime) -> str:
        """`active`, `revoked` or `expired`, as lists show it."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.prefix}… user {self.user_id}>"
