"""Data use agreements: the agreement between a provider and a recipient organisation, and its
versions, each holding the full terms that later layers enforce.

Every term is addressable by a stable clause id (`scope.permitted_uses`,
`publication.min_cell_size`...; see `clauses.py`), so each later decision can cite
the clause and the agreement version that allowed or refused it. An agreement has at most one
approved version in force (`current_version_number`) and at most one version being drafted or
reviewed (`working_version_number`): the first draft, or an amendment of an active agreement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.agreements.law_model import courses_of
from governance.agreements.obligations_model import EthicsApproval
from governance.agreements.parts_model import (
    AgreementComment,
    AgreementDocument,
    CoveredColumn,
    Personnel,
)
from governance.identity.models import TrainingCourse
from governance.identity.organization_model import Organization
from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, created_at, intpk, str200

# Defaults a privacy officer starts from (Crime Lab and Justice Data Lab practice).
DEFAULT_MIN_CELL_SIZE = 10  # no published group of fewer than 10 people
DEFAULT_MIN_COHORT_SIZE = 60  # JDL: matched comparisons need a cohort of at least 60
DEFAULT_PREVIEW_WINDOW_DAYS = 30
DEFAULT_DOMINANCE_THRESHOLD = 0.9
DEFAULT_MAX_ABS_SMD = 0.1  # JDL: outcomes only when every |SMD| after matching <= 0.1
DEFAULT_MIN_AGE = 14
# Probabilistic linkage accepts a pair only at or above this match probability (1 false link
# in 20 at worst); an analysis may ask for a stricter threshold, never a laxer one.
DEFAULT_MIN_LINK_PROBABILITY = 0.95  # JDL: too few offenders under 14 for robust, safe analysis
DEFAULT_DESTRUCTION_DAYS = 30
ROUNDING_BASES = (None, 5)


class AgreementStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    EXECUTED = "executed"  # countersigned by the provider; active from its effective date
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class VersionStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"  # the version that governs (or governed) the agreement
    # An amendment approved by the recipient's privacy officers, not yet countersigned by the
    # provider: it binds no one, and the version it amends stays in force until it is.
    AWAITING_SIGNATURE = "awaiting_signature"
    SUPERSEDED = "superseded"  # replaced by an amendment the provider countersigned
    DISCARDED = "discarded"  # an amendment withdrawn, declined, or pending when the agreement ended


class DerivedForms(StrEnum):
    """Which forms other than the stored one a steward may grant a column in
    (`access.derived_forms`): a coarsened form, a keyed pseudonym, both, or neither."""

    NONE = "none"
    COARSENED = "coarsened"
    PSEUDONYMISED = "pseudonymised"
    BOTH = "both"

    def allows(self, form: str) -> bool:
        """Whether a column may be granted (or still served) in `form` under this term."""
        return self == DerivedForms.BOTH or (self != DerivedForms.NONE and form == self.value)


class ResearchProductsOwner(StrEnum):
    RECIPIENT = "recipient"
    PROVIDER = "provider"
    JOINT = "joint"


class Agreement(Base):
    __tablename__ = "agreement"
    __table_args__ = (UniqueConstraint("reference"),)

    id: Mapped[intpk]
    reference: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    status: Mapped[AgreementStatus] = mapped_column(String(20), index=True)
    current_version_number: Mapped[int | None] = mapped_column(Integer)
    working_version_number: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[created_at]
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    termination_reason: Mapped[str | None] = mapped_column(Text)
    terminated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    destruction_certified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    destruction_certified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    destruction_certified_by_label: Mapped[str | None] = mapped_column(String(320))
    destruction_statement: Mapped[str | None] = mapped_column(Text)
    # The keyed seal over its parties, status and version in force (access/agreement_seals.py):
    # set by the application at every write; one that does not hold allows nothing under it.
    seal: Mapped[str | None] = mapped_column(String(81))

    provider: Mapped[Organization] = relationship(foreign_keys=[provider_id], lazy="joined")
    recipient: Mapped[Organization] = relationship(foreign_keys=[recipient_id], lazy="joined")
    versions: Mapped[list[AgreementVersion]] = relationship(
        back_populates="agreement",
        order_by="AgreementVersion.number",
        lazy="selectin",
        cascade="all, delete-orphan",
    )
    # Recorded by a privacy officer, never edited (agreements/obligations_model.py).
    ethics_approvals: Mapped[list[EthicsApproval]] = relationship(
        order_by="EthicsApproval.id", viewonly=True
    )

    def version(self, number: int | None) -> AgreementVersion | None:
        return next((v for v in self.versions if v.number == number), None)

    @property
    def current_version(self) -> AgreementVersion | None:
        """The approved version that governs (or last governed) the agreement."""
        return self.version(self.current_version_number)

    @property
    def working_version(self) -> AgreementVersion | None:
        """The draft or amendment being written or reviewed, if any."""
        return self.version(self.working_version_number)

    @property
    def display_version(self) -> AgreementVersion:
        """The version a reader sees first: the one in force, else the draft."""
        shown = self.current_version or self.working_version or self.versions[-1]
        return shown

    @property
    def is_amending(self) -> bool:
        return self.current_version is not None and self.working_version is not None

    @property
    def version_to_countersign(self) -> AgreementVersion | None:
        """The approved version the provider has still to sign: an approved first version, or
        an approved amendment (which takes effect only once signed); None otherwise."""
        working = self.working_version
        if working is not None and working.status == VersionStatus.AWAITING_SIGNATURE:
            return working
        if self.status == AgreementStatus.APPROVED:
            return self.current_version
        return None

    def party_ids(self) -> set[int]:
        return {self.provider_id, self.recipient_id}

    def destruction_due(self) -> dt.date | None:
        """The last day on which the data must be destroyed, once the agreement has ended."""
        version = self.current_version
        if self.ended_at is None or version is None:
            return None
        return self.ended_at.astimezone(dt.UTC).date() + dt.timedelta(days=version.destruction_days)

    def __repr__(self) -> str:
        return f"<Agreement {self.id} {self.reference} {self.status}>"


class AgreementVersion(Base):
    """One version of the terms. Fixed clauses (ownership of source data, aggregate-only
    publication, the partner's preview scope) are the same in every agreement and are class
    constants, not columns."""

    __tablename__ = "agreement_version"
    __table_args__ = (UniqueConstraint("agreement_id", "number"),)

    aggregate_only = True
    no_identifiable_publication = True

    id: Mapped[intpk]
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[VersionStatus] = mapped_column(String(20))
    change_summary: Mapped[str] = mapped_column(Text, default="")

    title: Mapped[str200]
    purpose: Mapped[str] = mapped_column(Text)
    permitted_uses: Mapped[list[str]] = mapped_column(JSONText())
    signatories: Mapped[list[dict[str, str]]] = mapped_column(JSONText())
    research_products_owner: Mapped[ResearchProductsOwner] = mapped_column(String(20))
    laws: Mapped[list[dict[str, Any]]] = mapped_column(JSONText())
    third_party_recipients: Mapped[list[str]] = mapped_column(JSONText())
    publication_allowed: Mapped[bool] = mapped_column(Boolean)
    min_cell_size: Mapped[int] = mapped_column(Integer)
    min_cohort_size: Mapped[int] = mapped_column(Integer)
    preview_window_days: Mapped[int] = mapped_column(Integer)
    two_checkers_required: Mapped[bool] = mapped_column(Boolean)
    dominance_threshold: Mapped[float] = mapped_column(Float)
    rounding_base: Mapped[int | None] = mapped_column(Integer)
    # None: a suppressed count must not be recoverable to within fewer than min_cell_size.
    protection_width: Mapped[int | None] = mapped_column(Integer)
    # The most imbalance (max |SMD| after matching) a matched comparison may release outcomes
    # with; an analyst may ask for less, never more.
    max_abs_smd: Mapped[float] = mapped_column(Float, default=DEFAULT_MAX_ABS_SMD)
    # The agreement drives enforcement: the lowest match probability at which probabilistic
    # linkage may accept a pair without a person's review (analysis/scope.py refuses less).
    min_link_probability: Mapped[float] = mapped_column(
        Float, default=DEFAULT_MIN_LINK_PROBABILITY, server_default="0.95"
    )
    row_level_download: Mapped[bool] = mapped_column(Boolean)
    min_age: Mapped[int | None] = mapped_column(Integer)
    excluded_offence_categories: Mapped[list[str]] = mapped_column(JSONText())
    # Withheld from every reader, not only analyses: the data door leaves these records out of
    # the row viewer, exports and the engine's reads alike (access/data_door.py).
    withheld_offence_categories: Mapped[list[str]] = mapped_column(
        JSONText(), default=list, server_default="[]"
    )
    destruction_days: Mapped[int] = mapped_column(Integer)
    # Obligations over time (access/obligation_conditions.py): whether each person must accept
    # this version's individual terms before reading, every how many months each person
    # attests (None: no attestation), whether reads need an ethics approval in force, and
    # within how many hours the recipient tells the provider of an incident (None: the laws'
    # deadlines only).
    acceptance_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    attestation_months: Mapped[int | None] = mapped_column(Integer)
    ethics_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    provider_notice_hours: Mapped[int | None] = mapped_column(Integer)
    # Every how many months the personnel report progress (None: no reports).
    progress_months: Mapped[int | None] = mapped_column(Integer)
    # Above this share of records unique on a request's quasi-identifiers a privacy officer
    # approves too (`privacy.max_unique_share`); None: no limit.
    max_unique_share: Mapped[float | None] = mapped_column(Float)
    # The forms a steward may grant a column in instead of its stored values
    # (`access.derived_forms`); the data door checks it again at every read. A new agreement
    # allows none until its privacy officer chooses; versions written before the term (the
    # server default, migration 0041) allow both, as they did, so grants already made in a
    # form keep being served: their privacy officer sees "both" in the clause list and
    # narrows it by amendment.
    derived_forms: Mapped[str] = mapped_column(
        String(20), default=DerivedForms.NONE.value, server_default=DerivedForms.BOTH.value
    )
    # The parties allow this agreement on the public data-use register (`transparency.register`),
    # with this plain-language summary; nothing else about it is typed again for the register.
    public_register: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    lay_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Law code -> the legal basis the agreement names under that law (`privacy.legal_basis`):
    # a version citing a law that asks for one cannot be submitted without it.
    legal_bases: Mapped[dict[str, str]] = mapped_column(
        JSONText(), default=dict, server_default="{}"
    )
    effective_date: Mapped[dt.date] = mapped_column(Date)
    expiry_date: Mapped[dt.date] = mapped_column(Date)

    # Everyone who drafted, edited or submitted this version (`user:ID` or `system:LABEL`):
    # none of them may approve it.
    contributors: Mapped[list[str]] = mapped_column(JSONText())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[created_at]
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_by_label: Mapped[str | None] = mapped_column(String(320))
    # The provider's countersignature (execution) of an approved version, as the signed copy
    # states it: a first version becomes active, an amendment takes effect, only once it is
    # recorded.
    executed_on: Mapped[dt.date | None] = mapped_column(Date)
    provider_signatory_name: Mapped[str | None] = mapped_column(String(200))
    provider_signatory_title: Mapped[str | None] = mapped_column(String(200))
    provider_signatory_organisation: Mapped[str | None] = mapped_column(String(200))
    signed_copy_reference: Mapped[str | None] = mapped_column(String(200))
    execution_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    execution_recorded_by_label: Mapped[str | None] = mapped_column(String(320))
    # The keyed seal over the terms enforced, with the covered columns and the personnel
    # (access/agreement_seals.py): set by the application at every write of the version.
    seal: Mapped[str | None] = mapped_column(String(81))

    agreement: Mapped[Agreement] = relationship(back_populates="versions")
    covered: Mapped[list[CoveredColumn]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="(CoveredColumn.dataset_id, CoveredColumn.column_name)",
    )
    personnel: Mapped[list[Personnel]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Personnel.user_id"
    )
    comments: Mapped[list[AgreementComment]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AgreementComment.id"
    )
    documents: Mapped[list[AgreementDocument]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementDocument.id"
    )

    # --- read helpers for the access, analysis and publication layers -----------------------

    def covered_columns(self, dataset_id: int) -> set[str]:
        return {c.column_name for c in self.covered if c.dataset_id == dataset_id}

    def covers(self, dataset_id: int, columns: Iterable[str]) -> bool:
        return set(columns) <= self.covered_columns(dataset_id)

    @property
    def covered_dataset_ids(self) -> list[int]:
        return sorted({c.dataset_id for c in self.covered})

    def is_personnel(self, user_id: int) -> bool:
        return any(p.user_id == user_id for p in self.personnel)

    def personnel_role(self, user_id: int) -> str | None:
        return next((p.project_role for p in self.personnel if p.user_id == user_id), None)

    def required_courses(self) -> set[TrainingCourse]:
        return courses_of(self.laws)

    @property
    def allows_row_level_download(self) -> bool:
        return self.row_level_download

    @property
    def law_codes(self) -> list[str]:
        return [law["code"] for law in self.laws]

    @property
    def minimum_necessary(self) -> bool:
        return any(law.get("minimum_necessary") for law in self.laws)

    def clauses(self) -> list[tuple[str, str, str]]:
        """Every clause, in the agreement's order, as (clause id, label, rendered value)."""
        from governance.agreements.clauses import render_clauses

        return render_clauses(self)

    def in_force_on(self, day: dt.date) -> bool:
        return self.effective_date <= day <= self.expiry_date

    def __repr__(self) -> str:
        return f"<AgreementVersion {self.agreement_id} v{self.number} {self.status}>"
