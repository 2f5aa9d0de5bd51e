"""Partner cohort files: the datastore stores them encrypted like dataset versions, so their
table sits with the datasets (analyses use them; see analysis/cohorts.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime, created_at, intpk, str200


class CohortFile(Base):
    """A partner's cohort file (name, date of birth, sex, intervention dates), stored encrypted
    by the datastore like dataset versions. It belongs to the agreement's provider: the scope
    gate refuses to use it under an agreement with another provider."""

    __tablename__ = "cohort_file"

    id: Mapped[intpk]
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    label: Mapped[str200]
    source_filename: Mapped[str] = mapped_column(String(255))
    row_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_name: Mapped[str] = mapped_column(String(200))
    # As on DatasetVersion: the file's id, and its own key wrapped by the data key
    # (`wrapping_key_id`) or, since keys per agreement, by the agreement's key file for this
    # cohort file (`agreement_key_id`; datastore/cohorts.py), deleted when the agreement closes.
    file_id: Mapped[str | None] = mapped_column(String(32))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    wrapping_key_id: Mapped[str | None] = mapped_column(String(16))
    agreement_key_id: Mapped[str | None] = mapped_column(String(16))
    # `pme1`: Parquet modular encryption, hash of the content in `content_sha256`; `gde1`:
    # the earlier chunked format (until `governance datastore migrate-encryption`).
    storage_format: Mapped[str] = mapped_column(String(8), server_default="gde1")
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created_at]
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
