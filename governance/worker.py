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
from typing import TYPE_CHECKING, Any

from huey import crontab

from governance.kernel.jobs import REAP_TASK_NAME, TASK_NAME

if TYPE_CHECKING:
    from flask import Flask
    from huey import Huey

log = logging.getLogger(__name__)
_apps: dict[int, Flask] = {}


def worker_app() -> Flask:
    """This process's app, built on first use from instance/config.py and the environment."""
    pid = os.getpid()
    if pid not in _apps:
        from governance import create_app

        _apps[pid] = create_app()
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
    from governance.kernel.periodic import run_job

    app = worker_app()
    with app.app_context():
        run_job(database(app).sessions, reap_runs)


def register_tasks(queue: Huey) -> dict[str, Any]:
    return {
        TASK_NAME: queue.task(name=TASK_NAME)(execute_task),
        REAP_TASK_NAME: queue.periodic_task(crontab(minute="*"), name=REAP_TASK_NAME)(
            reap_task),
    }


def run_consumer(queue: Huey, *, workers: int) -> None:
    """Run the consumer until interrupted: N worker processes plus the periodic scheduler."""
    consumer = queue.create_consumer(workers=workers, worker_type="process", periodic=True,
                                     check_worker_health=True, initial_delay=0.1,
                                     max_delay=1.0)
    consumer.run()
