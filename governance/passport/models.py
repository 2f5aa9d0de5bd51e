"""Every visa issued: who holds it, which grant it asserts, the key that signed it and when it
stops being valid. The status endpoint answers from here, and a retired signing key leaves the
published key set only once every visa it signed has expired."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime


class IssuedVisa(Base):
    __tablename__ = "passport_visa"
    __table_args__ = (
        Index("ix_passport_visa_user", "user_id", "issued_at"),
        Index("ix_passport_visa_grant", "grant_id"),
        Index("ix_passport_visa_key", "key_id", "expires_at"),
    )

    # The JWT's `jti`: random, so that knowing one visa tells nothing of another.
    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id"))
    key_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
