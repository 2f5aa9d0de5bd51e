"""Single-use links e-mailed to a person: set a new password, or unlock a locked account.

Only the SHA-256 of the link's random secret is stored (as for API tokens and sessions). A link
works once, until it expires, and only while it is the person's newest link of its purpose:
issuing a new one, using one, changing the password or deactivating the account closes the
others, with the reason.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.identity.models import User
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, intpk, str320


class LinkPurpose(StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105  (a purpose, not a secret)
    UNLOCK = "unlock"


class AccountLink(Base):
    __tablename__ = "account_link"
    __table_args__ = (UniqueConstraint("secret_sha256"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    purpose: Mapped[LinkPurpose] = mapped_column(String(20))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Who asked for it: an administrator's e-mail, or `system:...` for the lockout's own link.
    requested_by: Mapped[str320]
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    # The keyed seal over whose link this is, what for, its digest and expiry (identity/seals.py):
    # set by the application at every write; a link whose seal does not hold opens nothing.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    def usable(self, now: dt.datetime) -> bool:
        return self.closed_at is None and self.expires_at > now and self.user.active

    def __repr__(self) -> str:
        return f"<AccountLink {self.id} {self.purpose} user {self.user_id}>"
