"""Jobs that run as time passes: each workflow's job, listed in governance/registry.py.

Huey's scheduler runs them in the worker (analysis/worker.py, every EXPIRY_CHECK_MINUTES);
`governance expire` runs them once, with `--now` to simulate time. Every job takes a session,
the acting system identity and the moment it runs for, and commits nothing itself. `install`
puts the registry's list here when the app is built; nothing registers itself by being imported.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from governance.identity.actors import System
from governance.kernel.types import utcnow

log = logging.getLogger(__name__)

PeriodicJob = Callable[[Session, System, dt.datetime], int]
SCHEDULER = System("scheduler")


@dataclass(frozen=True)
class Registered:
    name: str
    job: PeriodicJob
    # Acts outside the database (deletes files, sends queue messages): a rollback cannot
    # undo it, so `governance expire` without --apply (a dry run) leaves it out.
    outside_database: bool = False


JOBS: list[Registered] = []


def install(jobs: Iterable[Registered]) -> None:
    """The jobs `run_due_jobs` runs, in order (the registry's list; installing twice is one)."""
    JOBS[:] = list(jobs)


def run_due_jobs(
    session_factory: Callable[[], Session], *, now: dt.datetime, actor: System = SCHEDULER
) -> dict[str, int]:
    """Run every job once, each in its own transaction; returns how many items each changed."""
    if not JOBS:
        raise RuntimeError("No periodic jobs are installed: build the app (create_app) first.")
    return {
        registered.name: run_job(session_factory, registered.job, now=now, actor=actor)
        for registered in JOBS
    }


def run_job(
    session_factory: Callable[[], Session],
    job: PeriodicJob,
    *,
    now: dt.datetime | None = None,
    actor: System = SCHEDULER,
) -> int:
    """Run one job in its own transaction (the analysis worker runs its reaper this way)."""
    session = session_factory()
    try:
        changed = job(session, actor, now or utcnow())
        session.commit()
        return changed
    except Exception:
        session.rollback()
        log.exception("periodic job %s failed", getattr(job, "__name__", job))
        raise
    finally:
        session.close()
