"""The server stops cleanly on SIGTERM, and the demo prints the address actually served."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask

from tests.live import LiveServer


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def test_the_server_stops_cleanly(
    app: Flask, database_url: str, instance_path: Path, tmp_path: Path
) -> None:
    """SIGTERM: the workers exit without a traceback, none is killed, and the server says at
    which address it served."""
    live = LiveServer(database_url, instance_path, tmp_path / "server.log")
    time.sleep(3)  # the workers have booted
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


def test_the_demo_and_the_server_print_the_address_actually_served(
    app: Flask, people: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run PORT=...` sets BASE_URL from the port: every printed address follows it."""
    from click.testing import CliRunner

    from governance.cli import main

    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("GOVERNANCE_BASE_URL", "http://127.0.0.1:5123")
    shown = CliRunner().invoke(main, ["demo"])
    assert shown.exit_code == 0, shown.output
    assert "Log in at http://127.0.0.1:5123" in shown.output
    assert "5000" not in shown.output
