"""`python -m governance.audit.verify_worker`: walks one stretch of the audit chain for
`audit_verify`, in a process of its own.

A fresh interpreter that imports only the DBAPI driver and the walk (not SQLAlchemy, not the
app): a spawned copy of the CLI re-imported the whole app, about a second of CPU per worker.
Its job, keys included, comes on standard input and its result leaves on standard output; both
pipes belong to the verifying process that started it, never the command line.
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass
from typing import Any

from governance.audit.walk import Stretch, Trail, Walk


@dataclass(frozen=True)
class Job:
    """One stretch for a worker process, with how to connect (the driver's own arguments)."""

    dialect: str
    connect_args: list[Any]
    connect_kwargs: dict[str, Any]
    trail: Trail
    start: int
    end: int
    final: bool


def run_job(job: Job) -> Stretch:
    if job.dialect == "sqlite":
        import sqlite3

        connection: Any = sqlite3.connect(*job.connect_args, **job.connect_kwargs)
        error: type[Exception] = sqlite3.Error
    else:
        import psycopg

        connection, error = psycopg.connect(*job.connect_args, **job.connect_kwargs), psycopg.Error
    try:
        return Walk(connection, job.dialect, job.trail, error).stretch(
            job.start, job.end, final=job.final
        )
    finally:
        connection.close()


def main() -> None:
    """The worker: a pickled `Job` on standard input, the pickled `Stretch` on standard output
    (both pipes belong to the verifying process that started it)."""
    job = pickle.load(sys.stdin.buffer)  # noqa: S301  (from our own parent process)
    pickle.dump(run_job(job), sys.stdout.buffer)


if __name__ == "__main__":
    # Through the module's own name, so that what is pickled names
    # governance.audit.verify_worker, not __main__.
    from governance.audit.verify_worker import main as run

    run()
