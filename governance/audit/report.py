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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import ColumnElement, Connection, Engine, Integer, func, literal_column, select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.export import snapshot
from governance.audit.models import AuditEvent, AuditType, Outcome, with_outcome
from governance.audit.pdf import prepare, render, verification_facts
from governance.audit.queries import AuditFilter
from governance.audit.report_names import dataset_namer
from governance.audit.verify import Verification, trust_of, verify_chain
from governance.kernel.types import utcnow

TOP = 25  # rows in each "by user" / "by dataset" table; the rest are summed as "others"
LISTED = 30  # denied attempts and identifier reads listed individually (all are counted)
# Two walkers: the chain walk (about 8 µs of CPU an event) is the report's longest part, and
# two of them beside the aggregating process keep both cores busy until the end.
VERIFY_WORKERS = 2
# Beyond this many events written between the early counts and the report (six look-ups
# each), count the whole period again instead.
RECOUNT = 64


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
    chart: Markup  # the daily activity, drawn while the chain was being walked


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


def _ranked(totals: dict[Any, int]) -> tuple[list[tuple[Any, int]], int]:
    """The TOP largest, and the sum of the rest."""
    ranked = sorted(totals.items(), key=lambda item: (-item[1], str(item[0])))
    return ranked[:TOP], sum(n for _, n in ranked[TOP:])


def _top(totals: dict[Any, int], label: Any) -> list[tuple[str, int]]:
    """The TOP largest, then the rest summed as one row."""
    shown, rest = _ranked(totals)
    rows = [(label(key), n) for key, n in shown]
    return [*rows, ("(all others)", rest)] if rest else rows


# The table, not the mapped class, in what the report selects: `count_early` runs while the
# app is still importing the other models, and an ORM select would configure every mapper
# then (and fail on a class not yet imported). The filters' conditions stay ORM expressions:
# building and compiling those configures nothing.
EVENT_TABLE = AuditEvent.__table__
EVENTS = EVENT_TABLE.c


def _listed(connection: Connection, conditions: list[ColumnElement[bool]]) -> list[dict[str, Any]]:
    query = (
        select(
            EVENTS.seq,
            EVENTS.occurred_at,
            EVENTS.actor_email,
            EVENTS.event_type,
            EVENTS.agreement_id,
            EVENTS.dataset_id,
            EVENTS.rule,
            EVENTS.clause,
            EVENTS.detail,
        )
        .where(*conditions)
        .order_by(EVENTS.seq.desc())
        .limit(LISTED)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


def _count(connection: Connection, conditions: list[ColumnElement[bool]]) -> int:
    return int(
        connection.scalar(select(func.count()).select_from(EVENT_TABLE).where(*conditions)) or 0
    )


@dataclass(frozen=True)
class _Counts:
    """The figures of the events in a stretch of sequence numbers, before they are ranked and
    labelled. Every figure of two disjoint stretches adds up (the lists keep the latest)."""

    cube: dict[tuple[str, str, str], int]  # (type, outcome, day) -> events
    users: dict[str | None, int]
    datasets: dict[int, int]
    denied: list[dict[str, Any]]  # the latest LISTED, newest first
    identifier_reads_total: int
    identifier_reads: list[dict[str, Any]]

    def __add__(self, other: _Counts) -> _Counts:
        def added(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
            return _totals([*a.items(), *b.items()])

        def latest(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted([*a, *b], key=lambda event: -int(event["seq"]))[:LISTED]

        return _Counts(
            cube=added(self.cube, other.cube),
            users=added(self.users, other.users),
            datasets=added(self.datasets, other.datasets),
            denied=latest(self.denied, other.denied),
            identifier_reads_total=self.identifier_reads_total + other.identifier_reads_total,
            identifier_reads=latest(self.identifier_reads, other.identifier_reads),
        )


def _counts(
    connection: Connection, flt: AuditFilter, stretch: list[ColumnElement[bool]]
) -> _Counts:
    """Three GROUP BY scans of the period's events in `stretch` (conditions on seq): type x
    outcome x day, user, dataset; and three bounded look-ups. Nothing here grows with the
    number of events but the scans."""
    dialect = connection.dialect.name
    where = [*flt.conditions(), *stretch]
    cube = _grouped(connection, [EVENTS.event_type, EVENTS.outcome, event_day(dialect)], where)
    users = _totals(_grouped(connection, [EVENTS.actor_email], where))
    datasets = _totals(
        _grouped(connection, [EVENTS.dataset_id], [*where, EVENTS.dataset_id.is_not(None)])
    )
    identifiers = [*where, identifier_read_condition(dialect)]
    return _Counts(
        cube={(kind, outcome, day): n for kind, outcome, day, n in cube},
        users=users,
        datasets=datasets,
        denied=_listed(connection, [*where, with_outcome(Outcome.DENIED)]),
        identifier_reads_total=_count(connection, identifiers),
        identifier_reads=_listed(connection, identifiers),
    )


def _figures(connection: Connection, counts: _Counts, head: tuple[int, str]) -> dict[str, Any]:
    """The report's tables from the counts of every event up to `head`."""
    cube = [(*key, n) for key, n in counts.cube.items()]
    by_outcome = _totals([(outcome, n) for _, outcome, _, n in cube])
    # Only the datasets the report shows are named.
    shown, _ = _ranked(counts.datasets)
    names = dataset_namer()(connection, [dataset for dataset, _ in shown])
    return {
        "head": head,
        "total": sum(n for *_, n in cube),
        "by_type": sorted(_totals([(kind, n) for kind, _, _, n in cube]).items()),
        "by_outcome": sorted(by_outcome.items()),
        "by_user": _top(counts.users, lambda email: email or "(none)"),
        "by_dataset": _top(counts.datasets, lambda d: f"{names.get(d, 'dataset')} (#{d})"),
        "daily": [
            (dt.date.fromisoformat(day), n)
            for day, n in sorted(_totals([(day, n) for _, _, day, n in cube]).items())
        ],
        "denied_total": by_outcome.get(Outcome.DENIED.value, 0),
        "denied": counts.denied,
        "identifier_reads_total": counts.identifier_reads_total,
        "identifier_reads": counts.identifier_reads,
    }


@dataclass(frozen=True)
class EarlyCounts:
    """The counts of every event up to `head` in the trail, made before the report was asked
    for in the trail (see `count_early`)."""

    filters: AuditFilter
    head: tuple[int, str]
    counts: _Counts


def count_early(engine: Engine, flt: AuditFilter) -> Future[EarlyCounts]:
    """Start counting the period's events now, in a thread, on `engine` (a read engine), so
    that a command builds its app (seconds of imports, one core) while the database scans the
    trail (SQLite and psycopg let other threads run meanwhile). Nothing is written or shown:
    `build_report` takes the counts only after `audit:report` was checked and recorded, and
    counts the events since (that record at least) itself."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-report-counts")

    def count() -> EarlyCounts:
        with snapshot(engine) as (connection, head):
            return EarlyCounts(flt, head, _counts(connection, flt, [EVENTS.seq <= head[0]]))

    counting = pool.submit(count)
    pool.shutdown(wait=False)
    return counting


def _aggregate(engine: Engine, flt: AuditFilter, early: EarlyCounts | None) -> dict[str, Any]:
    """The report's figures for the trail up to its head now. Counts made earlier are used
    for the events up to their head: events are only ever appended, and each is hashed into
    the chain that this report verifies, so an event up to that head counts the same now."""
    with snapshot(engine) as (connection, head):
        if early is None or early.filters != flt or early.head[0] > head[0]:
            return _figures(connection, _counts(connection, flt, [EVENTS.seq <= head[0]]), head)
        # The few events since (this report's record at least), one by one: SQLite, given a
        # range or a list of seq beside the period's range of time and an event type, would
        # rather scan the whole period by time; `seq = ?` is one look-up in a unique index.
        since = connection.scalars(
            select(EVENTS.seq).where(EVENTS.seq > early.head[0], EVENTS.seq <= head[0])
        ).all()
        if len(since) > RECOUNT:
            return _figures(connection, _counts(connection, flt, [EVENTS.seq <= head[0]]), head)
        counts = early.counts
        for seq in since:
            counts += _counts(connection, flt, [EVENTS.seq == seq])
        return _figures(connection, counts, head)


def build_report(
    session: Session,
    engine: Engine,
    flt: AuditFilter,
    *,
    now: dt.datetime | None = None,
    early: Future[EarlyCounts] | None = None,
) -> AuditReport:
    """Aggregate the period and verify the whole chain, in parallel, on `engine` (a read
    engine). Recording the report (`audit:report`) is the caller's, before this. `early` is
    `count_early`'s for the same filters, started before the record."""
    settings = audit.settings_of(session)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The thread only waits for the worker processes that walk the chain while this one
        # aggregates.
        verifying = pool.submit(
            verify_chain, engine, settings, workers=VERIFY_WORKERS, trust=trust_of(session)
        )
        values = _aggregate(engine, flt, None if early is None else early.result())
        # The renderer's start and the chart (matplotlib: about a second of CPU in all), while
        # the worker processes are still walking the chain.
        prepare()
        chart = _daily_chart(flt, values["daily"])
        verification = verifying.result()
    return AuditReport(
        filters=flt,
        generated_at=now or utcnow(),
        verification=verification,
        chart=chart,
        **values,
    )


def _daily_chart(flt: AuditFilter, daily: list[tuple[dt.date, int]]) -> Markup:
    from governance.kernel.reports import charts

    # The axis covers the period asked for, not only the days that had events.
    return charts.time_series(
        daily,
        title="Audited events per day",
        value_label="Events per day",
        first=flt.since.date() if flt.since else None,
        last=(flt.until - dt.timedelta(microseconds=1)).date() if flt.until else None,
    )


def render_report(report: AuditReport) -> bytes:
    flt = report.filters
    period = (
        f"{flt.since:%Y-%m-%d %H:%M} UTC" if flt.since else "the first event",
        f"{flt.until:%Y-%m-%d %H:%M} UTC" if flt.until else "the time of the report",
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
            "chart": report.chart,
        },
    )
