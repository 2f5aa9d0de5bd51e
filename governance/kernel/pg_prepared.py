"""PostgreSQL's prepared statements kept across a rolled-back request.

psycopg prepares a statement on the server once a connection has run it five times, and from
then on the server neither parses nor plans it again. But psycopg's `rollback()` forgets every
prepared statement of the connection (and sends `DEALLOCATE ALL`) and resets its counts: a
transaction that created a table and was rolled back could otherwise leave a statement prepared
against the table that no longer exists. A page that only reads ends its transaction with a
rollback (the session is closed without a commit), so on PostgreSQL the pages never reached the
fifth execution: every statement of every page was parsed and planned again, about half of the
backend's CPU per page (dashboard 2.0 -> 1.2 ms, agreement page 2.7 -> 1.2, access review
1.0 -> 0.3, measured on the page bench's world; docs/benchmarks.md, `pagerows`).

Here a transaction whose statements were all plain reads and writes (no DDL, nothing else
that changes what a prepared statement refers to) is rolled back by sending ROLLBACK through
libpq just before SQLAlchemy asks psycopg to: psycopg then finds the connection idle and has
nothing to roll back, so it keeps its prepared statements. PostgreSQL keeps them too: a
prepared statement is not transactional (it outlives a ROLLBACK of the transaction that
prepared it). The rollback itself is the same: what the transaction wrote is discarded. A
transaction that failed (psycopg's "in error" state), ran anything but plain statements, or
uses psycopg's own transaction blocks, pipelines or two-phase commit is left to psycopg, as
before; so is every failure of the libpq ROLLBACK (psycopg's rollback then runs and reports
it, through SQLAlchemy's disconnect handling).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import Engine, event

# Statements that cannot change what a prepared statement refers to.
_PLAIN = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "SAVEPOINT", "RELEASE", "LOCK"}
)
# Marks, on the pool record's info, a transaction that ran a statement not in _PLAIN.
_NOT_PLAIN = "governance_not_plain"


def keep_prepared_statements(engine: Engine) -> None:
    """Install the rollback that keeps prepared statements on a PostgreSQL `engine`."""
    event.listen(engine, "before_cursor_execute", _note_statement)
    event.listen(engine, "rollback", _rollback_keeping_prepared)
    event.listen(engine, "commit", _forget)


def _note_statement(
    connection: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    words = statement[:64].split(None, 1)
    if not words or words[0].upper() not in _PLAIN:
        connection.info[_NOT_PLAIN] = True


def _forget(connection: Any) -> None:
    connection.info.pop(_NOT_PLAIN, None)


def _rollback_keeping_prepared(connection: Any) -> None:
    # An invalidated connection (one that met a dead server) is not asked anything: even its
    # `info` would try to reconnect; SQLAlchemy's own rollback deals with it.
    if connection.invalidated or connection.closed:
        return
    if connection.info.pop(_NOT_PLAIN, False):
        return
    dbapi_connection = connection.connection.dbapi_connection
    if not _plain_transaction(dbapi_connection):
        return
    from psycopg import generators

    # Whatever happens here, psycopg's rollback follows (SQLAlchemy calls it next): it finds
    # the connection idle after a ROLLBACK that worked, and otherwise rolls back, or reports
    # the broken connection, as it always did.
    with suppress(Exception), dbapi_connection.lock:
        pgconn = dbapi_connection.pgconn
        pgconn.send_query(b"ROLLBACK")
        dbapi_connection.wait(generators.execute(pgconn))


def _plain_transaction(dbapi_connection: Any) -> bool:
    """A psycopg connection in a healthy transaction begun by SQLAlchemy, nothing else."""
    return (
        psycopg_in(dbapi_connection, "INTRANS")
        and not dbapi_connection.closed
        and not getattr(dbapi_connection, "_num_transactions", 1)
        and getattr(dbapi_connection, "_tpc", True) is None
    )


def psycopg_in(dbapi_connection: Any, status: str) -> bool:
    """Whether `dbapi_connection` is a plain psycopg connection (not autocommit, no pipeline)
    whose transaction status is `status` (libpq's name: IDLE, INTRANS...). Only a psycopg
    connection has a libpq `pgconn`; psycopg is imported only then (a SQLite command's start
    does not pay for it)."""
    if getattr(dbapi_connection, "pgconn", None) is None:
        return False
    from psycopg import Connection, pq

    return (
        type(dbapi_connection) is Connection
        and not dbapi_connection.autocommit
        and dbapi_connection.pgconn.transaction_status == pq.TransactionStatus[status]
        and dbapi_connection.pgconn.pipeline_status == pq.PipelineStatus.OFF
    )
