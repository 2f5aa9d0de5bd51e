"""Production serving: gunicorn worker processes, plus the periodic jobs in the arbiter.

Processes rather than threads: pycasbin's matcher is not safe when threads share an enforcer.
Each worker builds its own app (no preloading), so each has its own connections and enforcers.
The periodic jobs (expiring agreements and grants, sweeping files) run on a timer in one extra
process (`python -m governance.kernel.periodic`), so they run once per server, not once per worker.

The arbiter itself never opens the database: gunicorn forks workers from it, and a database
connection (SQLite's lock bookkeeping above all) must never be carried across fork().
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from governance.kernel.config import ENV_PREFIX

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


# The scheduler is a plain subprocess, not a multiprocessing.Process: gunicorn forks the workers
# from the arbiter, and every forked worker would inherit a multiprocessing child it did not
# start, whose atexit handler then signals and tries to join it as each worker exits
# ("AssertionError: can only join a child process").
_scheduler: list[subprocess.Popen[bytes]] = []
STOP_TIMEOUT_S = 10.0


def _start_periodic_jobs(_arbiter: Any) -> None:
    _scheduler.append(subprocess.Popen([sys.executable, "-m", "governance.kernel.periodic"]))


def _stop_periodic_jobs(_arbiter: Any) -> None:
    for process in _scheduler:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            # A scheduler that does not stop on SIGTERM would outlive the server and keep
            # running jobs against the database (one was found ten minutes after its server
            # had stopped: docs/decisions/reliability.md).
            log.warning("the periodic jobs process %s did not stop; killing it", process.pid)
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


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
