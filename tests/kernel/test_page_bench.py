"""The page bench's rounds: a fixed number of views per client, every client starting each
round together (after every sign-in and warm-up), the figure the median of the rounds' p99s."""

from __future__ import annotations

import http.server
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench import page_bench

PAGES = ["/a", "/b", "/c", "/d"]


class _Pages(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    started: list[float] = []

    def do_GET(self) -> None:
        _Pages.started.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    served = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def test_every_round_starts_after_every_sign_in_with_the_same_views(
    server: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in: list[float] = []
    slow = iter([0.0, 0.3, 0.0, 0.0])  # one client signs in late, as under a password hash

    def login(_port: int) -> str:
        time.sleep(next(slow))
        signed_in.append(time.monotonic())
        return "session=x"

    monkeypatch.setattr(page_bench, "_login", login)
    _Pages.started = []
    results: queue.Queue[Any] = queue.Queue()
    clients, views, rounds = 4, 8, 3
    page_bench._clients(
        server.server_address[1], PAGES, clients, threading.Barrier(clients), views, rounds, results
    )
    timings, failures = results.get()
    assert failures == []
    assert len(timings) == rounds
    for got in timings:
        assert {page: len(values) for page, values in got.items()} == dict.fromkeys(
            PAGES, clients * views // len(PAGES)
        )
    # The warm-up views (one of each page per client) may overlap a sign-in; timed views not.
    timed = sorted(_Pages.started)[clients * len(PAGES) :]
    assert min(timed) >= max(signed_in)


def test_the_figure_is_the_median_of_the_rounds_p99s() -> None:
    steady = {page: [0.010] * 99 + [0.050] for page in PAGES}
    disturbed = {page: [0.010] * 90 + [0.400] * 10 for page in PAGES}
    found = page_bench.figures([steady, disturbed, steady])
    assert found == {"page_view_p99_ms": 50.0, "page_view_worst_p99_ms": 50.0}
