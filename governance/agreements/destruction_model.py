"""Destruction certificates: what stored data was destroyed, when, and who certified it.

Agreements oblige the research organisation to destroy the partner's data when the agreement
closes and to certify it. A certificate lists each destroyed dataset version with the SHA-256
and row count it was stored with, and keeps the PDF given to the partner with its SHA-256 (also
written to the audit trail, so a replaced PDF is detectable).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime, intpk, str200, str320


class DestructionCertificate(Base):
    __tablename__ = "destruction_certificate"

    id: Mapped[intpk]
    # The agreement whose closing caused the destruction; no foreign key so that this module
    # does not depend on the agreements tables (and a certificate outlives any edit to them).
    agreement_id: Mapped[int | None] = mapped_column(Integer, index=True)
    certified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    certified_by: Mapped[str320]
    certified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))

    items: Mapped[list[DestroyedVersion]] = relationship(
        back_populates="certificate",
        cascade="all, delete-orphan",
        order_by="DestroyedVersion.id",
        lazy="selectin",
    )
    keys: Mapped[list[DestroyedKey]] = relationship(
        back_populates="certificate",
        cascade="all, delete-orphan",
        order_by="DestroyedKey.id",
        lazy="selectin",
    )


class DestroyedVersion(Base):
    """One line of a certificate: a dataset version as it was when it was destroyed."""

    __tablename__ = "destroyed_version"

    id: Mapped[intpk]
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("destruction_certificate.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    dataset_name: Mapped[str200]
    provider_name: Mapped[str200]
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_version.id"), unique=True)
    version_number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # False when the file was already gone (a retried destruction); the version is still
    # listed, because the certificate states that its data no longer exists.
    file_removed: Mapped[bool] = mapped_column(Boolean)
    # SHA-256 of the destroyed wrapped file key and the id of the key that wrapped it: names
    # the key that no longer exists (a database backup still holding it can be recognised),
    # never the key. Null for a version stored before per-file keys.
    key_fingerprint: Mapped[str | None] = mapped_column(String(64))

    certificate: Mapped[DestructionCertificate] = relationship(back_populates="items")


class DestroyedKey(Base):
    """One line of a certificate: a version key's wrap and the key file it was sealed under
    (the closed agreement's, another holder's of a destroyed version, or the dataset's own),
    destroyed together. The version itself may live on under another agreement (then
    `version_destroyed` is false and only that agreement's key still opens it)."""

    __tablename__ = "destroyed_key"

    id: Mapped[intpk]
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("destruction_certificate.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 fingerprint of the agreement's destroyed key-encryption key, and its id.
    agreement_key_id: Mapped[str] = mapped_column(String(16))
    agreement_key_fingerprint: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[int] = mapped_column(Integer)
    version_id: Mapped[int] = mapped_column(Integer)
    version_number: Mapped[int] = mapped_column(Integer)
    # SHA-256 of the destroyed wrapped key (identifies it in a backup, reveals nothing).
    wrap_fingerprint: Mapped[str] = mapped_column(String(64))
    version_destroyed: Mapped[bool] = mapped_column(Boolean)
    # Whose key it was: `agreement-<id>` or, for a version no agreement covered, `dataset-<id>`
    # (the dataset's own key). Lines from before keys per file name the closed agreement.
    holder: Mapped[str] = mapped_column(String(40), server_default="agreement")

    certificate: Mapped[DestructionCertificate] = relationship(back_populates="keys")
