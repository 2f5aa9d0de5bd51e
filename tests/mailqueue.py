"""The job queue's worker for e-mail, run by hand in a test: take the `mail.send` messages
waiting on the app's queue (and the retries whose delay is over at `now`) and send each one as
the worker would (`notify.send_one`). Messages of other tasks are put back, in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from governance.kernel import jobs, notify
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.workers import free_port

# Seconds the test SMTP server may take to start and answer its first connection: aiosmtpd's
# default (5) is short for a loaded machine, and a healthy start returns at once.
SMTP_READY_S = 60


@contextmanager
def smtp_server(handler: Any) -> Iterator[int]:
    """An SMTP server on a free loopback port of this worker's, handing what it receives to
    `handler` (aiosmtpd's); its port."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=SMTP_READY_S)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def mail_queue(app: Flask) -> Any:
    return jobs.queue_for(jobs.queue_url(app.config))


def _mail_tasks(app: Flask) -> list[Any]:
    queue = mail_queue(app)
    return [t for t in [*queue.pending(), *queue.scheduled()] if t.name == jobs.MAIL_TASK_NAME]


def waiting(app: Flask) -> list[int]:
    """Ids of the outbox rows whose message waits on the queue to run now."""
    return [t.args[0] for t in _mail_tasks(app) if t.eta is None]


def scheduled(app: Flask) -> list[tuple[int, dt.datetime]]:
    """(row id, when) of the retries planned on the queue with a delay."""
    return [(t.args[0], t.eta.replace(tzinfo=dt.UTC)) for t in _mail_tasks(app) if t.eta]


def work_mail(app: Flask, now: dt.datetime | None = None) -> int:
    """Run every mail message due at `now` (default: the present); returns how many ran."""
    moment = now or utcnow()
    queue = mail_queue(app)
    taken: list[Any] = []
    others: list[Any] = []
    naive = moment.replace(tzinfo=None)
    while (task := queue.dequeue()) is not None:
        if task.eta is not None and task.eta > naive:
            queue.add_schedule(task)  # what the consumer does with a delayed message
        else:
            (taken if task.name == jobs.MAIL_TASK_NAME else others).append(task)
    for task in queue.read_schedule(naive):
        (taken if task.name == jobs.MAIL_TASK_NAME else others).append(task)
    for task in others:
        queue.enqueue(task)
    for task in taken:
        notify.send_one(database(app).sessions, int(task.args[0]), now=moment)
    return len(taken)
