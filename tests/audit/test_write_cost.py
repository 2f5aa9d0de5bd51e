"""The audit write's shortcuts give exactly what the slower forms gave: the event time formatted
once (hashed and stored text), the head signed with precomputed HMAC pads, and on PostgreSQL
the transaction's BEGIN sent with the policy epoch's SELECT in one round trip."""

from __future__ import annotations

import datetime as dt
import hmac

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

from governance.audit import head as chain
from governance.audit import service as audit
from governance.audit.format import format_time, sign
from governance.audit.models import AuditType
from governance.audit.verify import verify_chain
from governance.authz.read_memo import read_epoch
from governance.kernel.db import fetch_opening
from governance.kernel.extensions import database
from tests.support import People

zones = st.one_of(
    st.just(dt.UTC),
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
    ),
)
moments = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=zones
)


@given(moment=moments)
def test_the_time_formatted_once_is_the_canonical_and_the_stored_text(moment: dt.datetime) -> None:
    once = chain.utc_text(moment)
    assert chain.canonical_time(once) == format_time(moment)
    # What SQLAlchemy stored for a UTC time in SQLite, and what the verifier parses.
    stored = moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    assert chain.stored_time(once) == stored
    assert chain._time(moment) == stored
    assert chain._time(moment) == stored  # the kept last time, the second time round


@given(key=st.binary(min_size=0, max_size=200), message=st.text())
def test_the_head_signature_is_openssls_hmac(key: bytes, message: str) -> None:
    assert audit._sign(key, message) == sign(key, message)
    assert audit._sign(key, message) == hmac.new(key, message.encode(), "sha256").hexdigest()


def test_the_written_trail_verifies(app: Flask, db: Session, people: People) -> None:
    # Across checkpoints (every 5 events in the tests) and a time zone other than UTC.
    moment = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    for page in range(12):
        audit.record(
            db,
            AuditType.AUDIT_SEARCH,
            by=people.compliance,
            detail={"page": page},
            now=moment + dt.timedelta(seconds=page),
        )
        db.commit()
    result = verify_chain(database(app).read_engine(), audit.settings_of(db))
    assert result.intact, result.summary()


def _postgres(app: Flask) -> None:
    if database(app).is_sqlite:
        pytest.skip("PostgreSQL's round trips")


def test_the_epoch_read_opens_the_transaction_in_one_round_trip(app: Flask, db: Session) -> None:
    _postgres(app)
    db.execute(text("UPDATE policy_epoch SET epoch = 41 WHERE id = 1"))
    db.commit()
    connection = db.connection()
    raw = connection.connection.dbapi_connection
    from psycopg import pq

    assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
    waits: list[object] = []
    wait = raw.wait
    raw.wait = lambda *args, **kwargs: (waits.append(args), wait(*args, **kwargs))[1]
    try:
        assert read_epoch(db) == 41
    finally:
        del raw.wait
    assert len(waits) == 1  # one answer waited for: BEGIN's and the SELECT's together
    # The server received them as one message.
    with database(app).engine.connect() as other:
        last = other.execute(
            text("SELECT query FROM pg_stat_activity WHERE pid = :pid"),
            {"pid": raw.info.backend_pid},
        ).scalar_one()
    assert last == "BEGIN;SELECT epoch FROM policy_epoch WHERE id = 1"
    # The transaction is open, as psycopg's own BEGIN would have left it, and ends as usual.
    assert raw.pgconn.transaction_status == pq.TransactionStatus.INTRANS
    assert db.execute(text("SELECT txid_current_if_assigned() IS NULL")).scalar_one()
    db.rollback()
    assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE


def test_a_failing_opening_statement_fails_as_the_cursor_would(app: Flask, db: Session) -> None:
    """(A connection ended unseen is tests/reliability/test_faults.py's: the epoch read is the
    first statement of the read it fails.)"""
    _postgres(app)
    import psycopg

    def opening(sql: str) -> tuple[object, ...] | None:
        raw = db.connection().connection.dbapi_connection
        return fetch_opening(raw, raw.cursor(), sql)

    with pytest.raises(psycopg.errors.UndefinedTable):
        opening("SELECT 1 FROM no_such_table")
    db.rollback()
    # The connection is usable afterwards; the simple protocol's values are text, and a
    # transaction already begun takes the cursor's path (typed values).
    assert opening("SELECT 7, NULL") == ("7", None)
    assert opening("SELECT 7, NULL") == (7, None)
    assert opening("SELECT 1 WHERE false") is None
    db.rollback()
    assert opening("SELECT 1 WHERE false") is None
    db.rollback()
    assert read_epoch(db) == 0


def test_the_driver_cursor_is_kept_with_its_connection(app: Flask, db: Session) -> None:
    """The epoch read and the audit append run on one cursor per DBAPI connection, across
    transactions and checkouts; a replaced connection gets its own."""
    from governance.kernel.db import driver_cursor

    first = driver_cursor(db.connection())
    assert driver_cursor(db.connection()) is first
    raw = db.connection().connection.dbapi_connection
    assert first.connection is raw
    db.commit()
    db.close()
    # The pool hands the same DBAPI connection out again: the same cursor comes with it.
    if db.connection().connection.dbapi_connection is raw:
        assert driver_cursor(db.connection()) is first
    db.rollback()
    db.close()
    engine = database(app).engine
    with engine.connect() as connection:
        kept = driver_cursor(connection)
        connection.invalidate()  # the DBAPI connection is closed and replaced
    with engine.connect() as connection:
        replaced = driver_cursor(connection)
        assert replaced is not kept
        assert replaced.connection is connection.connection.dbapi_connection
    assert read_epoch(db) == 0


def test_the_kept_cursor_serves_after_a_failed_statement(
    app: Flask, db: Session, people: People
) -> None:
    """A statement that fails on the kept cursor (the action fails with it) leaves it usable
    for the next transaction: the epoch is read and the event written and verifiable."""
    from sqlalchemy.exc import DBAPIError

    from governance.kernel.db import driver_cursor

    audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"page": 0})
    db.commit()
    connection = db.connection()
    cursor = driver_cursor(connection)
    with pytest.raises(DBAPIError):
        chain._run(
            connection, cursor, connection.dialect.loaded_dbapi.Error, "SELECT * FROM nowhere", {}
        )
    db.rollback()
    assert driver_cursor(db.connection()) is cursor
    db.execute(text("UPDATE policy_epoch SET epoch = 7 WHERE id = 1"))
    db.commit()
    assert read_epoch(db) == 7
    seq = audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"page": 1})
    db.commit()
    assert db.scalar(text("SELECT max(seq) FROM audit_event")) == seq
    db.rollback()
    result = verify_chain(database(app).read_engine(), audit.settings_of(db))
    assert result.intact, result.summary()


def test_a_failed_epoch_read_leaves_the_kept_cursor_open(app: Flask, db: Session) -> None:
    """SQLAlchemy closes the cursor it is handed with a failed statement: the epoch read
    hands it none, so the connection's kept cursor survives the error."""
    from governance.authz import read_memo
    from governance.kernel.db import driver_cursor

    cursor = driver_cursor(db.connection())
    db.rollback()
    original = read_memo._EPOCH
    read_memo._EPOCH = "SELECT epoch FROM no_such_table"
    try:
        with pytest.raises(Exception, match="no_such_table"):
            read_epoch(db)
    finally:
        read_memo._EPOCH = original
    db.rollback()
    assert driver_cursor(db.connection()) is cursor
    assert read_epoch(db) == 0


def test_the_kept_cursor_holds_no_sqlite_snapshot_after_commit(app: Flask, db: Session) -> None:
    """A SELECT of several rows read on the kept cursor is read to its end, so no statement
    outlives the transaction: a checkpoint by another connection finds no reader holding it."""
    if not database(app).is_sqlite:
        pytest.skip("SQLite's read snapshots")
    import sqlite3

    from governance.kernel.db import driver_cursor

    connection = db.connection()
    raw = connection.connection.dbapi_connection
    rows = "SELECT epoch FROM policy_epoch UNION ALL SELECT epoch + 1 FROM policy_epoch"
    assert fetch_opening(raw, driver_cursor(connection), rows) == (0,)
    db.commit()
    db.execute(text("UPDATE policy_epoch SET epoch = epoch + 1 WHERE id = 1"))
    db.commit()
    other = sqlite3.connect(make_url(database(app).url).database or "")
    try:
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0
