"""The durable job queue that runs analyses in worker processes (huey).

Storage follows QUEUE_URL: `sqlite:///PATH` (the default, instance/queue.db: no server needed),
`redis://HOST:PORT/DB` in production, `memory:` for a single process. A message carries only
a run id: the `analysis_run` row is the source of truth, so a lost message or a dead worker
loses nothing (the reaper in analysis/reaper.py notices both).

Messages are sent only after the transaction that created or re-queued the run commits
(`enqueue_after_commit`): a worker must never see an id whose row does not exist, and a
rolled-back submission must leave no message behind. If sending fails after the commit, the
run stays queued without a message and the reaper sends it again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from governance.kernel import telemetry
from governance.kernel.config import private_file

if TYPE_CHECKING:
    # huey itself is imported when a queue is made (make_queue): its import brings redis and
    # psycopg (0.3 s of CPU), and a process that only records audit events (`audit verify`,
    # through the webhooks' outbox) makes no queue unless a delivery is due.
    from huey import Huey

log = logging.getLogger(__name__)

TASK_NAME = "analysis.execute"
REAP_TASK_NAME = "analysis.reap"
PERIODIC_TASK_NAME = "governance.periodic"
# Webhooks: one message per delivery row (governance/webhooks/delivery.py), and every minute a
# sweep that sends the rows whose time has come and whose message was lost or never sent.
WEBHOOK_TASK_NAME = "webhooks.deliver"
WEBHOOK_SWEEP_TASK_NAME = "webhooks.sweep"
# E-mail: one message per outbox row (governance/kernel/notify.py); a refusal is planned again
# with a delay, and the periodic job `mail.retry` queues the rows whose message was lost.
MAIL_TASK_NAME = "mail.send"
PENDING_KEY = "jobs.pending_runs"
_lock = threading.Lock()
_queues: dict[tuple[int, str], Huey] = {}
_tasks: dict[int, dict[str, Any]] = {}
# What each task does, installed by the process that runs tasks (governance/analysis/worker.py): the
# server only sends messages, by task name, and never needs the worker's code.
_bodies: dict[str, Callable[..., object]] = {}


def install_bodies(bodies: Mapping[str, Callable[..., object]]) -> None:
    _bodies.update(bodies)


def _body(name: str) -> Callable[..., None]:
    def run(*args: Any) -> None:
        if name not in _bodies:
            raise RuntimeError(f"task {name} has no body in this process (not a worker)")
        _bodies[name](*args)

    run.__name__ = run.__qualname__ = name.replace(".", "_")
    return run


def register_tasks(queue: Huey) -> dict[str, Any]:
    """The analysis task and, on huey's own scheduler (the only one: it runs in the worker's
    consumer), every minute: the reaper, and the tick of the periodic jobs (periodic.py)."""
    from huey import crontab

    every_minute = crontab(minute="*")
    return {
        TASK_NAME: queue.task(name=TASK_NAME)(_body(TASK_NAME)),
        REAP_TASK_NAME: queue.periodic_task(every_minute, name=REAP_TASK_NAME)(
            _body(REAP_TASK_NAME)
        ),
        PERIODIC_TASK_NAME: queue.periodic_task(every_minute, name=PERIODIC_TASK_NAME)(
            _body(PERIODIC_TASK_NAME)
        ),
        WEBHOOK_TASK_NAME: queue.task(name=WEBHOOK_TASK_NAME)(_body(WEBHOOK_TASK_NAME)),
        WEBHOOK_SWEEP_TASK_NAME: queue.periodic_task(every_minute, name=WEBHOOK_SWEEP_TASK_NAME)(
            _body(WEBHOOK_SWEEP_TASK_NAME)
        ),
        MAIL_TASK_NAME: queue.task(name=MAIL_TASK_NAME)(_body(MAIL_TASK_NAME)),
    }


def claim_slot(queue: Huey, name: str, slot: int) -> bool:
    """True for the first caller of this slot of `name`, across every process and host that
    share the queue (huey's storage sets a key only if it is empty)."""
    queue.get(f"{name}:{slot - 1}")  # the previous slot's key is no longer needed
    return bool(queue.put_if_empty(f"{name}:{slot}", b"claimed"))


def make_queue(url: str) -> Huey:
    """A huey instance for QUEUE_URL with the analysis tasks registered on it."""
    from huey import MemoryHuey, RedisHuey, SqliteHuey
    from huey.signals import SIGNAL_ERROR

    if url.startswith("sqlite:///"):
        # Owner-only, like every file in instance/ (SQLite's -wal and -shm files follow).
        path = private_file(Path(url.removeprefix("sqlite:///")))
        # results=False: the run row holds every result; huey need not keep return values.
        queue: Huey = SqliteHuey(name="governance", filename=str(path), results=False, fsync=True)
    elif url.startswith("redis://"):
        queue = RedisHuey(name="governance", url=url, results=False)
    elif url.startswith("memory:"):
        queue = MemoryHuey(name="governance", results=False)
    else:
        raise ValueError(f"unsupported QUEUE_URL {url!r}")
    _tasks[id(queue)] = register_tasks(queue)
    queue.signal(SIGNAL_ERROR)(_count_failure)
    return queue


def _count_failure(signal: str, task: Any, exc: BaseException | None = None) -> None:
    """A task that raised, for the operators' figures (the run's row says what failed)."""
    telemetry.count_job_failure(task.name)


def pending_count(url: str) -> int:
    """Messages waiting on the queue (the operators' queue depth)."""
    return int(queue_for(url).pending_count())


def queue_for(url: str) -> Huey:
    """This process's queue for `url` (one per process: connections are not shared across
    the fork of worker processes)."""
    key = (os.getpid(), url)
    with _lock:
        if key not in _queues:
            _queues[key] = make_queue(url)
        return _queues[key]


def queue_url(settings: Mapping[str, Any]) -> str:
    return str(settings["QUEUE_URL"])


def session_queue(session: Session) -> Huey:
    settings = session.info.get("settings")
    if not isinstance(settings, dict):
        raise RuntimeError(
            "This session was not opened by governance.kernel.db.Database: "
            "the queue settings are missing."
        )
    return queue_for(queue_url(settings))


def send(queue: Huey, run_id: int, *, task: str = TASK_NAME, delay: float | None = None) -> None:
    """Put one message for the row on the queue, to run now or after `delay` seconds (raises
    if the queue cannot be reached)."""
    wrapper = _tasks[id(queue)][task]
    if delay:
        wrapper.schedule(args=(run_id,), delay=delay)
    else:
        queue.enqueue(wrapper.s(run_id))


def pending_run_ids(queue: Huey) -> set[int]:
    """Run ids of the analysis messages waiting on the queue."""
    ids: set[int] = set()
    for task in queue.pending():
        if task.name == TASK_NAME and task.args:
            ids.add(int(task.args[0]))
    return ids


def enqueue_after_commit(
    session: Session, run_id: int, *, task: str = TASK_NAME, delay: float | None = None
) -> None:
    """Send the row's message once the session's current transaction commits (never before,
    never if it rolls back)."""
    session.info.setdefault(PENDING_KEY, []).append((task, run_id, delay))


@event.listens_for(Session, "after_commit")
def _send_committed(session: Session) -> None:
    messages: list[tuple[str, int, float | None]] = session.info.pop(PENDING_KEY, [])
    if not messages:
        return
    try:
        queue = session_queue(session)
        for task, run_id, delay in messages:
            send(queue, run_id, task=task, delay=delay)
    except Exception:
        # The rows are committed as waiting; the reaper (analyses) and the sweeps (webhooks,
        # mail) re-send messages that never arrived.
        log.exception("could not enqueue %s; they will be sent again", messages)


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING_KEY, None)
