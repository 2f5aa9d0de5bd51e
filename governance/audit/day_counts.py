"""Audit events per UTC day and outcome, counted once and then only the events added since.

The compliance manager's dashboard shows the last 30 complete days and today's running count.
Counting them at every view grows with the trail: at the issue's 500 reads a second a day holds
tens of millions of events, and even the page bench's own views made a dashboard's statement
four times dearer in twenty minutes. The trail only grows, and it grows in `seq` order: an
event is appended under the chain head's lock, so event n is committed before event n + 1 is
written, and a snapshot that sees an event sees every event before it. So each process counts
the window once, remembers the last `seq` it counted, and at each later view counts only the
events after it (a range of the primary key), adding each to its own day, whatever that day
is (an event recorded with an earlier time lands on its day).

Freshness: a database replaced under a running process (a restore, a test's new database)
can reuse the `seq` numbers, so the remembered last event's hash is looked up at each view and
a mismatch counts the window afresh. The counts are kept per engine and swapped whole, so
threads of one worker never add the same events twice.

A later view asks one statement (`since`): the remembered last event's hash, the new events'
counts and the newest event with its hash, as rows of one UNION ALL, so all three come from
one snapshot (every dashboard view sends it; as three statements they were a third of the
dashboard's).
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import Engine, bindparam, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, Outcome
from governance.audit.report import event_day


@dataclass(frozen=True)
class DayCounts:
    """Events per (day, outcome) from `since` on, up to and including event `last_seq`."""

    since: dt.date
    last_seq: int
    last_hash: str
    counts: MappingProxyType[tuple[dt.date, Outcome], int] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def on(self, day: dt.date, outcome: Outcome | None = None) -> int:
        if outcome is not None:
            return self.counts.get((day, outcome), 0)
        return sum(n for (d, _), n in self.counts.items() if d == day)


_KEPT: weakref.WeakKeyDictionary[Engine, DayCounts] = weakref.WeakKeyDictionary()
_SWAP = threading.Lock()
_STATEMENTS: dict[str, dict[str, Any]] = {}


def _statements(dialect: str) -> dict[str, Any]:
    """Built once per dialect: every compliance dashboard view sends them."""
    if dialect not in _STATEMENTS:
        day = event_day(dialect)
        after = AuditEvent.seq > bindparam("after")
        newest = select(func.max(AuditEvent.seq)).where(after).scalar_subquery()
        _STATEMENTS[dialect] = {
            "last": select(AuditEvent.seq, AuditEvent.hash)
            .order_by(AuditEvent.seq.desc())
            .limit(1),
            "window": select(day, AuditEvent.outcome, func.count())
            .where(AuditEvent.occurred_at >= bindparam("since"))
            .where(AuditEvent.seq <= bindparam("upto"))
            .group_by(day, AuditEvent.outcome),
            # Rows (kind, seq, hash, day, outcome, events): the kept last event ("kept"), the
            # events after it per day and outcome ("day"), the newest event ("newest").
            "since": union_all(
                select(
                    literal("kept"), AuditEvent.seq, AuditEvent.hash, null(), null(), null()
                ).where(AuditEvent.seq == bindparam("after")),
                select(literal("day"), null(), null(), day, AuditEvent.outcome, func.count())
                .where(after)
                .group_by(day, AuditEvent.outcome),
                select(
                    literal("newest"), AuditEvent.seq, AuditEvent.hash, null(), null(), null()
                ).where(AuditEvent.seq == newest),
            ),
        }
    return _STATEMENTS[dialect]


def _counted_afresh(session: Session, since: dt.date, sql: dict[str, Any]) -> DayCounts:
    # The last event first, then the window up to it: on PostgreSQL each statement has its own
    # snapshot, and the second sees every event up to the first's last (the prefix property).
    last = session.execute(sql["last"]).first()
    if last is None:
        return DayCounts(since=since, last_seq=0, last_hash="")
    moment = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    rows = session.execute(sql["window"], {"since": moment, "upto": last.seq})
    counts = {(dt.date.fromisoformat(d), Outcome(o)): n for d, o, n in rows}
    return DayCounts(since, last.seq, last.hash, MappingProxyType(counts))


def _with_new_events(session: Session, kept: DayCounts, sql: dict[str, Any]) -> DayCounts | None:
    """The kept counts with the events added since; None when their last event is no longer
    the one they counted (nothing counted: every event is after it)."""
    rows = session.execute(sql["since"], {"after": kept.last_seq}).all()
    held = not kept.last_seq
    counts = Counter(kept.counts)
    last_seq, last_hash = kept.last_seq, kept.last_hash
    for kind, seq, hash_, d, o, n in rows:
        if kind == "kept":
            held = hash_ == kept.last_hash
        elif kind == "newest":
            last_seq, last_hash = seq, hash_
        elif (day := dt.date.fromisoformat(d)) >= kept.since:
            counts[(day, Outcome(o))] += n
    if not held:
        return None
    if last_seq == kept.last_seq:
        return kept
    return DayCounts(kept.since, last_seq, last_hash, MappingProxyType(dict(counts)))


def day_counts(session: Session, since: dt.date) -> DayCounts:
    """Events per day and outcome from `since` (UTC) to now, as the session's database holds
    them; `since` may only move forward between calls for the kept counts to serve."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    sql = _statements(engine.dialect.name)
    kept = _KEPT.get(engine)
    fresh = None
    if kept is not None and kept.since <= since:
        fresh = _with_new_events(session, kept, sql)
    if fresh is None:
        fresh = _counted_afresh(session, since, sql)
    if fresh.since < since:  # the window moved on: forget the days before it
        fresh = DayCounts(
            since,
            fresh.last_seq,
            fresh.last_hash,
            MappingProxyType({k: n for k, n in fresh.counts.items() if k[0] >= since}),
        )
    with _SWAP:
        # Another thread may have counted further meanwhile: keep whichever counted more.
        current = _KEPT.get(engine)
        if current is None or current.last_seq <= fresh.last_seq:
            _KEPT[engine] = fresh
    return fresh
