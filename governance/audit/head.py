"""The audit chain head: read it under lock, and move it with each new event in one statement.

Every audited action appends an event, so this is the hottest write of the service; each
statement it saves is a round trip saved on PostgreSQL for every read of data. An event is
written by one statement that moves the head from the one the event was chained to and inserts
the event only if the head moved (PostgreSQL: an `UPDATE ... RETURNING` in a `WITH` feeding an
`INSERT ... SELECT`, atomic as one statement; SQLite, which has no writing `WITH`, inserts the
event selected from the head row, then moves the head: two statements under the write lock its
`BEGIN IMMEDIATE` took).

The head an event is chained to is either read under lock in the writing transaction, or the
head this process last wrote or read (`remembered`), which is only a guess: the statement then
also requires the stored head to equal it in every field the event depends on (seq, hash,
checkpoint and cadence, format), and writes nothing when another writer moved it. The head row
is locked by the UPDATE until the transaction ends (PostgreSQL re-checks the condition against
a row another transaction changed meanwhile), so writers still append in turn and the chain
never forks; a missed guess costs a read under lock and a second statement.

A guess only pays while this process is the one writing. Where several processes write (the
served API's workers), the head another one moved is the rule: measured with 4 workers, 95 %
(SQLite) to 99 % (PostgreSQL) of the guesses missed, each costing a statement (a round trip on
PostgreSQL), a hash and a signature for nothing before the read under lock. So after a missed
guess the next `GUESS_AGAIN_AFTER` appends of this process read the head under lock first (two
statements, not three), then it guesses once more; a process writing alone keeps guessing.
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Engine, TypeDecorator
from sqlalchemy.exc import NoResultFound

from governance.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from governance.kernel.db import driver_cursor, driver_failed, writing

HEAD_ID = 1


class Head(NamedTuple):
    seq: int
    hash: str
    last_checkpoint_seq: int
    last_checkpoint_at: dt.datetime | None
    cadence_events: int | None
    cadence_minutes: int | None
    format_since: int


class HeadInconsistent(RuntimeError):
    """The head row contradicts itself: it was edited outside the application."""


_WAS = tuple(f"was_{name}" for name in Head._fields)
# The head each database's writers in this process last saw, by engine (a guess, see above).
_remembered: weakref.WeakKeyDictionary[Engine, Head] = weakref.WeakKeyDictionary()
#: Appends that read the head under lock before this process guesses again after a miss.
GUESS_AGAIN_AFTER = 16
# How many appends are still to read first, by engine (only after a missed guess).
_not_guessing: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def read(connection: Connection) -> Head:
    """The head, locked until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already holds the write lock), checked for consistency and remembered.

    Read on the connection's kept driver cursor, as the append is written: where several
    processes write (the served API's workers) most appends read the head first, and
    SQLAlchemy's execution of this one-row SELECT (its compiled cache, execution context and
    result) cost more CPU than the append itself. The one typed column is converted by the
    column type's own result processor, so the values are those SQLAlchemy would give."""
    dialect = connection.dialect
    sql, convert = _head_reader(dialect)
    if not connection.in_transaction():
        connection.begin()  # what SQLAlchemy's execute would do (its begin hooks run)
    # As the append: SQLite's write lock first when the transaction began deferred (the
    # SELECT ... FOR UPDATE through SQLAlchemy took it in the engine's hook).
    writing(connection)
    cursor = driver_cursor(connection)
    driver_error = dialect.loaded_dbapi.Error
    try:
        cursor.execute(sql)
        # Every row: a SQLite statement left unfinished on a kept cursor holds its snapshot.
        rows = cursor.fetchall()
    except driver_error as error:
        driver_failed(connection, error, sql)
    if len(rows) != 1:
        raise NoResultFound("The audit chain head row is missing: run `governance init`.")
    head = Head(*convert(rows[0]))
    if not 1 <= head.format_since <= head.seq + 1:
        # Only an edit of the head row gets here; writing on would bury it under new events.
        raise HeadInconsistent(
            f"The audit chain head is inconsistent (format_since="
            f"{head.format_since}, seq={head.seq}): run `governance audit "
            f"verify`. Nothing is written until it is resolved."
        )
    _remembered[connection.engine] = head
    return head


_head_readers: dict[tuple[str, str], tuple[str, Callable[[Any], tuple[Any, ...]]]] = {}


def _head_reader(dialect: Any) -> tuple[str, Callable[[Any], tuple[Any, ...]]]:
    """The head's SELECT (with the row lock on PostgreSQL) and the conversion of its row, once
    per dialect: `last_checkpoint_at` through `UTCDateTime`'s result processor (SQLite's text
    parsed, PostgreSQL's zone made UTC), the other columns as the driver gives them."""
    key = (dialect.name, dialect.driver)
    found = _head_readers.get(key)
    if found is not None:
        return found
    table = AuditHead.__table__
    names = list(Head._fields)
    lock = "" if dialect.name == "sqlite" else " FOR UPDATE"
    sql = f"SELECT {', '.join(names)} FROM audit_head WHERE id = {HEAD_ID}{lock}"
    processors = [
        table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in names
    ]

    def convert(row: Any) -> tuple[Any, ...]:
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(processors, row, strict=True)
        )

    _head_readers[key] = (sql, convert)
    return sql, convert


def remembered(connection: Connection) -> Head | None:
    """The head this process last wrote or read on this database, unchecked; None (read the
    head under lock) for the `GUESS_AGAIN_AFTER` appends after a missed guess."""
    engine = connection.engine
    skipped = _not_guessing.get(engine)
    if skipped:
        _not_guessing[engine] = skipped - 1
        return None
    return _remembered.get(engine)


def forget(connection: Connection) -> None:
    """The guess missed: another writer moved the head (or this one's event rolled back)."""
    engine = connection.engine
    _remembered.pop(engine, None)
    _not_guessing[engine] = GUESS_AGAIN_AFTER


def append(
    connection: Connection,
    *,
    was: Head,
    guarded: bool,
    event: Mapping[str, Any],
    head: Mapping[str, Any],
    checkpoint: Mapping[str, Any] | None,
    now: Head,
    occurred_at_text: str | None = None,
) -> bool:
    """Insert `event` (its columns) and set the head's columns `head`, chained to the head
    `was`; insert `checkpoint` too when one is due; remember `now` as the head. `guarded`:
    `was` is a guess, so write only if the stored head is still exactly `was`; unguarded, the
    caller read `was` under lock in this transaction. False when nothing was written.
    `occurred_at_text`: the event time's `utc_text`, when the caller already made it."""
    dialect = connection.dialect
    sqlite = dialect.name == "sqlite"
    statements = _statements(dialect.name, dialect.driver, guarded, tuple(head))
    driver_error = dialect.loaded_dbapi.Error
    values = dict(event)
    values.update({f"new_{name}": value for name, value in head.items()})
    if guarded:
        values.update(zip(_WAS, was, strict=True))
    if sqlite:
        values["occurred_at"] = (
            stored_time(occurred_at_text) if occurred_at_text else _time(values["occurred_at"])
        )
        if "new_last_checkpoint_at" in values:
            values["new_last_checkpoint_at"] = _time(values["new_last_checkpoint_at"])
        if guarded and was.last_checkpoint_at is not None:
            values["was_last_checkpoint_at"] = _time(was.last_checkpoint_at)
    # A request that read first (kernel/db.py) takes SQLite's write lock before the guard reads
    # the stored head: the driver's cursor bypasses the hook that would take it.
    writing(connection)
    cursor = driver_cursor(connection)  # the connection's, kept (kernel/db.py)
    written = _run(connection, cursor, driver_error, statements[0], values) == 1
    if written:
        for statement in statements[1:]:
            _run(connection, cursor, driver_error, statement, values)
        if checkpoint is not None:
            stored = dict(checkpoint)
            if sqlite:
                stored["created_at"] = _time(stored["created_at"])
            _run(
                connection,
                cursor,
                driver_error,
                _insert_checkpoint(dialect.name, dialect.driver),
                stored,
            )
    if not written:
        forget(connection)
        return False
    _remembered[connection.engine] = now
    return True


def _run(
    connection: Connection, cursor: Any, driver_error: Any, sql: str, values: Mapping[str, Any]
) -> int:
    """Execute on the driver's cursor (SQLAlchemy's per-statement bookkeeping would cost more
    than the write); a driver error is raised as SQLAlchemy's, a disconnect invalidating the
    connection, as the head's read does."""
    try:
        cursor.execute(sql, values)
    except driver_error as error:
        driver_failed(connection, error, sql)
    return int(cursor.rowcount)


def _time(moment: dt.datetime) -> str:
    """A UTC time as SQLAlchemy stores it in SQLite (what the verifier parses):
    `YYYY-MM-DD HH:MM:SS.ffffff`. One `isoformat` of the UTC time, cut: `astimezone` and
    `replace` each cost as much as the formatting, and this runs for every event written.
    The last time formatted is kept: a guarded write passes its head's last checkpoint time,
    the same for a thousand events."""
    global _last_time
    last = _last_time
    if last[0] is moment:
        return last[1]
    text = stored_time(utc_text(moment))
    _last_time = (moment, text)
    return text


_last_time: tuple[dt.datetime | None, str] = (None, "")


def utc_text(moment: dt.datetime) -> str:
    """`moment` in UTC as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (years below 1000 padded to four
    digits, as `format_time` writes them): the canonical time is its first 26 characters and
    a Z, the SQLite form the same with a space for the T."""
    utc = moment if moment.tzinfo is dt.UTC else moment.astimezone(dt.UTC)
    return utc.isoformat(timespec="microseconds")


def canonical_time(text: str) -> str:
    """`format.format_time` of the time whose `utc_text` is `text`."""
    return f"{text[:26]}Z"


def stored_time(text: str) -> str:
    """The SQLite form of the time whose `utc_text` is `text`."""
    return f"{text[:10]} {text[11:26]}"


@functools.cache
def _statements(
    dialect: str, driver: str, guarded: bool, head_columns: tuple[str, ...]
) -> tuple[str, ...]:
    """The SQL of one write: the first statement writes the event (and on PostgreSQL moves
    the head); it writes one row, or none when the guard failed."""
    mark = _marker(dialect, driver)
    where = [f"id = {HEAD_ID}"]
    if guarded:
        null_safe = "IS" if dialect == "sqlite" else "IS NOT DISTINCT FROM"
        where += [
            f"{name} {null_safe if AuditHead.__table__.c[name].nullable else '='} "
            f"{mark('was_' + name)}"
            for name in Head._fields
        ]
    condition = " AND ".join(where)
    event_columns = AuditEvent.__table__.columns
    columns = ", ".join(column.name for column in event_columns)
    assignments = ", ".join(f"{name} = {mark('new_' + name)}" for name in head_columns)
    if dialect == "sqlite":
        selected = ", ".join(mark(column.name) for column in event_columns)
        return (
            f"INSERT INTO audit_event ({columns}) SELECT {selected} FROM audit_head "
            f"WHERE {condition}",
            f"UPDATE audit_head SET {assignments} WHERE id = {HEAD_ID}",
        )
    # Typed, as nothing else tells PostgreSQL a NULL's type in a SELECT list.
    typed = ", ".join(f"{mark(column.name)}::{_pg_type(column)}" for column in event_columns)
    return (
        f"WITH moved AS (UPDATE audit_head SET {assignments} WHERE {condition} RETURNING id) "
        f"INSERT INTO audit_event ({columns}) SELECT {typed} FROM moved",
    )


# The widest type of each kind: the INSERT's assignment then checks lengths and ranges.
_PG_TYPES = {int: "bigint", str: "text", dt.datetime: "timestamptz"}


def _pg_type(column: ColumnElement[Any]) -> str:
    stored = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
    return _PG_TYPES[stored.python_type]


@functools.cache
def _insert_checkpoint(dialect: str, driver: str) -> str:
    mark = _marker(dialect, driver)
    names = [column.name for column in AuditCheckpoint.__table__.columns]
    return (
        f"INSERT INTO audit_checkpoint ({', '.join(names)}) "
        f"VALUES ({', '.join(mark(name) for name in names)})"
    )


def _marker(dialect: str, driver: str) -> Callable[[str], str]:
    """How the driver names a parameter: sqlite3 `:name`, psycopg `%(name)s`."""
    if dialect == "sqlite":
        return lambda name: f":{name}"
    if driver in {"psycopg", "psycopg2"}:
        return lambda name: f"%({name})s"
    raise NotImplementedError(f"the audit writer does not know the driver {driver}")
