"""Outputs of analyses on their way out of the project: the disclosure-controlled result, its
files, the output checks, the data provider's preview flags and the publication.

An output belongs to an agreement (and the version of the terms it was produced under) and to
the analysis run that produced it. `run_id` is a plain integer without a foreign key: the
analysis run table is being built on another branch and the key is added when both meet.

The released content (`result`, `summary`, the PDF and the CSV) is what checkers approve, what
the provider's partner reviewers preview and what may be published. The disclosure record
(which rule fired on which cell) is shown to checkers only, and `populations` (fingerprints for
the differencing ledger) to no one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.agreements.models import Agreement, AgreementVersion
from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, intpk, str200, str320


@dataclass(frozen=True)
class OutputTerms:
    """The output-checking terms an output answers to: the strictest of the version it was
    produced under and the version in force now. The version in force governs every output
    (an amendment that takes effect while one is being checked binds it at once), and an
    amendment never loosens what the output's own terms promised the provider."""

    min_cell_size: int
    two_checkers_required: bool
    preview_window_days: int
    publication_allowed: bool

    @classmethod
    def governing(
        cls, produced: AgreementVersion, in_force: AgreementVersion | None
    ) -> OutputTerms:
        versions = [produced] if in_force is None else [produced, in_force]
        return cls(
            min_cell_size=max(v.min_cell_size for v in versions),
            two_checkers_required=any(v.two_checkers_required for v in versions),
            preview_window_days=max(v.preview_window_days for v in versions),
            publication_allowed=all(v.publication_allowed for v in versions),
        )


class OutputStatus(StrEnum):
    """What is stored; the lifecycle (outputs/lifecycle.py) derives its states
    from it."""

    PRODUCED = "produced"
    RETURNED = "returned"
    CHECKED = "checked"  # passed through in the transaction that opens the preview
    IN_PREVIEW = "in_preview"
    PREVIEW_ENDED = "preview_ended"  # the window ended with flags still open
    CLEARED = "cleared"  # passed through in the transaction that releases it
    RELEASED = "released"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    OutputStatus.PRODUCED: "Produced, awaiting check",
    OutputStatus.RETURNED: "Returned to the analyst",
    OutputStatus.CHECKED: "Checked",
    OutputStatus.IN_PREVIEW: "In partner preview",
    OutputStatus.PREVIEW_ENDED: "Preview ended, flags open",
    OutputStatus.CLEARED: "Cleared",
    OutputStatus.RELEASED: "Released to the project team",
    OutputStatus.PUBLISHED: "Published",
}


class CheckDecision(StrEnum):
    APPROVE = "approve"
    RETURN = "return"


class FlagKind(StrEnum):
    """The only two things a data provider's preview may raise (the agreements' fixed
    `publication.preview_scope` clause): anything else is refused."""

    IDENTIFIABLE_INFORMATION = "identifiable_information"
    FACTUAL_ERROR = "factual_error"

    @property
    def label(self) -> str:
        return FLAG_LABELS[self]


FLAG_LABELS = {
    FlagKind.IDENTIFIABLE_INFORMATION: "Identifiable information",
    FlagKind.FACTUAL_ERROR: "Objectively incorrect factual statement",
}


class AnswerKind(StrEnum):
    CORRECTED = "corrected"
    EXPLAINED = "explained"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class FlagResolution(StrEnum):
    ACCEPTED_BY_PARTNER = "accepted_by_partner"
    RESOLVED_BY_PRIVACY_OFFICER = "resolved_by_privacy_officer"


class Output(Base):
    __tablename__ = "output"
    __table_args__ = (Index("ix_output_status", "status", "preview_closes_at"),)

    id: Mapped[intpk]
    # The analysis run that produced it. No foreign key yet: the run table is built on another
    # branch; the key is added when the two branches meet.
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    agreement_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str200]
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSONText())
    # [{"id", "label"}]: the parts of the result a preview flag can point at.
    parts: Mapped[list[dict[str, str]]] = mapped_column(JSONText())
    disclosure: Mapped[dict[str, Any]] = mapped_column(JSONText())
    populations: Mapped[list[dict[str, Any]]] = mapped_column(JSONText())
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    csv: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    csv_sha256: Mapped[str] = mapped_column(String(64))
    # What the public page serves once published: made from the released figures only, so
    # it names no person and no internal identifier (the files above keep the run, the
    # analyst, the engine version and the audit chain head for the team and the checkers).
    public_pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    public_pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    public_csv: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    public_csv_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[OutputStatus] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    produced_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    produced_by_label: Mapped[str320]
    # Everyone who produced or corrected it (`user:ID` or `system:LABEL`): none may check it.
    contributors: Mapped[list[str]] = mapped_column(JSONText())
    produced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    preview_opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    preview_closes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    published_by_label: Mapped[str | None] = mapped_column(String(320))

    agreement: Mapped[Agreement] = relationship(lazy="joined")
    checks: Mapped[list[OutputCheck]] = relationship(
        back_populates="output",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="OutputCheck.id",
    )
    flags: Mapped[list[OutputFlag]] = relationship(
        back_populates="output",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="OutputFlag.id",
    )

    @property
    def version(self) -> AgreementVersion:
        """The terms the output was produced under."""
        version = self.agreement.version(self.agreement_version)
        if version is None:  # produce_output refuses a version that does not exist
            raise LookupError(
                f"agreement {self.agreement_id} has no version {self.agreement_version}"
            )
        return version

    @property
    def terms(self) -> OutputTerms:
        """The terms its checks, corrections, preview and publication follow."""
        return OutputTerms.governing(self.version, self.agreement.current_version)

    @property
    def reference(self) -> str:
        return f"OUT-{self.id:05d}"

    def checks_of(self, revision: int) -> list[OutputCheck]:
        return [c for c in self.checks if c.revision == revision]

    @property
    def current_checks(self) -> list[OutputCheck]:
        return self.checks_of(self.revision)

    @property
    def approvals(self) -> list[OutputCheck]:
        return [c for c in self.current_checks if c.decision == CheckDecision.APPROVE]

    @property
    def open_flags(self) -> list[OutputFlag]:
        return [f for f in self.flags if f.is_open]

    @property
    def status_label(self) -> str:
        return OutputStatus(self.status).label

    def part_label(self, part_id: str) -> str | None:
        return next((p["label"] for p in self.parts if p["id"] == part_id), None)

    def __repr__(self) -> str:
        return f"<Output {self.id} r{self.revision} {self.status}>"


class OutputCheck(Base):
    """One checker's decision on one revision of an output."""

    __tablename__ = "output_check"
    __table_args__ = (Index("ix_output_check_output", "output_id", "revision"),)

    id: Mapped[intpk]
    output_id: Mapped[int] = mapped_column(ForeignKey("output.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    checker_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    checker_label: Mapped[str320]
    decision: Mapped[CheckDecision] = mapped_column(String(10))
    reasons: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    output: Mapped[Output] = relationship(back_populates="checks")


class OutputFlag(Base):
    """A partner reviewer's flag on a part of an output, the analyst's answer, and how the
    flag was closed (accepted by the partner, or resolved by a privacy officer once the
    preview window had ended without the partner's response)."""

    __tablename__ = "output_flag"
    __table_args__ = (Index("ix_output_flag_output", "output_id", "accepted_at"),)

    id: Mapped[intpk]
    output_id: Mapped[int] = mapped_column(ForeignKey("output.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    raised_by_label: Mapped[str320]
    kind: Mapped[FlagKind] = mapped_column(String(40))
    part: Mapped[str] = mapped_column(String(120))
    part_label: Mapped[str200]
    comment: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    answer: Mapped[AnswerKind | None] = mapped_column(String(20))
    answer_text: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    answered_by_label: Mapped[str | None] = mapped_column(String(320))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    accepted_by_label: Mapped[str | None] = mapped_column(String(320))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[FlagResolution | None] = mapped_column(String(40))
    resolution_note: Mapped[str | None] = mapped_column(Text)

    output: Mapped[Output] = relationship(back_populates="flags")

    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None

    @property
    def kind_label(self) -> str:
        return FlagKind(self.kind).label
