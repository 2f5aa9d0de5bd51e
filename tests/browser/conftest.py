"""Browser journeys: Playwright drives Debian's chromium against `governance serve`.

The world (people, datasets with stored rows, an active agreement) is built through the
services before the server starts; the server then runs as a real gunicorn process on a free
port with the same instance directory and database. Every page a journey visits must log no
console error, and forms are filled with the keyboard alone (see `keyboard.py`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SKIP_REASON = ("Browser tests skipped: Debian's chromium is not installed at /usr/bin/chromium "
               "(apt-get install chromium; .ci/run does this).")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    def __init__(self, database_url: str, instance: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "GOVERNANCE_INSTANCE_PATH": str(instance),
               "GOVERNANCE_DATABASE_URL": database_url}
        env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "governance.cli", "serve", "--bind",
             f"127.0.0.1:{self.port}", "--workers", "2"],
            env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/login", timeout=2)  # noqa: S310
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


class Worker:
    """`governance worker`: runs analysis jobs from the same instance's queue."""

    def __init__(self, database_url: str, instance: Path, log: Path) -> None:
        env = {**os.environ, "GOVERNANCE_INSTANCE_PATH": str(instance),
               "GOVERNANCE_DATABASE_URL": database_url}
        env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "governance.cli", "worker", "--workers", "1"],
            env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


@pytest.fixture
def live_server(app: Any, database_url: str, instance_path: Path,
                tmp_path: Path) -> Iterator[LiveServer]:
    """Start after the test's world is built (ask for the world fixture first)."""
    server = LiveServer(database_url, instance_path, tmp_path / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


class Console:
    """Console errors and uncaught page errors seen in one browser context."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[str] = []

    def expect(self, fragment: str) -> None:
        """A refusal the journey provokes on purpose: the browser logs the 403 it gets."""
        self.expected.append(fragment)

    def _seen(self, page: Any, text: str) -> None:
        if not any(fragment in text for fragment in self.expected):
            self.errors.append(f"{page.url}: {text}")

    def watch(self, page: Any) -> Any:
        page.on("console", lambda m: self._seen(page, m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page


@pytest.fixture
def console() -> Iterator[Console]:
    seen = Console()
    yield seen
    assert seen.errors == [], "pages logged console errors"


@pytest.fixture
def new_page(chromium: Any, console: Console) -> Iterator[Any]:
    """Open a fresh browser context (a separate person) and return its page."""
    contexts = []

    def make() -> Any:
        context = chromium.new_context(viewport={"width": 1280, "height": 900},
                                       accept_downloads=True)
        contexts.append(context)
        page = console.watch(context.new_page())
        page.set_default_timeout(20_000)
        return page

    yield make
    for context in contexts:
        context.close()
