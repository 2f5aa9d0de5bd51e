"""Browser journeys: Playwright drives Debian's chromium against `governance serve`.

The world (people, datasets with stored rows, an active agreement) is built through the
services before the server starts; the server then runs as a real gunicorn process on a free
port with the same instance directory and database. Every page a journey visits must log no
console error, and forms are filled with the keyboard alone (see `keyboard.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
SKIP_REASON = (
    "Browser tests skipped: Debian's chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run does this)."
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture
def live_server(
    app: Any, database_url: str, instance_path: Path, tmp_path: Path
) -> Iterator[LiveServer]:
    """Start after the test's world is built (ask for the world fixture first)."""
    server = LiveServer(database_url, instance_path, tmp_path / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
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
        context = chromium.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        page = console.watch(context.new_page())
        page.set_default_timeout(20_000)
        return page

    yield make
    for context in contexts:
        context.close()
