"""Analysis runs and the ledger of released populations (cohort files: datasets/cohort_model.py).

A run is the durable record of one request to run the analysis engine inside an agreement's
scope: the queue message only carries its id, so the row is the source of truth for its state
(queued, running, succeeded, failed, refused), its progress, its attempts and heartbeat (a
worker that stops beating is noticed by the reaper), and, once done, the disclosure-controlled
result, its provenance and the rendered report. Nothing but released figures is stored here.

The ledger keeps, per dataset whose people they are, the populations behind each produced
output, whichever agreement or analyst produced it (size, digest and the engine's keyed 256-bit
member hashes, with the fingerprint of the key, and which cell of the output's tables each
hashed member is in), never raw person keys.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, created_at, intpk, str200


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.REFUSED)


DEFAULT_MAX_ATTEMPTS = 3


class AnalysisRun(Base):
    __tablename__ = "analysis_run"
    __table_args__ = (
        Index("ix_analysis_run_status", "status", "heartbeat_at"),
        Index("ix_analysis_run_agreement", "agreement_id", "created_at"),
    )

    id: Mapped[intpk]
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    agreement_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    # Grants are made for a purpose, which is one of the agreement's permitted uses: the kind.
    purpose: Mapped[str] = mapped_column(String(40))
    title: Mapped[str200]
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONText())
    # Source table name (as the engine names it: records, index_events, offences) -> dataset id.
    datasets: Mapped[dict[str, int]] = mapped_column(JSONText())
    cohort_file_id: Mapped[int | None] = mapped_column(ForeignKey("cohort_file.id"))

    status: Mapped[RunStatus] = mapped_column(String(20), default=RunStatus.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_ATTEMPTS)
    created_at: Mapped[created_at]
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text, default="")
    clause: Mapped[str | None] = mapped_column(String(80))
    # A differencing refusal's earlier releases ({"ledger_id", "run_id", "label", ...}): shown
    # only to people who may see each of those runs; the reason above never names them.
    conflicts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONText())

    # The released, disclosure-controlled result only (no member hashes, no keys).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONText())
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONText())
    report_pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    report_csv: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    csv_sha256: Mapped[str | None] = mapped_column(String(64))

    @property
    def run_status(self) -> RunStatus:
        return RunStatus(self.status)

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    def __repr__(self) -> str:
        return f"<AnalysisRun {self.id} {self.kind} {self.status}>"


class ReleasedPopulation(Base):
    """One population behind a produced output, for the differencing check of every later
    output over the same dataset's people, under any agreement. Member hashes are the engine's
    keyed 256-bit hashes (``scheme`` "blake2b-256"), packed 32 bytes each, sorted, under the
    ledger key named by ``key_fingerprint``; no raw key is kept. Rows from before the keyed
    ledger (``scheme`` "legacy-digest") keep only their size and digest and are compared
    conservatively (docs/decisions/analysis-ledger.md)."""

    __tablename__ = "released_population"
    __table_args__ = (
        Index("ix_released_population_agreement", "agreement_id", "run_id"),
        Index("ix_released_population_dataset", "dataset_id", "size"),
    )

    id: Mapped[intpk]
    # The agreement the release was made under (provenance); the ledger is per dataset.
    agreement_id: Mapped[int] = mapped_column(Integer)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id"))
    output_id: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str200]
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    scheme: Mapped[str] = mapped_column(String(20))
    key_fingerprint: Mapped[str | None] = mapped_column(String(16))
    member_hashes: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Which cell of the release's tables each member is in (engine/cell_differencing.py): the
    # dimensions, each one's levels, and per member, in member-hash order, a 16-bit level per
    # dimension. Empty for rows recorded before cells were kept (migration 0044).
    cell_dimensions: Mapped[list[str] | None] = mapped_column(JSONText())
    cell_levels: Mapped[list[list[str]] | None] = mapped_column(JSONText())
    cell_codes: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Per outcome its tables publish a count of (``events:<outcome>``), each member's 0/1 in
    # member-hash order, one bit each, sealed apart from the cells. Empty for rows recorded
    # before outcomes were kept (migration 0047): those are compared on people only.
    cell_events: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[created_at]
