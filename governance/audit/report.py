"""The PDF audit report for a period: what HIPAA 164.312(b) and NIST SP 800-171 3.3.3 call
reviewing the audit records, on paper a compliance manager can file.

It shows counts by event type, outcome, user and dataset, the denied attempts, the reads of
direct identifiers, a chart of daily activity, and the verification result and chain head.
Everything is aggregated in SQL (GROUP BY, bounded lists), so the PDF has the same size for a
thousand events as for a million and rendering time does not grow with the period. The whole
chain is verified alongside, by worker processes, while this process aggregates.

Reads of direct identifiers follow the convention in docs/decisions/audit.md: a `dataset:read`
event whose detail lists a non-empty `direct_identifier_columns`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Integer, func, literal_column, select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.export import snapshot
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.pdf import prepare, render, verification_facts
from governance.audit.queries import AuditFilter
from governance.audit.verify import Verification, verify_chain
from governance.kernel.types import utcnow

TOP = 25  # rows in each "by user" / "by dataset" table; the rest are summed as "others"
LISTED = 30  # denied attempts and identifier reads listed individually (all are counted)
# Two walkers: the chain walk (about 8 µs of CPU an event) is the report's longest part, and
# two of them beside the aggregating process keep both cores busy until the end.
VERIFY_WORKERS = 2


@dataclass(frozen=True)
class AuditReport:
    filters: AuditFilter
    generated_at: dt.datetime
    head: tuple[int, str]
    total: int
    by_type: list[tuple[str, int]]
    by_outcome: list[tuple[str, int]]
    by_user: list[tuple[str, int]]
    by_dataset: list[tuple[str, int]]
    daily: list[tuple[dt.date, int]]
    denied_total: int
    denied: list[dict[str, Any]]
    identifier_reads_total: int
    identifier_reads: list[dict[str, Any]]
    verification: Verification


def identifier_read_condition(dialect: str) -> ColumnElement[bool]:
    """A `dataset:read` event whose detail names at least one direct-identifier column."""
    if dialect == "sqlite":
        length = literal_column(
            "json_array_length(audit_event.detail, '$.direct_identifier_columns')", Integer
        )
    else:
        value = "(audit_event.detail::json -> 'direct_identifier_columns')"
        length = literal_column(
            f"CASE WHEN json_typeof({value}) = 'array' THEN json_array_length({value}) ELSE 0 END",
            Integer,
        )
    return (AuditEvent.event_type == AuditType.DATASET_READ) & (length > 0)


def event_day(dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of an audit event as YYYY-MM-DD text, on either database."""
    if dialect == "sqlite":
        return literal_column("substr(audit_event.occurred_at, 1, 10)")
    return literal_column("to_char(audit_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')")


def _grouped(
    connection: Connection, columns: list[Any], conditions: list[ColumnElement[bool]]
) -> list[tuple[Any, ...]]:
    """One GROUP BY over the period: each row is the column values and their count."""
    query = select(*columns, func.count()).where(*conditions).group_by(*columns)
    return [tuple(row) for row in connection.execute(query)]


def _totals(pairs: list[tuple[Any, int]]) -> dict[Any, int]:
    totals: dict[Any, int] = {}
    for key, n in pairs:
        totals[key] = totals.get(key, 0) + n
    return totals


def _top(totals: dict[Any, int], label: Any) -> list[tuple[str, int]]:
    """The TOP largest, then the rest summed as one row."""
    ranked = sorted(totals.items(), key=lambda item: (-item[1], str(item[0])))
    rows = [(label(key), n) for key, n in ranked[:TOP]]
    rest = sum(n for _, n in ranked[TOP:])
    return [*rows, ("(all others)", rest)] if rest else rows


def _listed(connection: Connection, conditions: list[ColumnElement[bool]]) -> list[dict[str, Any]]:
    query = (
        select(
            AuditEvent.seq,
            AuditEvent.occurred_at,
            AuditEvent.actor_email,
            AuditEvent.event_type,
            AuditEvent.agreement_id,
            AuditEvent.dataset_id,
            AuditEvent.rule,
            AuditEvent.clause,
            AuditEvent.detail,
        )
        .where(*conditions)
        .order_by(AuditEvent.seq.desc())
        .limit(LISTED)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


# Names datasets by id for the report; datasets sit above audit, so the registry installs it.
DatasetNamer = Callable[[Connection, Sequence[int]], dict[int, str]]
_namers: list[DatasetNamer] = []


def install_dataset_namer(namer: DatasetNamer) -> None:
    _namers[:] = [namer]


def _dataset_namer() -> DatasetNamer:
    if not _namers:
        raise RuntimeError("No dataset namer is installed: build the app first.")
    return _namers[0]


def _count(connection: Connection, conditions: list[ColumnElement[bool]]) -> int:
    return int(
        connection.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    )


def _aggregate(engine: Engine, flt: AuditFilter) -> dict[str, Any]:
    """Four GROUP BY scans of the period (type x outcome x day, user, dataset) and three
    bounded look-ups; nothing here grows with the number of events but the scans."""
    with snapshot(engine) as (connection, head):
        dialect = connection.dialect.name
        where = [*flt.conditions(), AuditEvent.seq <= head[0]]
        cube = _grouped(
            connection, [AuditEvent.event_type, AuditEvent.outcome, event_day(dialect)], where
        )
        users = _totals(_grouped(connection, [AuditEvent.actor_email], where))
        datasets = _totals(
            _grouped(
                connection, [AuditEvent.dataset_id], [*where, AuditEvent.dataset_id.is_not(None)]
            )
        )
        names = _dataset_namer()(connection, list(datasets)[:1000])
        denied = [*where, AuditEvent.outcome == Outcome.DENIED]
        identifiers = [*where, identifier_read_condition(dialect)]
        by_outcome = _totals([(outcome, n) for _, outcome, _, n in cube])
        return {
            "head": head,
            "total": sum(n for *_, n in cube),
            "by_type": sorted(_totals([(kind, n) for kind, _, _, n in cube]).items()),
            "by_outcome": sorted(by_outcome.items()),
            "by_user": _top(users, lambda email: email or "(none)"),
            "by_dataset": _top(datasets, lambda d: f"{names.get(d, 'dataset')} (#{d})"),
            "daily": [
                (dt.date.fromisoformat(day), n)
                for day, n in sorted(_totals([(day, n) for _, _, day, n in cube]).items())
            ],
            "denied_total": by_outcome.get(Outcome.DENIED.value, 0),
            "denied": _listed(connection, denied),
            "identifier_reads_total": _count(connection, identifiers),
            "identifier_reads": _listed(connection, identifiers),
        }


def build_report(
    session: Session, engine: Engine, flt: AuditFilter, *, now: dt.datetime | None = None
) -> AuditReport:
    """Aggregate the period and verify the whole chain, in parallel, on `engine` (a read
    engine). Recording the report (`audit:report`) is the caller's, before this."""
    settings = audit.settings_of(session)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The thread only waits for the worker processes that walk the chain while this one
        # aggregates.
        verifying = pool.submit(verify_chain, engine, settings, workers=VERIFY_WORKERS)
        values = _aggregate(engine, flt)
        # The renderer's start, while the worker processes are still walking the chain.
        prepare()
        verification = verifying.result()
    return AuditReport(
        filters=flt, generated_at=now or utcnow(), verification=verification, **values
    )


def render_report(report: AuditReport) -> bytes:
    from governance.kernel.reports import charts

    flt = report.filters
    period = (
        f"{flt.since:%Y-%m-%d %H:%M} UTC" if flt.since else "the first event",
        f"{flt.until:%Y-%m-%d %H:%M} UTC" if flt.until else "the time of the report",
    )
    # The axis covers the period asked for, not only the days that had events.
    chart = charts.time_series(
        report.daily,
        title="Audited events per day",
        value_label="Events per day",
        first=flt.since.date() if flt.since else None,
        last=(flt.until - dt.timedelta(microseconds=1)).date() if flt.until else None,
    )
    return render(
        "reports/audit_report.html",
        report.head,
        {
            "title": "Audit report",
            "subtitle": f"From {period[0]} up to (not including) {period[1]}",
            "facts": [
                ("Generated", f"{report.generated_at:%Y-%m-%d %H:%M:%S} UTC"),
                ("Filters", flt.describe()),
                ("Events in period", f"{report.total:,}"),
                *verification_facts(report.verification),
            ],
            "report": report,
            "chart": chart,
        },
    )
