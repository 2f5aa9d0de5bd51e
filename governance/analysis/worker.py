"""Worker processes: the huey tasks that run analyses, reap lost runs and run the periodic
jobs, and the consumer.

`governance worker --workers N` starts a huey consumer with N worker processes. Each process
builds its own app (engines and connections are never shared across a fork) the first time it
runs a task. Huey's scheduler, in the consumer, is the service's only scheduler: every minute
it sends the reaper (which also runs when the worker starts) and the tick of the periodic jobs,
which runs the registry's jobs once every EXPIRY_CHECK_MINUTES, however many workers run.
Several workers may run at once: a run is claimed by exactly one of them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from governance.kernel import jobs
from governance.kernel.installed import Installed
from governance.kernel.jobs import (
    MAIL_TASK_NAME,
    PERIODIC_TASK_NAME,
    REAP_TASK_NAME,
    TASK_NAME,
    WEBHOOK_SWEEP_TASK_NAME,
    WEBHOOK_TASK_NAME,
)

if TYPE_CHECKING:
    from flask import Flask
    from huey import Huey

log = logging.getLogger(__name__)
_apps: dict[int, Flask] = {}
# How a worker process builds its app: `run_consumer` is given `create_app` by the command that
# starts it, so this module never imports the composition root.
APP_FACTORY: Installed[Callable[[], Flask]] = Installed(
    "No app factory: worker processes are started by `run_consumer` (`governance worker`)."
)


def worker_app() -> Flask:
    """This process's app, built on first use from instance/config.py and the environment."""
    pid = os.getpid()
    if pid not in _apps:
        _apps[pid] = APP_FACTORY.get()()
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


def webhook_task(delivery_id: int) -> None:
    """One attempt at one webhook delivery (governance/webhooks/delivery.py)."""
    from governance.kernel.extensions import database
    from governance.webhooks.delivery import deliver

    app = worker_app()
    with app.app_context():
        deliver(database(app).sessions, delivery_id)


def mail_task(message_id: int) -> None:
    """One attempt at one e-mail of the outbox (governance/kernel/notify.py)."""
    from governance.kernel import notify
    from governance.kernel.extensions import database

    app = worker_app()
    with app.app_context():
        notify.send_one(database(app).sessions, message_id)


def webhook_sweep_task() -> None:
    """Every minute: a message for each webhook delivery that is due and has none."""
    from governance.kernel.extensions import database
    from governance.periodic import run_job
    from governance.webhooks.delivery import sweep

    app = worker_app()
    with app.app_context():
        run_job(database(app).sessions, sweep)


def periodic_task(*, now: float | None = None) -> bool:
    """The registry's periodic jobs, if this slot of EXPIRY_CHECK_MINUTES has not had them
    yet (huey sends this every minute, to one worker process of each consumer); True if run."""
    from governance import periodic
    from governance.kernel.extensions import database
    from governance.kernel.types import utcnow

    app = worker_app()
    interval = 60 * app.config["EXPIRY_CHECK_MINUTES"]
    slot = int((time.time() if now is None else now) // interval)
    if not jobs.claim_slot(jobs.queue_for(jobs.queue_url(app.config)), PERIODIC_TASK_NAME, slot):
        return False
    with app.app_context():
        periodic.run_due_jobs(database(app).sessions, now=utcnow())
    return True


def run_consumer(queue: Huey, *, workers: int, app_factory: Callable[[], Flask]) -> None:
    """Run the consumer until interrupted: N worker processes plus the periodic scheduler.
    The worker processes are forked from this one and inherit the task bodies installed here."""
    APP_FACTORY.install(app_factory)
    jobs.install_bodies(
        {
            TASK_NAME: execute_task,
            REAP_TASK_NAME: reap_task,
            PERIODIC_TASK_NAME: periodic_task,
            WEBHOOK_TASK_NAME: webhook_task,
            WEBHOOK_SWEEP_TASK_NAME: webhook_sweep_task,
            MAIL_TASK_NAME: mail_task,
        }
    )
    consumer = queue.create_consumer(
        workers=workers,
        worker_type="process",
        periodic=True,
        check_worker_health=True,
        initial_delay=0.1,
        max_delay=1.0,
    )
    consumer.run()
