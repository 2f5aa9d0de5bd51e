"""The evidence pack of one agreement: a PDF of sections plus a CSV of every event under it,
both carrying the audit chain head, for a compliance manager's audit of that agreement.

Sections come from registered providers, so each workflow adds what it owns without this
module knowing it: `@providers.register("grants", order=30)` on a function `(session,
agreement_id) -> list[EvidenceSection]`. The audit trail's own providers (below) work from the
events alone, which carry agreement_id, agreement_version, dataset_id, target and detail:
the agreement's workflow events (versions and approvals as recorded), every event under it
counted by type and outcome, and every read of dataset rows under it. Agreements, grants and
analyses register richer sections from their own tables (see docs/decisions/audit.md).
Sections are bounded (`ROW_LIMIT` rows each, with the total stated): the CSV holds everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.export import iter_csv_rows, record_export, snapshot
from governance.audit.models import AuditEvent, AuditType
from governance.audit.pdf import render, verification_facts
from governance.audit.queries import AuditFilter, export_select, stream_rows
from governance.audit.verify import Verification, trust_of, verify_chain
from governance.kernel.errors import NotFound
from governance.kernel.installed import Installed
from governance.kernel.reports.tabular import chain_head_line, iter_csv
from governance.kernel.types import utcnow

if TYPE_CHECKING:
    from governance.identity.actors import Actor  # who acts: a type only, audit knows no noun

ROW_LIMIT = 200


@dataclass(frozen=True)
class EvidenceSection:
    """One titled table of the pack; `total` says how many rows exist if more than shown."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    summary: str = ""
    total: int | None = None


SectionProvider = Callable[[Session, int], list[EvidenceSection]]


@dataclass
class SectionRegistry:
    providers: list[tuple[int, str, SectionProvider]] = field(default_factory=list)

    def register(
        self, name: str, *, order: int = 50
    ) -> Callable[[SectionProvider], SectionProvider]:
        """Add a provider; sections appear by `order`, then name. Re-registering a name
        replaces the earlier provider."""

        def decorator(provider: SectionProvider) -> SectionProvider:
            self.providers = [p for p in self.providers if p[1] != name]
            self.providers.append((order, name, provider))
            self.providers.sort(key=lambda p: (p[0], p[1]))
            return provider

        return decorator

    def sections(self, session: Session, agreement_id: int) -> list[EvidenceSection]:
        return [
            section
            for _, _, provider in self.providers
            for section in provider(session, agreement_id)
        ]


providers = SectionRegistry()


@dataclass(frozen=True)
class EvidencePack:
    agreement_id: int
    reference: str
    generated_at: dt.datetime
    head: tuple[int, str]
    sections: list[EvidenceSection]
    verification: Verification


@dataclass(frozen=True)
class Subject:
    """The agreement a pack is about, as a person names it."""

    id: int
    reference: str


# Finds an agreement by its reference (DUA-2026-001) or its number; installed by the registry
# (the audit trail knows no noun: agreements sit above it).
SubjectFinder = Callable[[Session, str], tuple[int, str] | None]
_finder: Installed[SubjectFinder] = Installed(
    "No agreement finder is installed: build the app first."
)
install_subject_finder = _finder.install


def agreement_named(session: Session, key: int | str) -> Subject:
    """The agreement named by reference or number; a pack of an agreement that does not
    exist is refused (404 on the pages, exit 1 on the command line), never produced empty."""
    finder = _finder.get()
    text = str(key).strip()
    found = finder(session, text)
    if found is None:
        raise NotFound(f"There is no agreement {text}: no evidence pack was produced.")
    return Subject(*found)


def record_evidence_export(session: Session, agreement_id: int, *, by: Actor) -> int:
    """Check `audit:export` and that the agreement exists, and record the pack's export; the
    caller commits."""
    recorded = record_export(
        session,
        AuditFilter(agreement_id=agreement_id),
        fmt="evidence",
        by=by,
        agreement_id=agreement_id,
    )
    agreement_named(session, agreement_id)  # raising undoes the record: nothing is produced
    return recorded


def build_pack(session: Session, engine: Engine, agreement_id: int) -> EvidencePack:
    reference = agreement_named(session, agreement_id).reference
    head = audit.chain_head(session)
    return EvidencePack(
        agreement_id=agreement_id,
        reference=reference,
        generated_at=utcnow(),
        head=head,
        sections=providers.sections(session, agreement_id),
        verification=verify_chain(engine, audit.settings_of(session), trust=trust_of(session)),
    )


def render_pack(pack: EvidencePack) -> bytes:
    return render(
        "reports/evidence_pack.html",
        pack.head,
        {
            "title": f"Evidence pack: {pack.reference}",
            "subtitle": "Every audited event under this agreement, with the chain head",
            "facts": [
                ("Generated", f"{pack.generated_at:%Y-%m-%d %H:%M:%S} UTC"),
                ("Agreement", pack.reference),
                *verification_facts(pack.verification),
            ],
            "footer_note": f"Evidence pack · {pack.reference}",
            "pack": pack,
            "row_limit": ROW_LIMIT,
        },
    )


def iter_pack_csv(engine: Engine, agreement_id: int) -> Iterator[bytes]:
    """Every event under the agreement, oldest first, in the audit export's CSV format."""
    flt = AuditFilter(agreement_id=agreement_id)
    with snapshot(engine) as (connection, (head_seq, head_hash)):
        yield from iter_csv(
            (),
            preamble=[
                chain_head_line(head_seq, head_hash),
                f"evidence pack of agreement {agreement_id}",
            ],
        )
        statement = export_select(flt, connection.dialect.name, extra=[AuditEvent.seq <= head_seq])
        yield from iter_csv_rows(stream_rows(connection, statement))


def _events(
    session: Session, agreement_id: int, *conditions: ColumnElement[bool], limit: int = ROW_LIMIT
) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.agreement_id == agreement_id, *conditions)
            .order_by(AuditEvent.seq)
            .limit(limit)
        )
    )


def _count(session: Session, agreement_id: int, *conditions: ColumnElement[bool]) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.agreement_id == agreement_id, *conditions)
        )
        or 0
    )


def workflow_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    """Versions and approvals as the trail recorded them (agreement:* events)."""
    kinds = [t for t in AuditType if t.value.startswith("agreement:")]
    condition = AuditEvent.event_type.in_(kinds)
    events = _events(session, agreement_id, condition)
    return [
        EvidenceSection(
            title="Agreement history as recorded",
            total=_count(session, agreement_id, condition),
            summary="Drafts, submissions, approvals, amendments and closure of the agreement, "
            "with the version each applied to.",
            columns=("Seq", "When (UTC)", "Event", "Version", "By", "Outcome"),
            rows=[
                (
                    e.seq,
                    f"{e.occurred_at:%Y-%m-%d %H:%M:%S}",
                    e.event_type,
                    e.agreement_version,
                    e.actor_email,
                    e.outcome,
                )
                for e in events
            ],
        )
    ]


def counts_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    """Every event under the agreement, counted by type and outcome."""
    rows = session.execute(
        select(
            AuditEvent.event_type,
            AuditEvent.outcome,
            func.count(),
            func.min(AuditEvent.occurred_at),
            func.max(AuditEvent.occurred_at),
        )
        .where(AuditEvent.agreement_id == agreement_id)
        .group_by(AuditEvent.event_type, AuditEvent.outcome)
        .order_by(AuditEvent.event_type, AuditEvent.outcome)
    ).all()
    return [
        EvidenceSection(
            title="Events under this agreement by type",
            summary="All of them are listed one by one in the CSV that accompanies this PDF.",
            columns=("Event", "Outcome", "Events", "First", "Last"),
            rows=[
                (kind, outcome, n, str(first)[:19], str(last)[:19])
                for kind, outcome, n, first, last in rows
            ],
        )
    ]


def reads_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    """Every read of dataset rows under the agreement: who, which columns, how many rows."""
    condition = AuditEvent.event_type == AuditType.DATASET_READ
    events = _events(session, agreement_id, condition)
    return [
        EvidenceSection(
            title="Reads of data under this agreement",
            total=_count(session, agreement_id, condition),
            summary="Each read of dataset rows, with the columns returned; direct identifiers "
            "are named separately.",
            columns=(
                "Seq",
                "When (UTC)",
                "By",
                "Dataset",
                "Outcome",
                "Columns",
                "Direct identifiers",
                "Rows",
            ),
            rows=[
                (
                    e.seq,
                    f"{e.occurred_at:%Y-%m-%d %H:%M:%S}",
                    e.actor_email,
                    e.dataset_id,
                    e.outcome,
                    ", ".join(map(str, e.detail.get("columns") or [])),
                    ", ".join(map(str, e.detail.get("direct_identifier_columns") or [])),
                    e.detail.get("row_count", ""),
                )
                for e in events
            ],
        )
    ]
