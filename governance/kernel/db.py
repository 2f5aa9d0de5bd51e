"""The declarative base, engines and the one session each request works in.

SQLite transactions start with BEGIN IMMEDIATE: every audited action reads the audit chain head
and then writes, and a deferred SQLite transaction that has read cannot always upgrade to a
write (SQLITE_BUSY_SNAPSHOT); taking the write lock up front keeps the chain a single line
across processes. PostgreSQL gets the same guarantee from a row lock on the chain head.

SQLite has one write lock for the whole database, so a transaction begun IMMEDIATE by a page
view held it for the whole view (4 to 15 ms of reading and rendering), and every request of
every worker waited in line. Work that only reads first (a GET: its only writes are the audit
events it records) runs `reading_first()`: its transactions begin deferred, reading a committed
snapshot without the lock, and its first write, or its first SELECT ... FOR UPDATE (the audit
chain head is read that way), ends the snapshot and takes the lock with BEGIN IMMEDIATE before
it runs. What it writes is then decided under the lock, as before; what it read before is a
snapshot a few milliseconds old, as a PostgreSQL statement's is under READ COMMITTED. Forms,
API writes, the CLI and the workers keep IMMEDIATE from the start: they read what they change.

Writers wait for their turn on a file lock, woken by the kernel when the writer before them
ends, rather than in SQLite's polling busy handler (kernel/writer_lock.py).

PostgreSQL connections are not pinged with a round trip at each checkout (`pool_pre_ping` cost
one of the five round trips of an audited decision). A server that ends a connection (a
restart, `pg_terminate_backend`, an idle timeout) sends its goodbye and closes the socket, so
an idle pooled connection whose socket has become readable is dead: `_check_alive` looks
without a round trip, and the pool replaces it (and every connection older than it) before the
request uses it. A connection that dies without a word (a cable, a crashed host) fails the
request that meets it, inside its transaction, so nothing of that request is committed: the
driver's error marks the connection broken, the rollback that follows invalidates the pool
(SQLAlchemy's disconnect detection), and the next request connects afresh. `pool_recycle`
bounds how long a connection can sit idle behind a firewall that drops it silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from select import POLLERR, POLLHUP, POLLIN, POLLNVAL, poll
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, exc, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from governance.kernel.config import private_file
from governance.kernel.pg_prepared import keep_prepared_statements, psycopg_in
from governance.kernel.writer_lock import LockingConnection, writer_lock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Whether this thread's (or task's) work reads first and writes only what it records.
_READING_FIRST: ContextVar[bool] = ContextVar("reading_first", default=False)
# Marks, on the DBAPI connection's record, a SQLite transaction begun deferred and not yet
# holding the write lock.
_DEFERRED = "governance_deferred"


@contextmanager
def reading_first() -> Iterator[None]:
    """Within this block SQLite transactions begin deferred and take the write lock at their
    first write (see the module's note); PostgreSQL is unaffected."""
    token = _READING_FIRST.set(True)
    try:
        yield
    finally:
        _READING_FIRST.reset(token)


def set_reading_first(value: bool) -> None:
    """For request hooks, which cannot wrap the request in a `with`: reset at teardown."""
    _READING_FIRST.set(value)


def _writes(statement: str, context: Any) -> bool:
    """Whether a statement needs SQLite's write lock: anything but a plain read, and a
    SELECT ... FOR UPDATE (a read whose answer decides a write, like the audit chain head)."""
    compiled = getattr(context, "compiled", None)
    if compiled is not None and getattr(compiled.statement, "_for_update_arg", None) is not None:
        return True
    # A SAVEPOINT counts as a write: taking the lock later would end the snapshot, and the
    # savepoint with it.
    words = statement[:64].split(None, 1)
    return not words or words[0].upper() not in _NOT_WRITES


_NOT_WRITES = frozenset({"SELECT", "PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "RELEASE", "END"})


def writing(connection: Any) -> None:
    """Take SQLite's write lock now if this connection's transaction began deferred and has not
    taken it yet (a no-op otherwise, and on PostgreSQL). Statements sent through SQLAlchemy
    take it by themselves; code that writes on the driver's own cursor calls this first."""
    if not connection.info.get(_DEFERRED):
        return
    # Nothing has been written yet, so ending the snapshot loses nothing; the write (and the
    # read that decides it) then runs under the lock on the newest data.
    connection.info[_DEFERRED] = False
    dbapi_connection = connection.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("COMMIT")
    finally:
        cursor.close()
    # BEGIN IMMEDIATE after this process's turn at the writer lock (kernel/writer_lock.py).
    dbapi_connection.begin_writing()


#: Seconds after which a pooled PostgreSQL connection is replaced at its next checkout: a
#: firewall or NAT that forgets an idle connection says nothing, so none is trusted for long.
POOL_RECYCLE_S = 1800

_UNSOLICITED = POLLIN | POLLERR | POLLHUP | POLLNVAL


def _check_alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled PostgreSQL connection the server has ended, without a round trip.

    An idle connection between transactions expects nothing from the server; a readable (or
    hung-up) socket means the server sent its termination notice and closed it. Raising
    `InvalidatePoolError` makes the pool connect afresh, and invalidate the connections pooled
    before this one: a restart ended them too. A notice the server sends unasked on a live
    connection would cost a reconnection, nothing more."""
    if _ended_by_server(dbapi_connection):
        raise exc.InvalidatePoolError("the server ended the pooled connection")


def _ended_by_server(dbapi_connection: Any) -> bool:
    if dbapi_connection.closed or dbapi_connection.broken:
        return True
    watch = poll()
    watch.register(dbapi_connection.fileno(), _UNSOLICITED)
    return bool(watch.poll(0))


# Where a pooled DBAPI connection keeps its driver cursor (see `driver_cursor`).
_KEPT_CURSOR = "governance_driver_cursor"


def driver_cursor(connection: Any) -> Any:
    """The driver's cursor of `connection`'s DBAPI connection, for the statements run on the
    driver itself (the policy epoch's read, the audit append), kept with the connection.

    Every audited decision ran two such statements, each on a new cursor: a psycopg cursor is
    an object graph (its adapters, its transformer) built and thrown away per statement, and
    its transformer looks up a dumper for every parameter's type again; kept, the lookups are
    done once per connection (about 8 µs of CPU a statement on PostgreSQL). It lives in the
    pool record's `info`, which SQLAlchemy clears when the DBAPI connection is replaced; the
    check on `connection` below covers a record reused by another DBAPI connection anyway.
    Callers never close it (a closed psycopg cursor is replaced here all the same)."""
    fairy = connection.connection
    dbapi_connection = fairy.dbapi_connection
    info = fairy.info
    cursor = info.get(_KEPT_CURSOR)
    if (
        cursor is None
        or cursor.connection is not dbapi_connection
        or getattr(cursor, "closed", False)
    ):
        cursor = info[_KEPT_CURSOR] = dbapi_connection.cursor()
    return cursor


def driver_failed(connection: Connection, error: Exception, statement: str) -> NoReturn:
    """Raise the driver's `error` from a statement run on `connection`'s kept driver cursor as
    SQLAlchemy raises its own statements' errors: its `DBAPIError` subclass, and a disconnect
    invalidating the connection so that the rollback does not touch it and the pool connects
    afresh (the policy epoch's read, the audit head's read and the append all run there).

    Uses SQLAlchemy's private `Connection._handle_dbapi_exception`, which its own execution
    uses: no public call does the disconnect handling. No parameters are passed (they would
    appear in the error's text and the logs: an audit event's values are personal data), and
    no cursor (SQLAlchemy would close it, and it is the connection's)."""
    connection._handle_dbapi_exception(error, statement, (), None, None)


def fetch_opening(dbapi_connection: Any, cursor: Any, sql: str) -> tuple[Any, ...] | None:
    """The first row of the parameterless SELECT `sql`, run on the driver's `cursor`.

    When `sql` opens a PostgreSQL transaction, psycopg would first send BEGIN and wait for its
    answer, then send the statement: two round trips. Here both go in one simple-protocol
    message (`BEGIN;SELECT ...`), exactly the BEGIN psycopg would have sent (only when no
    isolation level, read-only or deferrable option asks for another), and both answers come
    back together: an audited read's first statement is the policy epoch's SELECT, so every
    read saves a round trip. The values come back as text (the simple protocol's), which the
    caller converts. Errors are psycopg's, raised as its cursor would raise them; psycopg reads
    the transaction's state from libpq, so its COMMIT and ROLLBACK follow as usual. SQLite, and
    a transaction already begun, use the cursor."""
    if _begin_with(dbapi_connection):
        return _begin_and_fetch(dbapi_connection, sql)
    cursor.execute(sql)
    # Every row, not one: a SQLite statement left unfinished on a kept cursor (driver_cursor)
    # would hold its read snapshot past the transaction's end.
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows[0] if rows else None


# What psycopg has made its BEGIN command so far (it builds and keeps it at the first BEGIN).
_PLAIN_BEGIN = (b"", b"BEGIN")


def _begin_with(dbapi_connection: Any) -> bool:
    return (
        psycopg_in(dbapi_connection, "IDLE")
        and dbapi_connection.isolation_level is None
        and dbapi_connection.read_only is None
        and dbapi_connection.deferrable is None
        and getattr(dbapi_connection, "_begin_statement", b"") in _PLAIN_BEGIN
    )


def _begin_and_fetch(connection: Any, sql: str) -> tuple[Any, ...] | None:
    from psycopg import errors, generators, pq

    with connection.lock:
        connection._check_connection_ok()  # closed or broken: psycopg's own error
        pgconn = connection.pgconn
        pgconn.send_query(b"BEGIN;" + sql.encode())
        results = connection.wait(generators.execute(pgconn))
    for result in results:
        if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            raise errors.error_from_result(result, encoding=pgconn._encoding)
    last = results[-1]
    if last.ntuples == 0:
        return None
    values = (last.get_value(0, column) for column in range(last.nfields))
    return tuple(None if value is None else bytes(value).decode() for value in values)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine with the pragmas and transaction mode this service relies on."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "checkout", _check_alive)
        keep_prepared_statements(engine)
        return engine
    path = make_url(url).database
    lock = None
    if path and path != ":memory:" and not path.startswith("file:"):
        # The database holds personal data and wrapped file keys: owner-only from the start
        # (SQLite would create it, and its -wal and -shm files, readable by everyone).
        private_file(Path(path))
        lock = writer_lock(Path(path))
    engine = create_engine(
        url, connect_args={"timeout": 30, "factory": LockingConnection}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL makes each commit durable: an access and its audit event survive a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        dbapi_connection.writer_lock = lock

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        deferred = read_only or _READING_FIRST.get()
        if deferred:
            connection.exec_driver_sql("BEGIN")
        else:
            connection.connection.dbapi_connection.begin_writing()
        connection.info[_DEFERRED] = deferred and not read_only

    @event.listens_for(engine, "before_cursor_execute")
    def _take_write_lock(
        connection: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if connection.info.get(_DEFERRED) and _writes(statement, context):
            writing(connection)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(connection: Any) -> None:
        connection.info.pop(_DEFERRED, None)

    return engine


class Database:
    """The engines and session factory of one application."""

    def __init__(self, url: str, *, info: dict[str, Any] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        # `info` travels with every session: services read the audit settings from it.
        self.info = dict(info or {})
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info=self.info)
        self._read_engine: Engine | None = None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def read_engine(self) -> Engine:
        """A second engine for long read-only streams (exports), which must not hold SQLite's
        write lock while they stream."""
        if self._read_engine is None:
            self._read_engine = (
                make_engine(self.url, read_only=True) if self.is_sqlite else self.engine
            )
        return self._read_engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for CLI commands and workers: the caller commits; errors roll back."""
        session = self.sessions()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not None and self._read_engine is not self.engine:
            self._read_engine.dispose()
