"""Real worker processes: a worker killed with SIGKILL mid-run loses nothing. Another worker's
reaper queues the run again and it completes; after the last attempt it fails with the reason.
Run on the SQLite queue, and on Redis when GOVERNANCE_TEST_REDIS_URL names a reachable server.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.reaper import reap_runs
from governance.audit.models import AuditEvent, AuditType
from governance.kernel import jobs
from governance.kernel.extensions import database
from governance.periodic import run_job
from tests import workers as per_worker
from tests.analysis.conftest import World, grant_records, submit
from tests.support import People

# Worker processes started, killed and retried: run on the other Pythons too, whose process
# start and signals are where they differ.
pytestmark = [pytest.mark.slow, pytest.mark.every_python]
REDIS_VARIABLE = "GOVERNANCE_TEST_REDIS_URL"
TIMEOUT = 3  # seconds without a heartbeat before a worker is presumed dead


def redis_url() -> str:
    configured = os.environ.get(REDIS_VARIABLE)
    if not configured:
        pytest.skip(
            f"Redis queue run skipped: {REDIS_VARIABLE} is not set (CI sets it to "
            "redis://127.0.0.1:6379/15)."
        )
    url = per_worker.redis_url(configured)  # each xdist worker its own database
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:
        pytest.skip(f"Redis queue run skipped: {url} is unreachable ({error}).")
    return url


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis-queue":
        return redis_url()
    return f"sqlite:///{tmp_path / 'worker-queue.db'}"


@pytest.fixture
def app_config(database_url: str, queue_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "QUEUE_URL": queue_url,
        "ANALYSIS_HEARTBEAT_TIMEOUT": TIMEOUT,
    }


@pytest.fixture
def workers(app: Flask, instance_path: Path, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    jobs.queue_for(app.config["QUEUE_URL"]).flush()
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def start(pause: float | None = None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "GOVERNANCE_INSTANCE_PATH": str(instance_path),
            "GOVERNANCE_DATABASE_URL": app.config["DATABASE_URL"],
            "GOVERNANCE_QUEUE_URL": app.config["QUEUE_URL"],
            "GOVERNANCE_ANALYSIS_HEARTBEAT_TIMEOUT": str(TIMEOUT),
        }
        entry = (
            ["-c", "from governance.cli import main; main()"]
            if pause is None
            else ["-m", "tests.analysis.paused_worker", str(pause)]
        )
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        logs.append(log)
        process = subprocess.Popen(
            [sys.executable, *entry, "worker", "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        kill(process)
    for log in logs:
        log.close()


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's own process group (the consumer and its worker processes)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_for(
    db: Session, run_id: int, done: Callable[[AnalysisRun], bool], seconds: float = 120
) -> AnalysisRun:
    deadline = time.monotonic() + seconds
    while True:
        db.rollback()
        db.expire_all()
        run = db.get(AnalysisRun, run_id)
        assert run is not None
        if done(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} stayed {run.status}: {run.progress_message}")
        time.sleep(0.2)


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq))
    )


def test_a_killed_workers_run_is_retried_by_another_worker_and_completes(
    app: Flask,
    db: Session,
    people: People,
    world: World,
    workers: Callable[..., subprocess.Popen[bytes]],
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", {"group_by": ["sex"]})
    first = workers(pause=120)
    running = wait_for(db, run.id, lambda r: r.status == RunStatus.RUNNING and r.progress > 0)
    first_worker = running.worker_id
    kill(first)
    time.sleep(TIMEOUT + 1)
    assert wait_for(db, run.id, lambda r: True).status == RunStatus.RUNNING  # nobody noticed yet
    workers()  # reaps at start: the run is queued again and this worker runs it
    done = wait_for(db, run.id, lambda r: r.run_status.finished)
    assert done.status == RunStatus.SUCCEEDED, done.reason
    assert done.attempts == 2
    assert done.worker_id != first_worker
    assert done.report_pdf is not None
    retry = events(db, AuditType.ANALYSIS_RETRY)
    assert [e.target_id for e in retry] == [str(run.id)]
    assert retry[0].detail["reason"] == "worker stopped responding"
    assert len(events(db, AuditType.ANALYSIS_START)) == 2
    assert len(events(db, AuditType.ANALYSIS_COMPLETE)) == 1


def test_a_run_whose_workers_keep_dying_fails_with_the_reason(
    app: Flask,
    db: Session,
    people: People,
    world: World,
    workers: Callable[..., subprocess.Popen[bytes]],
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", {"group_by": ["sex"]})
    stored = db.get(AnalysisRun, run.id)
    assert stored is not None
    stored.max_attempts = 1
    db.commit()
    first = workers(pause=120)
    wait_for(db, run.id, lambda r: r.status == RunStatus.RUNNING and r.progress > 0)
    kill(first)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=TIMEOUT + 1)
    with app.app_context():
        assert run_job(database(app).sessions, reap_runs, now=later) == 1
    failed = wait_for(db, run.id, lambda r: True)
    assert failed.status == RunStatus.FAILED
    assert failed.reason == "worker stopped responding after 1 attempts"
    fail = events(db, AuditType.ANALYSIS_FAIL)
    assert [e.target_id for e in fail] == [str(run.id)]
    assert jobs.pending_run_ids(jobs.queue_for(app.config["QUEUE_URL"])) == set()


def test_a_queued_run_whose_message_was_lost_is_sent_again(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    queue = jobs.queue_for(app.config["QUEUE_URL"])
    queue.flush()
    run = submit(db, people, world, "descriptive", {"group_by": ["sex"]})
    queue.flush()  # the message is lost (the queue was down, or its storage was wiped)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    with app.app_context():
        assert run_job(database(app).sessions, reap_runs, now=later) == 1
    assert jobs.pending_run_ids(queue) == {run.id}
