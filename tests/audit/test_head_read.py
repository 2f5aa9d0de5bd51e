"""The audit chain head read under lock on the connection's kept driver cursor: the values
SQLAlchemy's own SELECT gives, no statement through SQLAlchemy's execution, the row still
locked until the transaction ends (PostgreSQL) and SQLite's write lock taken first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError, NoResultFound, OperationalError
from sqlalchemy.orm import Session

from governance.audit import head as chain
from governance.audit import service as audit
from governance.audit.models import AuditHead, AuditType
from governance.kernel import append_only
from governance.kernel.db import Database, reading_first
from governance.kernel.extensions import database
from tests.support import People


def _record(db: Session, people: People, page: int) -> int:
    return audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"page": page})


def test_the_head_read_gives_sqlalchemys_values_without_its_execution(
    app: Flask, db: Session, people: People
) -> None:
    for page in range(7):  # past a checkpoint: last_checkpoint_at is set
        _record(db, people, page)
        db.commit()
    columns = [getattr(AuditHead, name) for name in chain.Head._fields]
    expected = chain.Head(*db.execute(select(*columns).where(AuditHead.id == 1)).one())
    assert isinstance(expected.last_checkpoint_at, dt.datetime)
    db.rollback()
    connection = db.connection()
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    event.listen(connection, "before_cursor_execute", note)
    try:
        head = chain.read(connection)
    finally:
        event.remove(connection, "before_cursor_execute", note)
    assert seen == []  # on the driver's kept cursor, as the append
    assert head == expected
    assert head.last_checkpoint_at is not None
    assert head.last_checkpoint_at.utcoffset() == dt.timedelta(0)
    assert [type(value) for value in head] == [type(value) for value in expected]
    db.rollback()


def test_a_missing_head_row_fails_the_write(app: Flask, db: Session, people: People) -> None:
    # The head's triggers refuse the DELETE: dropped in the same transaction, which restores
    # them as it rolls back (DDL is transactional on both databases).
    for statement in append_only.drop_statements(append_only.HEAD_TABLE, db.bind.dialect.name):
        db.execute(text(statement))
    db.execute(text("DELETE FROM audit_head"))
    with pytest.raises(NoResultFound):
        chain.read(db.connection())
    db.rollback()


def test_the_head_read_holds_the_row_lock_until_the_transaction_ends(
    app: Flask, db: Session, people: People, database_url: str
) -> None:
    if database(app).is_sqlite:
        pytest.skip("PostgreSQL's row lock (SQLite: the next test)")
    _record(db, people, 0)
    db.commit()
    chain.read(db.connection())
    other = Database(database_url, info=database(app).info)
    try:
        with other.engine.connect() as connection:
            with pytest.raises(OperationalError, match="lock"):
                connection.execute(text("SELECT seq FROM audit_head FOR UPDATE NOWAIT"))
            connection.rollback()
            db.rollback()
            assert connection.execute(
                text("SELECT seq FROM audit_head FOR UPDATE NOWAIT")
            ).scalar_one()
    finally:
        other.dispose()


def test_a_request_that_read_first_takes_sqlites_write_lock_before_the_head(
    app: Flask, db: Session, people: People
) -> None:
    if not database(app).is_sqlite:
        pytest.skip("SQLite's deferred transactions")
    _record(db, people, 0)
    db.commit()
    engine = database(app).engine
    with reading_first(), Session(engine, info=db.info) as session:
        connection = session.connection()
        raw = connection.connection.dbapi_connection
        assert not raw.in_transaction or connection.info.get("governance_deferred")
        chain.read(connection)
        assert not connection.info.get("governance_deferred")  # BEGIN IMMEDIATE taken
        assert raw.in_transaction
        session.rollback()


def test_a_head_read_on_a_connection_the_server_ended_invalidates_it(
    app: Flask, db: Session, people: People
) -> None:
    """As SQLAlchemy's own execution did: the driver's error raised as SQLAlchemy's, the dead
    connection invalidated so the pool connects afresh."""
    if database(app).is_sqlite:
        pytest.skip("a PostgreSQL server ending a connection")
    connection = db.connection()
    pid = connection.connection.dbapi_connection.info.backend_pid
    with database(app).engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    with pytest.raises(DBAPIError) as raised:
        chain.read(connection)
    assert raised.value.connection_invalidated
    db.rollback()
    assert db.execute(text("SELECT 1")).scalar_one() == 1  # a fresh connection
    db.rollback()


def test_an_append_on_a_connection_the_server_ended_invalidates_it(
    app: Flask, db: Session, people: People
) -> None:
    """The append (a guess of the head: no read first) meets the dead connection: raised as
    SQLAlchemy's error with the connection invalidated, as the head's read is, so the pool
    connects afresh and the chain goes on from the head the server kept."""
    if database(app).is_sqlite:
        pytest.skip("a PostgreSQL server ending a connection")
    _record(db, people, 0)
    db.commit()
    connection = db.connection()
    engine = connection.engine
    chain._not_guessing.pop(engine, None)
    assert chain.remembered(connection) is not None  # the append goes straight to the server
    pid = connection.connection.dbapi_connection.info.backend_pid
    with engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    with pytest.raises(DBAPIError) as raised:
        _record(db, people, 1)
    assert raised.value.connection_invalidated
    db.rollback()
    seq = _record(db, people, 2)  # on a fresh connection
    db.commit()
    assert db.execute(text("SELECT max(seq) FROM audit_event")).scalar_one() == seq
    db.rollback()
