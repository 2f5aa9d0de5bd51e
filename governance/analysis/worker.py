"""Worker processes: the huey tasks that run analyses and reap lost runs, and the consumer.

`governance worker --workers N` starts a huey consumer with N worker processes. Each process
builds its own app (engines and connections are never shared across a fork) the first time it
runs a task. The reaper runs when the worker starts and every minute (huey's periodic
scheduler); several workers may run at once: a run is claimed by exactly one of them.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from governance.kernel import jobs
from governance.kernel.jobs import REAP_TASK_NAME, TASK_NAME

if TYPE_CHECKING:
    from flask import Flask
    from huey import Huey

log = logging.getLogger(__name__)
_apps: dict[int, Flask] = {}
# How a worker process builds its app: `run_consumer` is given `create_app` by the command that
# starts it, so this module never imports the composition root.
_factory: list[Callable[[], Flask]] = []


def worker_app() -> Flask:
    """This process's app, built on first use from instance/config.py and the environment."""
    pid = os.getpid()
    if pid not in _apps:
        _apps[pid] = _factory[0]()
    return _apps[pid]


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_task(run_id: int) -> None:
    from governance.analysis.runner import execute_run
    from governance.kernel.extensions import database

    app = worker_app()
    with app.app_context():
        execute_run(database(app), run_id, worker_id=worker_identity())


def reap_task() -> None:
    from governance.analysis.reaper import reap_runs
    from governance.kernel.extensions import database
    from governance.periodic import run_job

    app = worker_app()
    with app.app_context():
        run_job(database(app).sessions, reap_runs)


def run_consumer(queue: Huey, *, workers: int, app_factory: Callable[[], Flask]) -> None:
    """Run the consumer until interrupted: N worker processes plus the periodic scheduler.
    The worker processes are forked from this one and inherit the task bodies installed here."""
    _factory[:] = [app_factory]
    jobs.install_bodies({TASK_NAME: execute_task, REAP_TASK_NAME: reap_task})
    consumer = queue.create_consumer(workers=workers, worker_type="process", periodic=True,
                                     check_worker_health=True, initial_delay=0.1,
                                     max_delay=1.0)
    consumer.run()
