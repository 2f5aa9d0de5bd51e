"""Huey's scheduler, in the worker's consumer, is the only scheduler: every minute it sends the
tick of the periodic jobs, and the tick runs the registry's jobs once per EXPIRY_CHECK_MINUTES
however many worker processes, consumers or hosts receive it."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from flask import Flask

from governance import periodic
from governance.analysis import worker
from governance.kernel import jobs

HOUR = 3600.0
START = 490_000 * HOUR  # the start of an hour


@pytest.fixture
def ran(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    monkeypatch.setattr(worker, "_apps", {os.getpid(): app})
    calls: list[dt.datetime] = []

    def run_due_jobs(_sessions: Any, *, now: dt.datetime) -> dict[str, int]:
        calls.append(now)
        return {}

    monkeypatch.setattr(periodic, "run_due_jobs", run_due_jobs)
    return calls


def test_the_jobs_run_once_per_interval_whoever_receives_the_tick(ran: list[dt.datetime]) -> None:
    assert worker.periodic_task(now=START + 5) is True
    assert worker.periodic_task(now=START + 65) is False  # another minute, the same hour
    assert worker.periodic_task(now=START + 65) is False  # another process, the same minute
    assert worker.periodic_task(now=START + HOUR + 5) is True
    assert len(ran) == 2


def test_the_tick_the_reaper_and_the_webhook_sweep_are_on_huey_s_scheduler(app: Flask) -> None:
    queue = jobs.queue_for(app.config["QUEUE_URL"])
    due = {task.name for task in queue.read_periodic(dt.datetime(2026, 1, 1, 9, 17))}
    assert due == {jobs.PERIODIC_TASK_NAME, jobs.REAP_TASK_NAME, jobs.WEBHOOK_SWEEP_TASK_NAME}


def test_the_server_runs_no_scheduler_of_its_own() -> None:
    from governance import server

    assert not hasattr(server, "run_in_process")
    assert not hasattr(server, "_start_periodic_jobs")
