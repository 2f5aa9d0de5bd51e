"""Production serving: gunicorn worker processes.

Processes rather than threads: pycasbin's matcher is not safe when threads share an enforcer.
Each worker builds its own app (no preloading), so each has its own connections and enforcers.
The periodic jobs (expiring agreements and grants, sweeping files) are not the server's: huey's
scheduler runs them in `governance worker` (analysis/worker.py), which `make run` starts too.

The arbiter itself never opens the database: gunicorn forks workers from it, and a database
connection (SQLite's lock bookkeeping above all) must never be carried across fork().
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication

from governance.kernel import telemetry
from governance.kernel.config import ENV_PREFIX


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


def serve(*, bind: str, workers: int, timeout: int) -> None:
    # Each worker's app learns how many processes share the work: with memory throttle
    # storage each counts failed logins alone, so each allows its share (identity/web_throttle.py).
    os.environ[f"{ENV_PREFIX}SERVER_PROCESSES"] = str(workers)
    # Each worker process writes its figures to files here and /metrics sums them; emptied at
    # start so that no earlier run's counts are added in (docs/metrics.md).
    telemetry.use_directory(telemetry.instance_directory(), clean=True)
    options = {
        "bind": bind,
        "workers": workers,
        "worker_class": "sync",
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": "-",
        "preload_app": False,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
    }
    GovernanceServer(options).run()
