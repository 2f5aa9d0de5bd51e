"""Production serving: gunicorn worker processes, plus the periodic jobs in the arbiter.

Processes rather than threads: pycasbin's matcher is not safe when threads share an enforcer.
Each worker builds its own app (no preloading), so each has its own connections and enforcers.
The periodic jobs (expiring agreements and grants, sweeping files) run on a timer in one extra
process started with `spawn`, so they run once per server, not once per worker.

The arbiter itself never opens the database: gunicorn forks workers from it, and a database
connection (SQLite's lock bookkeeping above all) must never be carried across fork().
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from typing import Any

from gunicorn.app.base import BaseApplication

from governance import periodic
from governance.kernel.config import ENV_PREFIX
from governance.kernel.types import utcnow

log = logging.getLogger(__name__)


class GovernanceServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from governance import create_app

        return create_app()


_scheduler: list[multiprocessing.process.BaseProcess] = []
STOP_TIMEOUT_S = 10.0


def _start_periodic_jobs(_arbiter: Any) -> None:
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=run_in_process, name="governance-periodic",
                              daemon=True)
    process.start()
    _scheduler.append(process)


def _stop_periodic_jobs(_arbiter: Any) -> None:
    for process in _scheduler:
        process.terminate()
        process.join(timeout=STOP_TIMEOUT_S)
        if process.is_alive():
            # A scheduler that does not stop on SIGTERM would outlive the server and keep
            # running jobs against the database (one was found ten minutes after its server
            # had stopped: docs/decisions/reliability.md).
            log.warning("the periodic jobs process %s did not stop; killing it", process.pid)
            process.kill()
            process.join(timeout=STOP_TIMEOUT_S)


def serve(*, bind: str, workers: int, timeout: int) -> None:
    # Each worker's app learns how many processes share the work: with memory throttle
    # storage each counts failed logins alone, so each allows its share (identity/web_throttle.py).
    os.environ[f"{ENV_PREFIX}SERVER_PROCESSES"] = str(workers)
    options = {
        "bind": bind,
        "workers": workers,
        "worker_class": "sync",
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": "-",
        "preload_app": False,
        "when_ready": _start_periodic_jobs,
        "on_exit": _stop_periodic_jobs,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
    }
    GovernanceServer(options).run()


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
                periodic.run_due_jobs(db.sessions, now=utcnow())
        except Exception:
            log.exception("periodic jobs failed; retrying at the next interval")
        stop.wait(interval)
