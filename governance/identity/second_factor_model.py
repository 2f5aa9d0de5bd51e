"""A local account's second factor: its TOTP secret (sealed) and its one-time recovery codes.

The TOTP secret is stored sealed with AES-GCM under a key derived from the data key ring (its
id beside it), so a copy of the database alone cannot mint codes. `last_used_step` is the
30-second step of the last accepted code: a code is accepted once, never again in its window.
Recovery codes are stored as argon2 hashes and work once each.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, intpk, text


class TotpCredential(Base):
    __tablename__ = "totp_credential"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Enrolment is complete once the person has typed a first valid code.
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_step: Mapped[int | None] = mapped_column(Integer)
    # The keyed seal over whose secret this is and the secret itself (identity/seals.py): set by the
    # application at every write; a credential whose seal does not hold accepts no code.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)


class RecoveryCode(Base):
    __tablename__ = "recovery_code"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[text]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The keyed seal over whose code this is and its hash (identity/seals.py): set by the
    # application at every write; a code whose seal does not hold is refused.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)
