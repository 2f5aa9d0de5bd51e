"""Agreement attachments (signed scans, ethics letters, data management plans, destruction
attestations): the datastore stores each file encrypted like dataset versions, under a key of
its own that destruction deletes, so their table sits with the datasets' (the rules about
them are agreements/attachments.py)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime, intpk, str200


class AttachmentKind(StrEnum):
    SIGNED_AGREEMENT = "signed_agreement"
    ETHICS_LETTER = "ethics_letter"
    PROTOCOL = "protocol"
    DATA_MANAGEMENT_PLAN = "data_management_plan"
    DESTRUCTION_ATTESTATION = "destruction_attestation"

    @property
    def label(self) -> str:
        return {
            "signed_agreement": "Signed agreement (scan)",
            "ethics_letter": "Ethics approval letter",
            "protocol": "Approved protocol",
            "data_management_plan": "Data management plan",
            "destruction_attestation": "Destruction attestation",
        }[self.value]


class Attachment(Base):
    """One version of one document filed with an agreement. A new upload of the same kind and
    title is the next version; earlier versions are kept (and destroyed with the rest)."""

    __tablename__ = "agreement_attachment"
    __table_args__ = (UniqueConstraint("agreement_id", "kind", "title", "version"),)

    id: Mapped[intpk]
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(String(40))
    title: Mapped[str200]
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # For a destruction attestation: the recipient who attests to destroying their copies.
    attesting_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    storage_name: Mapped[str] = mapped_column(String(200))
    # As on DatasetVersion: the file's header id, and its own key wrapped by the data key.
    file_id: Mapped[str | None] = mapped_column(String(32))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    wrapping_key_id: Mapped[str | None] = mapped_column(String(16))
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The destruction certificate that lists it (no foreign key, as for the certificate's own
    # agreement id: the certificate module does not depend on this table).
    certificate_id: Mapped[int | None] = mapped_column(Integer)

    @property
    def kind_label(self) -> str:
        return AttachmentKind(self.kind).label
