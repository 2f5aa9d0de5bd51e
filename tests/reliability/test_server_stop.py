"""Stopping the server stops its periodic-jobs process, even one that ignores SIGTERM."""

from __future__ import annotations

import multiprocessing
import signal
import time

import pytest

from governance import server


def _stubborn() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(0.1)


def test_a_scheduler_that_ignores_sigterm_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    process = multiprocessing.get_context("fork").Process(target=_stubborn, daemon=True)
    process.start()
    time.sleep(0.3)  # its SIGTERM handler is installed
    monkeypatch.setattr(server, "_scheduler", [process])
    monkeypatch.setattr(server, "STOP_TIMEOUT_S", 0.5)
    server._stop_periodic_jobs(None)
    assert not process.is_alive()
    assert process.exitcode == -signal.SIGKILL
