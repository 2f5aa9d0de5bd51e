"""Datasets: who provides them, their declared schema with each column's classification, their
stewards, and the stored versions of their data.

Column classification drives protection: direct identifiers (name, date of birth, ID numbers)
need a privacy officer's second approval before anyone is granted them and never appear in an
output; quasi-identifiers (age, sex, race, postcode) and sensitive values (offence, diagnosis)
are what disclosure control watches.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.identity.organization_model import Organization
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import JSONText, UTCDateTime, created_at, intpk, str200, str320


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    CATEGORY = "category"


class SubjectArea(StrEnum):
    """What the data is about: the laws that fit it depend on it (HIPAA protects health
    information, FERPA education records, CJIS criminal justice information, 42 CFR Part 2
    substance use disorder treatment records); agreements are checked against it."""

    CRIMINAL_JUSTICE = "criminal_justice"
    EDUCATION = "education"
    HEALTH = "health"
    SUBSTANCE_USE_TREATMENT = "substance_use_treatment"
    SOCIAL_CARE = "social_care"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "criminal_justice": "Criminal justice",
            "education": "Education",
            "health": "Health",
            "substance_use_treatment": "Substance use treatment",
            "social_care": "Social care",
            "other": "Other",
        }[self.value]


class Classification(StrEnum):
    DIRECT_IDENTIFIER = "direct_identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    GENERAL = "general"
    FREE_TEXT = "free_text"

    @property
    def label(self) -> str:
        return CLASSIFICATION_LABELS[self]

    @property
    def protection(self) -> int:
        """How much protection the class asks for: direct identifiers need two approvers and
        never leave in an output; free text may hold identifiers; quasi-identifiers and
        sensitive values are what disclosure control watches; general data is none of these."""
        return PROTECTION[self]

    def is_less_protected_than(self, other: Classification) -> bool:
        """Quasi-identifier and sensitive are protected alike (both are watched by disclosure
        control and need one approver), so moving between them is not a lowering."""
        return self.protection < other.protection


def is_direct_identifier(classification: str) -> bool:
    """The one rule for "this column names a person": two approvers to grant, never in an
    output. Takes the stored value, so the data door's plain column and the ORM column agree."""
    return classification == Classification.DIRECT_IDENTIFIER


def more_protected(first: Classification, second: Classification) -> Classification:
    return (
        first if Classification(first).protection >= Classification(second).protection else second
    )


CLASSIFICATION_LABELS = {
    Classification.DIRECT_IDENTIFIER: "Direct identifier",
    Classification.QUASI_IDENTIFIER: "Quasi-identifier",
    Classification.SENSITIVE: "Sensitive",
    Classification.GENERAL: "General",
    Classification.FREE_TEXT: "Free text",
}
PROTECTION = {
    Classification.DIRECT_IDENTIFIER: 3,
    Classification.FREE_TEXT: 2,
    Classification.QUASI_IDENTIFIER: 1,
    Classification.SENSITIVE: 1,
    Classification.GENERAL: 0,
}


class Dataset(Base):
    __tablename__ = "dataset"
    __table_args__ = (UniqueConstraint("provider_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str200]
    description: Mapped[str] = mapped_column(Text, default="")
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    # What the data is about (SubjectArea): the laws an agreement cites are checked against it.
    subject_area: Mapped[SubjectArea] = mapped_column(
        String(40), default=SubjectArea.OTHER, server_default=SubjectArea.OTHER.value
    )
    created_at: Mapped[created_at]
    # The data-use conditions as GA4GH DUO terms (duo/statements.conditions_record: permission,
    # MONDO disease, modifiers with their parameters); None until a steward states them.
    data_use: Mapped[dict[str, Any] | None] = mapped_column(JSONText(), nullable=True)

    provider: Mapped[Organization] = relationship(lazy="joined")
    columns: Mapped[list[DatasetColumn]] = relationship(
        back_populates="dataset",
        cascade="all, delete-orphan",
        order_by="DatasetColumn.position",
        lazy="selectin",
    )
    stewards: Mapped[list[DatasetSteward]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.number"
    )

    def column(self, name: str) -> DatasetColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def subject_area_label(self) -> str:
        return SubjectArea(self.subject_area).label

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def steward_ids(self) -> set[int]:
        # An assignment whose seal does not hold (written by SQL) makes nobody a steward.
        return {s.user_id for s in self.stewards if not s.seal_broken}

    def __repr__(self) -> str:
        return f"<Dataset {self.id} {self.name!r}>"


class DatasetColumn(Base):
    __tablename__ = "dataset_column"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[intpk]
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[ColumnType] = mapped_column(String(20))
    classification: Mapped[Classification] = mapped_column(String(30))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # What each stored code means ("1" -> "with financial aid"), declared with the schema:
    # outputs and summaries name groups by these labels, never by their codes.
    value_labels: Mapped[dict[str, str] | None] = mapped_column(JSONText())
    # The lowest value a number column can hold, declared by a steward (lowest_values.py): under
    # rounding a released mean's sums are taken from it, the same for every stored version.
    lowest_value: Mapped[float | None] = mapped_column(Float)
    # The keyed seal over what enforcement reads of the column (its name, type, class and
    # declared lowest value; datasets/seals.py): set by the application at every write; a
    # dataset with a column whose seal does not hold is read by nobody (rule `column-seal`).
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    dataset: Mapped[Dataset] = relationship(back_populates="columns")

    @property
    def is_direct_identifier(self) -> bool:
        return is_direct_identifier(self.classification)


class DatasetSteward(Base):
    """A data steward assigned to a dataset: approves who may read which of its columns."""

    __tablename__ = "dataset_steward"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    # The keyed seal over the assignment (datasets/seals.py): one written outside the service
    # makes nobody a steward of the dataset (rule `column-seal`'s sibling, `steward-seal`).
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)
    # Set as the row is loaded (datasets/seals.py): True when its seal does not hold.
    seal_broken: bool = False


class DatasetVersion(Base):
    """One stored upload: an encrypted Parquet file under instance/, with its SHA-256."""

    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[intpk]
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    number: Mapped[int] = mapped_column(Integer)
    # What the audit trail and certificates name the version by. For a version stored with
    # Parquet modular encryption it is the content hash (datastore/pme.py ContentHash); for one
    # stored before, the SHA-256 of its plaintext Parquet, checked when it was migrated.
    sha256: Mapped[str] = mapped_column(String(64))
    # The content hash `governance datastore verify` checks; null until a version in the
    # earlier format is migrated (the migration's audit event records both hashes).
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    # "pme1": Parquet modular encryption; "gde1": the earlier whole-file format, read only by
    # the migration (datastore/migrate.py).
    storage_format: Mapped[str] = mapped_column(String(8), server_default="gde1")
    row_count: Mapped[int] = mapped_column(BigInteger)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    storage_name: Mapped[str] = mapped_column(String(200))
    # The random id in the stored file's header: a file other than the one written for this
    # version (a leftover of a crashed upload, say) is refused even if it decrypts.
    file_id: Mapped[str | None] = mapped_column(String(32))
    # The file's own random key, wrapped by the data key `wrapping_key_id` (see
    # datasets/datastore/envelope.py); deleted when the version is destroyed, which makes every
    # copy of the file unreadable. Both null for files stored before per-file keys (`governance
    # datastore rewrap` converts them).
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    wrapping_key_id: Mapped[str | None] = mapped_column(String(16))
    source_filename: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[created_at]
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    dataset: Mapped[Dataset] = relationship(back_populates="versions")

    @property
    def is_destroyed(self) -> bool:
        return self.destroyed_at is not None


class VersionKeyWrap(Base):
    """A version's file key wrapped for one holder: an agreement that covers the version's
    dataset or, while none does, the dataset itself.

    The wrapping key is the holder's own key-encryption key for this version, kept outside the
    database (datastore/key_files.py). Once a version has a wrap, its key is no longer wrapped
    by the data key ring, so deleting a holder's key file (an agreement closing, an amendment
    dropping the dataset, a destruction) makes that wrap useless, in this database and in every
    backup of it.
    """

    __tablename__ = "version_key_wrap"
    __table_args__ = (UniqueConstraint("version_id", "agreement_id"),)

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_version.id", ondelete="CASCADE"), index=True
    )
    # No foreign key: the datasets layer does not depend on the agreements tables. Null for
    # the dataset's own key, which holds a version while no agreement covers it.
    agreement_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Id of the key file that wrapped it (the first 16 hex digits of the key's SHA-256).
    agreement_key_id: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[created_at]


class ReclassificationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ColumnReclassification(Base):
    """A stored column's move to a less protected class: asked for by whoever manages the
    dataset, in force only once a privacy officer (someone else) approves it. Classification
    decides who must approve access, so one person alone must not be able to lower it."""

    __tablename__ = "column_reclassification"
    __table_args__ = (Index("ix_column_reclassification_status", "status", "dataset_id"),)

    id: Mapped[intpk]
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"), index=True)
    column_name: Mapped[str] = mapped_column(String(120))
    from_classification: Mapped[Classification] = mapped_column(String(30))
    to_classification: Mapped[Classification] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ReclassificationStatus] = mapped_column(
        String(20), default=ReclassificationStatus.PENDING
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # `user e-mail` or `system:LABEL`: the second person must be someone else.
    requested_by_label: Mapped[str320]
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_by_label: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_comment: Mapped[str] = mapped_column(Text, default="")
