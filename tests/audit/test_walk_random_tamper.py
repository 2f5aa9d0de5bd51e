"""Any tampering, at any place in any batch: the walk's batched path (`Walk.walk_batch`) and
checking each event on its own (`Walk.step`, the straightforward reference) reach the same
verdict and name the same fault with the same message.

A small trail is written with the format's own functions into a SQLite file with the audit
table's column types (so the driver hands back what it hands back from the real table), then
an intruder with database access makes one to three random edits: any column of any event set
to any value of any type (text with quotes, escapes, control and non-ASCII characters, floats,
bytes, numbers as text, a detail that is not canonical), events deleted, swapped, inserted or
copied, links and hashes moved, checkpoints deleted or forged. No application is built: each
example is a few milliseconds, so hypothesis can try hundreds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.audit import walk
from governance.audit.format import (
    GENESIS_HASH,
    chain_hash,
    checkpoint_message,
    content_text,
    format_time,
    sign,
    sqlite_time_text,
)
from governance.audit.walk import Stretch, Trail, Walk

KEY = b"k" * 32
KEY_ID = "test-key"
EVERY, MINUTES = 5, 30
EVENTS = 24
COLUMNS = [
    "actor_email", "actor_id", "agreement_id", "agreement_version", "clause", "dataset_id",
    "detail", "event_type", "occurred_at", "outcome", "rule", "seq", "target_id",
    "target_type", "prev_hash", "hash",
]  # fmt: skip
# The real table's declared types: SQLite's affinities turn '7' into 7 in an INTEGER column.
TABLE = """CREATE TABLE audit_event (
    seq BIGINT NOT NULL PRIMARY KEY, occurred_at DATETIME NOT NULL,
    event_type VARCHAR(60) NOT NULL, outcome VARCHAR(20) NOT NULL, actor_id INTEGER,
    actor_email VARCHAR(320), agreement_id INTEGER, agreement_version INTEGER,
    dataset_id INTEGER, target_type VARCHAR(40), target_id VARCHAR(80), rule VARCHAR(200),
    clause VARCHAR(80), detail TEXT NOT NULL, prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL)"""


def _events() -> tuple[list[dict[str, Any]], dict[int, walk.Checkpoint]]:
    """A valid trail of format 2 from its first event, checkpointed as the writer does."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows, checkpoints, prev, last = [], {}, GENESIS_HASH, None
    for seq in range(1, EVENTS + 1):
        moment = start + dt.timedelta(minutes=7 * seq)
        event = {
            "actor_email": None if seq % 4 == 0 else f"user{seq % 3}@example.org",
            "actor_id": None if seq % 4 == 0 else seq % 3,
            "agreement_id": seq % 5 or None,
            "agreement_version": 1 if seq % 5 else None,
            "clause": "4.2" if seq % 6 == 0 else None,
            "dataset_id": seq % 7 or None,
            "detail": f'{{"page":{seq % 3}}}' if seq % 2 else "{}",
            "event_type": "dataset:read",
            "occurred_at": moment.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "outcome": "allowed",
            "rule": "grant:1" if seq % 2 else None,
            "seq": seq,
            "target_id": str(seq * 11),
            "target_type": "dataset",
        }
        fields = [event[name] for name in COLUMNS[:14]]
        fields[8] = format_time(moment)
        event["prev_hash"], event["hash"] = prev, chain_hash(prev, content_text(*fields))
        prev = event["hash"]
        if (
            last is None
            or seq - last[0] >= EVERY
            or moment - last[1] >= dt.timedelta(minutes=MINUTES)
        ):
            message = checkpoint_message(seq, prev, format_since=1, every=EVERY, minutes=MINUTES)
            checkpoints[seq] = (seq, prev, KEY_ID, sign(KEY, message), EVERY, MINUTES)
            last = (seq, moment)
        rows.append(event)
    return rows, checkpoints


ROWS, CHECKPOINTS = _events()

positions = st.integers(min_value=1, max_value=EVENTS)
odd_text = st.text(
    alphabet=st.sampled_from(['"', "\\", "\n", "\x00", "\x1f", "\x7f", "é", "\u2028", "a", " "]),
    max_size=6,
)
any_value = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    odd_text,
    st.binary(max_size=4),
    st.sampled_from(
        [
            "7",
            "null",
            "{}",
            '{"page": 1}',
            '{"page":1.0}',
            '{"b":1,"a":2}',
            "[]",
            "2026-01-01T00:07:00.000000",
            "2026-01-01 00:07:00",
            "2026-02-30 00:00:00.000000",
            "9999-12-31 23:59:59.999999",
            "1969-12-31 23:59:59.999999",
            "0" * 64,
        ]
    ),
)
details = st.sampled_from(
    ['{"page": 1}', '{"page":1.0}', '{"page":01}', '{"b":1,"a":2}', '{"page":1,"page":1}',
     '{"a":"\\u0041"}', '{"a":"\u00e9"}', "[]", '{"page":1} ', "{}", '{"page":2}']
)  # fmt: skip
times = st.sampled_from(
    ["2026-01-01 23:00:00.000000", "2026-01-01 00:00:00.000000", "2026-01-01T01:00:00.000000",
     "2026-01-01 01:00:00", "2025-12-31 23:59:59.999999", "2026-01-01 01:30:00.000000"]
)  # fmt: skip
edits = st.one_of(
    st.tuples(st.just("set"), positions, st.sampled_from(COLUMNS), any_value),
    st.tuples(st.just("set"), positions, st.just("detail"), details),
    st.tuples(st.just("set"), positions, st.just("occurred_at"), times),
    st.tuples(st.just("copy"), positions, st.sampled_from(COLUMNS), positions),
    st.tuples(st.just("delete"), positions),
    st.tuples(st.just("swap"), positions, positions),
    st.tuples(
        st.just("insert"), st.integers(min_value=EVENTS + 1, max_value=EVENTS + 3), positions
    ),
    st.tuples(st.just("drop checkpoint"), st.sampled_from(sorted(CHECKPOINTS))),
    st.tuples(st.just("forge checkpoint"), positions),
)
# Every edit may be followed by the chain recomputed from some event on, as anyone can (the
# hash is not keyed): then only the parse of each row, the checkpoints and their cadence
# stand between the edit and a clean walk.
rehash = st.one_of(st.none(), st.tuples(st.just("rehash"), positions))


@pytest.fixture(scope="module")
def trail_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("walk") / "trail.db"


def _trail(path: Path, changes: list[tuple[Any, ...]]) -> tuple[sqlite3.Connection, Trail]:
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    connection.execute(TABLE)
    marks = ", ".join("?" * len(COLUMNS))
    connection.executemany(
        f"INSERT INTO audit_event ({', '.join(COLUMNS)}) VALUES ({marks})",  # noqa: S608
        [[row[name] for name in COLUMNS] for row in ROWS],
    )
    checkpoints = dict(CHECKPOINTS)
    for change in changes:
        # NOT NULL or a seq already taken: the table refuses the edit, as it would the intruder's.
        with contextlib.suppress(sqlite3.IntegrityError):
            _edit(connection, checkpoints, change)
    connection.commit()
    return connection, Trail(
        keys={KEY_ID: KEY}, checkpoints=checkpoints, format_since=1, head_seq=EVENTS
    )


def _edit(
    connection: sqlite3.Connection, checkpoints: dict[int, walk.Checkpoint], change: tuple[Any, ...]
) -> None:
    kind = change[0]
    if kind == "set":
        _, seq, column, value = change
        connection.execute(f"UPDATE audit_event SET {column} = ? WHERE seq = ?", (value, seq))  # noqa: S608
    elif kind == "copy":
        _, seq, column, source = change
        connection.execute(
            f"UPDATE audit_event SET {column} = "  # noqa: S608
            f"(SELECT {column} FROM audit_event WHERE seq = ?) WHERE seq = ?",
            (source, seq),
        )
    elif kind == "delete":
        connection.execute("DELETE FROM audit_event WHERE seq = ?", (change[1],))
    elif kind == "swap":
        _, one, other = change
        for old, new in ((one, -1), (other, one), (-1, other)):
            connection.execute("UPDATE audit_event SET seq = ? WHERE seq = ?", (new, old))
    elif kind == "insert":
        _, seq, source = change
        columns = ", ".join(COLUMNS[:11] + COLUMNS[12:])
        connection.execute(
            f"INSERT OR IGNORE INTO audit_event (seq, {columns}) "  # noqa: S608
            f"SELECT ?, {columns} FROM audit_event WHERE seq = ?",
            (seq, source),
        )
    elif kind == "drop checkpoint":
        checkpoints.pop(change[1], None)
    elif kind == "rehash":
        _rehash(connection, change[1])
    else:  # a checkpoint where none was signed, with a made-up signature
        seq = change[1]
        checkpoints[seq] = (seq, "0" * 64, KEY_ID, "0" * 64, EVERY, MINUTES)


def _rehash(connection: sqlite3.Connection, since: int) -> None:
    """Recompute every link and hash from event `since` on over the stored values, as an
    intruder without the checkpoint key would (a row the writer's text refuses keeps its hash)."""
    before = connection.execute(
        "SELECT hash FROM audit_event WHERE seq < ? ORDER BY seq DESC LIMIT 1", (since,)
    ).fetchone()
    prev = GENESIS_HASH if before is None else before[0]
    rows = connection.execute(
        f"SELECT rowid, {', '.join(COLUMNS[:14])}, hash FROM audit_event "  # noqa: S608
        "WHERE seq >= ? ORDER BY seq",
        (since,),
    ).fetchall()
    for rowid, *fields, stored in rows:
        fields[8] = sqlite_time_text(fields[8]) or fields[8]
        try:
            digest = chain_hash(prev, content_text(*fields))
        except TypeError:
            digest = stored
        connection.execute(
            "UPDATE audit_event SET prev_hash = ?, hash = ? WHERE rowid = ?",
            (prev, digest, rowid),
        )
        prev = digest


def _one_by_one(self: Walk, batch: list[tuple[Any, ...]], at: Any) -> None:
    for row in batch:
        self.step(row, at)


def _walks(path: Path, changes: list[tuple[Any, ...]], batch: int) -> Iterator[Stretch]:
    """The trail walked with batches of `batch`, in two stretches (as two workers walk it)
    and in one; then the same by the reference."""
    for reference in (False, True):
        connection, trail = _trail(path, changes)
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(walk, "FETCH_BATCH", batch)
                if reference:
                    patch.setattr(Walk, "walk_batch", _one_by_one)
                for start, end, final in ((1, EVENTS + 3, True), (1, 9, False), (10, 30, True)):
                    yield Walk(connection, "sqlite", trail, sqlite3.Error).stretch(
                        start, end, final=final
                    )
        finally:
            connection.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(edits, min_size=0, max_size=3), rehash, st.sampled_from([1, 3, 4, 7, 10_000]))
def test_the_batched_walk_names_what_the_reference_names(
    trail_file: Path, changes: list[tuple[Any, ...]], then: tuple[Any, ...] | None, batch: int
) -> None:
    found = list(_walks(trail_file, [*changes, *([then] if then else [])], batch))
    half = len(found) // 2
    assert found[:half] == found[half:]


def test_an_untouched_trail_walks_clean(trail_file: Path) -> None:
    whole, first, second, *_ = _walks(trail_file, [], 4)
    assert whole.fault is None
    assert whole.count == EVENTS
    assert (first.count, second.count) == (9, EVENTS - 9)
    assert first.fault is None
    assert second.fault is None
    assert second.first_prev == first.last_hash


@pytest.mark.parametrize(
    ("changes", "seq", "message"),
    [
        ([("set", 12, "outcome", "denied")], 12, "no longer matches its hash"),
        ([("set", 12, "detail", '{"page": 1}'), ("rehash", 12)], 12, "not RFC 8785"),
        ([("set", 7, "agreement_id", "x"), ("rehash", 7)], 7, "agreement_id holds a str"),
        (
            [("set", 12, "occurred_at", "2026-01-01 23:00:00.000000"), ("rehash", 12)],
            12,
            "should carry a signed checkpoint",
        ),
        ([("set", 12, "outcome", "denied"), ("rehash", 12)], None, "rewritten"),
    ],
)
def test_what_the_comparison_sees(
    trail_file: Path, changes: list[tuple[Any, ...]], seq: int | None, message: str
) -> None:
    """The comparison above can only fail usefully if edits are seen at all, rehashed ones
    included: each is named at its event by the batched walk."""
    whole, *_ = _walks(trail_file, changes, 4)
    assert whole.fault is not None
    assert message in whole.fault.message
    if seq is not None:
        assert whole.fault.seq == seq
