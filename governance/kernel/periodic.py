"""Jobs the server runs on a timer: each workflow registers what must happen as time passes.

`governance expire` runs the same jobs once, with `--now` to simulate time. Every job takes a
session, the acting system identity and the moment it runs for, and commits nothing itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
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


JOBS: list[Registered] = []


def register(name: str) -> Callable[[PeriodicJob], PeriodicJob]:
    def decorator(job: PeriodicJob) -> PeriodicJob:
        JOBS.append(Registered(name, job))
        return job
    return decorator


def run_due_jobs(session_factory: Callable[[], Session], *, now: dt.datetime,
                 actor: System = SCHEDULER) -> dict[str, int]:
    """Run every job once, each in its own transaction; returns how many items each changed."""
    import governance.workflows  # noqa: F401  (registers every workflow's jobs)

    return {registered.name: run_job(session_factory, registered.job, now=now, actor=actor)
            for registered in JOBS}


def run_job(session_factory: Callable[[], Session], job: PeriodicJob, *,
            now: dt.datetime | None = None, actor: System = SCHEDULER) -> int:
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


def run_in_process() -> None:
    """Entry point of the scheduler process: run the jobs until SIGTERM."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # If the server is killed outright (SIGKILL) nobody sends SIGTERM: notice being orphaned
    # (our parent changes) and stop, rather than run the jobs on behind a dead server.
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(), stop), daemon=True,
                     name="orphan-watch").start()
    logging.basicConfig(level=logging.INFO)
    run_forever(stop)


def _stop_when_orphaned(parent: int, stop: threading.Event) -> None:
    while not stop.wait(2):
        if os.getppid() != parent:
            log.warning("the server process is gone; the periodic jobs stop")
            stop.set()


def run_forever(stop: threading.Event) -> None:
    from governance import create_app
    from governance.kernel.extensions import database

    app = create_app()
    interval = 60 * app.config["EXPIRY_CHECK_MINUTES"]
    db = database(app)
    while not stop.is_set():
        try:
            with app.app_context():
                run_due_jobs(db.sessions, now=utcnow())
        except Exception:
            log.exception("periodic jobs failed; retrying at the next interval")
        stop.wait(interval)
