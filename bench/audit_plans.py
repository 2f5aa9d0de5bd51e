"""Every query the service sends over `audit_event`, its plan and its time, on a world built
by `bench/page_profile.py --build DIR` (a million events):

    .venv/bin/python bench/audit_plans.py --world DIR [--runs N] [--plans]

Prints per query the median wall time of N runs (ms) and, with `--plans`, the plan
(SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN (ANALYZE, BUFFERS)). Runs on any revision
of the code (the index set's query helpers are used when the revision has them), so the
same script measures a tree before and after a change of indexes.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, bindparam, event, func, or_, select

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from governance.audit import models  # noqa: E402
from governance.audit.models import AuditEvent, AuditType, Outcome  # noqa: E402
from governance.audit.queries import AuditFilter, export_select  # noqa: E402
from governance.audit.search import _capped_count  # noqa: E402
from governance.kernel.db import make_engine  # noqa: E402

of_type = getattr(
    models,
    "of_type",
    lambda *kinds: (
        AuditEvent.event_type == kinds[0]
        if len(kinds) == 1
        else AuditEvent.event_type.in_(list(kinds))
    ),
)
with_outcome = getattr(models, "with_outcome", lambda outcome: AuditEvent.outcome == outcome)

MONTH = (dt.datetime(2025, 6, 1, tzinfo=dt.UTC), dt.datetime(2025, 7, 1, tzinfo=dt.UTC))
LATE = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)


def _page(flt: AuditFilter) -> Select[Any]:
    return (
        select(AuditEvent)
        .where(*flt.conditions())
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc())
        .limit(51)
    )


def _next_page(flt: AuditFilter, anchor: dt.datetime, before: int) -> Select[Any]:
    return (
        select(AuditEvent)
        .where(
            *flt.conditions(),
            AuditEvent.occurred_at <= anchor,
            or_(
                AuditEvent.occurred_at < anchor,
                and_(AuditEvent.occurred_at == anchor, AuditEvent.seq < before),
            ),
        )
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc())
        .limit(51)
    )


SEARCHES: dict[str, AuditFilter] = {
    "none": AuditFilter(),
    "month": AuditFilter(since=MONTH[0], until=MONTH[1]),
    "user": AuditFilter(user="user7@bench.example", emails=("user7@bench.example",)),
    "user+month": AuditFilter(
        user="user7@bench.example", emails=("user7@bench.example",), since=MONTH[0], until=MONTH[1]
    ),
    "unknown user": AuditFilter(user="nobody@x.example", emails=("nobody@x.example",)),
    "agreement": AuditFilter(agreement_id=3),
    "dataset": AuditFilter(dataset_id=5),
    "dataset names": AuditFilter(dataset="d", dataset_ids=(5, 6)),
    "type read (bulk)": AuditFilter(event_type=AuditType.DATASET_READ),
    "type grant:create (3%)": AuditFilter(event_type=AuditType.GRANT_CREATE),
    "type key:rotate (none)": AuditFilter(event_type=AuditType.KEY_ROTATE),
    "outcome denied (4%)": AuditFilter(outcome=Outcome.DENIED),
    "outcome failure (none)": AuditFilter(outcome=Outcome.FAILURE),
    "outcome allowed (bulk)": AuditFilter(outcome=Outcome.ALLOWED),
    "outcome success": AuditFilter(outcome=Outcome.SUCCESS),
    "read+denied": AuditFilter(event_type=AuditType.DATASET_READ, outcome=Outcome.DENIED),
    "denied+month": AuditFilter(outcome=Outcome.DENIED, since=MONTH[0], until=MONTH[1]),
    "kind exports": AuditFilter(kind="exports"),
    "kind identifier_reads": AuditFilter(kind="identifier_reads"),
}


def queries(dialect: str, head: int, anchor: tuple[dt.datetime, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, flt in SEARCHES.items():
        out[f"search page: {name}"] = _page(flt)
        out[f"search count: {name}"] = _capped_count(flt)
    out["search page 2: type read"] = _next_page(SEARCHES["type read (bulk)"], *anchor)
    out["search page 2: denied"] = _next_page(SEARCHES["outcome denied (4%)"], *anchor)
    seq_cap = [AuditEvent.seq <= head]
    for name in ("none", "month", "dataset", "outcome denied (4%)", "type grant:create (3%)"):
        out[f"export: {name}"] = export_select(SEARCHES[name], dialect, extra=seq_cap)
    window = [AuditEvent.occurred_at >= MONTH[0], AuditEvent.occurred_at < MONTH[1]]
    reads = (AuditType.DATASET_READ, AuditType.DATASET_DOWNLOAD, AuditType.COHORT_READ)
    out["compliance: reads allowed"] = select(func.count()).where(
        of_type(*reads), *window, with_outcome(Outcome.ALLOWED)
    )
    out["compliance: reads denied"] = select(func.count()).where(
        of_type(*reads), *window, with_outcome(Outcome.DENIED)
    )
    out["compliance: denials"] = select(func.count()).where(with_outcome(Outcome.DENIED), *window)
    out["compliance: key rotations"] = select(AuditEvent.occurred_at, AuditEvent.detail).where(
        of_type(AuditType.KEY_ROTATE)
    )
    out["metrics: request events"] = (
        select(AuditEvent.event_type, AuditEvent.target_id)
        .where(
            of_type(AuditType.ACCESS_REQUEST_SUBMIT, AuditType.ACCESS_REQUEST_APPROVE),
            AuditEvent.target_type == "access_request",
            AuditEvent.outcome == Outcome.SUCCESS,
        )
        .order_by(AuditEvent.seq)
    )
    out["metrics: grants made"] = select(AuditEvent.occurred_at).where(
        of_type(AuditType.GRANT_CREATE), AuditEvent.outcome == Outcome.SUCCESS
    )
    out["alerts: followed"] = select(AuditEvent.target_id).where(
        of_type(AuditType.INCIDENT_FROM_ALERT)
    )
    out["alerts: verify failures"] = (
        select(AuditEvent.seq)
        .where(of_type(AuditType.AUDIT_VERIFY), with_outcome(Outcome.FAILURE))
        .order_by(AuditEvent.seq)
    )
    out["nudges: last"] = (
        select(AuditEvent.occurred_at)
        .where(
            of_type(AuditType.ACCESS_REQUEST_NUDGE),
            AuditEvent.target_type == "access_request",
            AuditEvent.target_id == "12",
            AuditEvent.outcome == "success",
            AuditEvent.occurred_at >= MONTH[0],
        )
        .order_by(AuditEvent.occurred_at.desc())
        .limit(1)
    )
    out["timeline"] = (
        select(AuditEvent.seq)
        .where(
            AuditEvent.target_type == "access_request",
            AuditEvent.target_id == "12",
            of_type(AuditType.ACCESS_REQUEST_SUBMIT, AuditType.GRANT_CREATE),
            AuditEvent.outcome == "success",
        )
        .order_by(AuditEvent.seq)
    )
    out["closeout: downloaders"] = (
        select(AuditEvent.actor_id, func.max(AuditEvent.actor_email))
        .where(
            of_type(AuditType.DATASET_DOWNLOAD),
            AuditEvent.outcome == Outcome.ALLOWED,
            AuditEvent.agreement_id == 3,
            AuditEvent.actor_id.is_not(None),
        )
        .group_by(AuditEvent.actor_id)
    )
    out["review: grant usage (90 days)"] = select(AuditEvent.detail, AuditEvent.occurred_at).where(
        AuditEvent.actor_id == 7,
        AuditEvent.agreement_id == 3,
        AuditEvent.dataset_id == 5,
        AuditEvent.event_type.in_([AuditType.DATASET_READ, AuditType.DATASET_DOWNLOAD]),
        AuditEvent.outcome == Outcome.ALLOWED,
        AuditEvent.occurred_at >= LATE,
    )
    out["dashboard: activity (14 days)"] = (
        select(func.count(), AuditEvent.outcome)
        .where(AuditEvent.occurred_at >= bindparam("since", LATE + dt.timedelta(days=76)))
        .group_by(AuditEvent.outcome)
    )
    out["evidence: agreement counts"] = (
        select(AuditEvent.event_type, AuditEvent.outcome, func.count())
        .where(AuditEvent.agreement_id == 3)
        .group_by(AuditEvent.event_type, AuditEvent.outcome)
    )
    kinds = [t for t in AuditType if t.value.startswith("agreement:")]
    out["evidence: agreement workflow"] = (
        select(AuditEvent.seq)
        .where(AuditEvent.agreement_id == 3, of_type(*kinds))
        .order_by(AuditEvent.seq)
        .limit(500)
    )
    out["evidence: agreement reads"] = (
        select(AuditEvent.seq)
        .where(AuditEvent.agreement_id == 3, of_type(AuditType.DATASET_READ))
        .order_by(AuditEvent.seq)
        .limit(500)
    )
    out["incident: agreement segment"] = (
        select(AuditEvent.seq)
        .where(AuditEvent.agreement_id == 3, *window)
        .order_by(AuditEvent.seq)
        .limit(1001)
    )
    out["expire: person's events after"] = (
        select(AuditEvent.seq)
        .where(AuditEvent.seq > head - 5000, AuditEvent.actor_email == "user7@bench.example")
        .order_by(AuditEvent.seq)
    )
    return out


def main(argv: list[str]) -> None:
    world = json.loads((Path(argv[argv.index("--world") + 1]) / "world.json").read_text())
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 5
    engine = make_engine(world["url"])
    dialect = engine.dialect.name
    results: dict[str, float] = {}
    with engine.connect() as connection:
        head = int(connection.exec_driver_sql("SELECT max(seq) FROM audit_event").scalar() or 0)
        anchor_seq = head - 200_000
        anchor_at = connection.scalar(
            select(AuditEvent.occurred_at).where(AuditEvent.seq == anchor_seq)
        )
        sent: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
            sent.append((sql, params))

        for name, statement in queries(dialect, head, (anchor_at, anchor_seq)).items():
            times = []
            for _ in range(runs):
                sent.clear()
                event.listen(engine, "before_cursor_execute", capture)
                start = time.perf_counter()
                connection.execute(statement).all()
                times.append(time.perf_counter() - start)
                event.remove(engine, "before_cursor_execute", capture)
            results[name] = round(statistics.median(times) * 1000, 3)
            print(f"{name}: {results[name]} ms", flush=True)
            if "--plans" in argv:
                sql, params = sent[0]
                prefix = (
                    "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
                )
                rows = connection.exec_driver_sql(prefix + sql, params).all()
                print(
                    "\n".join(f"    {r[3]}" for r in rows)
                    if dialect == "sqlite"
                    else "\n".join(f"    {r[0]}" for r in rows),
                    flush=True,
                )
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv)
