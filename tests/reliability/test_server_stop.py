"""Stopping the server stops its periodic-jobs process, even one that ignores SIGTERM."""

from __future__ import annotations

import multiprocessing
import signal
import threading
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


def test_a_scheduler_whose_server_was_killed_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGKILLed server sends no SIGTERM: the orphaned scheduler notices and stops itself."""
    stop = threading.Event()
    monkeypatch.setattr(server.os, "getppid", lambda: 1)  # re-parented to init
    server._stop_when_orphaned(parent=4242, stop=stop)
    assert stop.is_set()
