"""Stopping the server stops its periodic-jobs process, even one that ignores SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from governance import server
from tests.live import LiveServer

STUBBORN = ("import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "while True: time.sleep(0.1)\n")


def test_a_scheduler_that_ignores_sigterm_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    process = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"  # its SIGTERM handler is installed
    monkeypatch.setattr(server, "_scheduler", [process])
    monkeypatch.setattr(server, "STOP_TIMEOUT_S", 0.5)
    server._stop_periodic_jobs(None)
    assert process.poll() == -signal.SIGKILL
    process.stdout.close()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def test_the_server_stops_cleanly_and_its_scheduler_with_it(
        app: Flask, database_url: str, instance_path: Path, tmp_path: Path) -> None:
    """SIGTERM: the workers exit without a traceback, the scheduler stops when asked (it is
    not killed), and the server says at which address it served."""
    live = LiveServer(database_url, instance_path, tmp_path / "server.log")
    time.sleep(3)  # the scheduler has started and installed its SIGTERM handler
    children = _children(live.process.pid)
    assert children, "the server has no child processes"
    live.stop()
    log = live.log.read_text()
    assert live.process.returncode == 0, log
    assert f"Listening at: {live.url}" in log
    assert "Traceback" not in log, log
    assert "AssertionError" not in log, log
    assert "did not stop" not in log, log
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_a_scheduler_whose_server_was_killed_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGKILLed server sends no SIGTERM: the orphaned scheduler notices and stops itself."""
    stop = threading.Event()
    monkeypatch.setattr(server.os, "getppid", lambda: 1)  # re-parented to init
    server._stop_when_orphaned(parent=4242, stop=stop)
    assert stop.is_set()


def test_the_demo_and_the_server_print_the_address_actually_served(
        app: Flask, people: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run PORT=...` sets BASE_URL from the port: every printed address follows it."""
    from click.testing import CliRunner

    from governance.cli import main

    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("GOVERNANCE_BASE_URL", "http://127.0.0.1:5123")
    shown = CliRunner().invoke(main, ["demo"])
    assert shown.exit_code == 0, shown.output
    assert "Log in at http://127.0.0.1:5123" in shown.output
    assert "5000" not in shown.output
