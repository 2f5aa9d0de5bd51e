"""Production serving: gunicorn worker processes.

Worker processes, each with a few threads (gunicorn's gthread workers, the default): a thread
waiting on the database or on a client's next request on a kept-alive connection does not hold
a whole process. `--worker-class sync` serves one request at a time per process and closes
every connection after one answer (an API client pays a new TCP connection per page), but
waiting requests are served in arrival order: measured against each other in
docs/benchmarks.md ("readtail"). Each thread has its own Casbin enforcer (pycasbin's matcher
is not safe when threads share one: authz/enforcer.py) and its own database session per
request. Each worker builds its own app (no preloading), so each has its own connections and
enforcers. The periodic jobs (expiring agreements and grants, sweeping files) are not the
server's: huey's scheduler runs them in `governance worker` (analysis/worker.py), which
`make run` starts too.

The arbiter itself never opens the database: gunicorn forks workers from it, and a database
connection (SQLite's lock bookkeeping above all) must never be carried across fork().
"""

from __future__ import annotations

import gc
import os
from typing import Any

from governance.kernel import telemetry
from governance.kernel.config import ENV_PREFIX


def _server(options: dict[str, Any]) -> Any:
    """gunicorn's application for `options`. gunicorn is imported here, by `serve` only: every
    command imports this module (`governance serve` offers WORKER_CLASSES), and the others
    should not pay for gunicorn's imports at start."""
    from gunicorn.app.base import BaseApplication

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

    return GovernanceServer(options)


def _freeze_startup_objects(_worker: Any) -> None:
    """After the worker has built its app: the few hundred thousand objects of the imports
    and the app live as long as the process, and every full collection of the garbage
    collector walked all of them (tens of milliseconds, stopping every thread of the worker,
    which is a request's tail). Frozen, the collector no longer looks at them; what requests
    create is collected as before."""
    gc.collect()
    gc.freeze()


# Seconds a client's idle connection stays open for its next request.
KEEPALIVE_S = 5

#: gunicorn's worker classes `governance serve --worker-class` offers. gthread: each worker
#: serves `threads` requests at once and keeps connections alive. sync: each worker serves one
#: request at a time and closes the connection after it; waiting requests queue in the kernel's
#: accept queue in arrival order. docs/benchmarks.md ("readtail") has the measurement that
#: chose the default.
WORKER_CLASSES = ("gthread", "sync")


def options(
    *, bind: str, workers: int, timeout: int, threads: int, worker_class: str
) -> dict[str, Any]:
    """gunicorn's settings for `governance serve`."""
    if worker_class not in WORKER_CLASSES:
        raise ValueError(f"worker class {worker_class!r}: one of {', '.join(WORKER_CLASSES)}")
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": worker_class,
        # gunicorn turns a sync worker with more than one thread into a gthread worker.
        "threads": threads if worker_class == "gthread" else 1,
        "keepalive": KEEPALIVE_S,
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": "-",
        "preload_app": False,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "post_worker_init": _freeze_startup_objects,
    }


def serve(
    *, bind: str, workers: int, timeout: int, threads: int = 4, worker_class: str = "gthread"
) -> None:
    # Each worker's app learns how many processes share the work: with memory throttle
    # storage each counts failed logins alone, so each allows its share (identity/web_throttle.py).
    os.environ[f"{ENV_PREFIX}SERVER_PROCESSES"] = str(workers)
    # Each worker process writes its figures to files here and /metrics sums them; emptied at
    # start so that no earlier run's counts are added in (docs/metrics.md).
    telemetry.use_directory(telemetry.instance_directory(), clean=True)
    _server(
        options(
            bind=bind,
            workers=workers,
            timeout=timeout,
            threads=threads,
            worker_class=worker_class,
        )
    ).run()
