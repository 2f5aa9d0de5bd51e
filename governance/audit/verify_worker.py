"""`python -m governance.audit.verify_worker`: walks one stretch of the audit chain for
`audit_verify`, in a process of its own.

A fresh interpreter that imports only the DBAPI driver and the walk (not SQLAlchemy, not the
app): a spawned copy of the CLI re-imported the whole app, about a second of CPU per worker.
Its job comes on standard input and its result leaves on standard output; both pipes belong
to the verifying process that started it, never the command line. The job is small (where to
connect, the keys, the stretch's bounds): the worker reads its own stretch's checkpoints in the
same snapshot as its events, so no worker waits for another's job to be written. It is
started by `verify_start.start`, which a command can call before its own imports.
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass
from typing import Any

from governance.audit.walk import Stretch, Trail, Walk, read_checkpoints


@dataclass(frozen=True)
class Job:
    """One stretch for a worker process, with how to connect (the driver's own arguments) and
    what every stretch needs besides its rows and checkpoints (see `Trail`)."""

    dialect: str
    connect_args: list[Any]
    connect_kwargs: dict[str, Any]
    keys: dict[str, bytes]
    format_since: int
    head_seq: int
    start: int
    end: int
    final: bool

    def __repr__(self) -> str:  # the keys are never shown
        return f"Job({self.dialect}, {self.start}..{self.end}, final={self.final})"


def _driver(dialect: str) -> Any:
    if dialect == "sqlite":
        import sqlite3

        return sqlite3
    import psycopg

    return psycopg


def run_job(job: Job) -> Stretch:
    driver = _driver(job.dialect)
    connection: Any = driver.connect(*job.connect_args, **job.connect_kwargs)
    error: type[Exception] = driver.Error
    if job.dialect == "sqlite":
        # One read transaction: the checkpoints and the events from the same snapshot.
        connection.execute("BEGIN")
    else:
        connection.isolation_level = driver.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
    try:
        walk = Walk(
            connection,
            job.dialect,
            Trail(
                keys=job.keys,
                checkpoints=read_checkpoints(connection, job.dialect, job.start, job.end),
                format_since=job.format_since,
                head_seq=job.head_seq,
            ),
            error,
        )
        return walk.stretch(job.start, job.end, final=job.final)
    finally:
        connection.close()


def main() -> None:
    """The worker (`sys.argv[1]` its dialect): a pickled `Job` on standard input, the pickled
    `Stretch` on standard output (both pipes belong to the verifying process that started
    it). Standard input closed without a job (a worker started ahead and not needed) ends it
    quietly."""
    _driver(sys.argv[1])  # imported while the job is being prepared
    data = sys.stdin.buffer.read()
    if not data:
        return
    job = pickle.loads(data)  # noqa: S301  (from our own parent process)
    pickle.dump(run_job(job), sys.stdout.buffer)


if __name__ == "__main__":
    # Through the module's own name, so that what is pickled names
    # governance.audit.verify_worker, not __main__.
    from governance.audit.verify_worker import main as run

    run()
