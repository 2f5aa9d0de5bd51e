"""A sync worker under gunicorn's `--timeout`: an answer streamed for longer than the timeout
still arrives whole (the heartbeat, governance/server.py), while a request that makes no
progress for that long is still cut off (the timeout still guards against a stuck worker).

gunicorn really serves here, through `governance.server`'s own settings and hooks, with a
two-second timeout and a small WSGI app of the test's own in place of the governance app
(whose long answers, an audit export of a million events, take seconds to build a world for).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.served import serving

pytestmark = pytest.mark.slow

TIMEOUT_S = 2
LONGER_S = 5.0  # well past the timeout, and past gunicorn's second look (it kills with SIGKILL)

SERVER = """
import sys, time
from governance import server

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/up":
        return [b"up"]
    if environ["PATH_INFO"] == "/stuck":
        time.sleep({longer})  # no progress at all
        return [b"late"]
    if environ["PATH_INFO"] == "/upload":
        # A slow client's body, read as it arrives, a piece at a time (as werkzeug reads).
        read = 0
        while piece := environ["wsgi.input"].read(4096):
            read += len(piece)
        return [str(read).encode()]

    def chunks():
        started, sent = time.monotonic(), 0
        while time.monotonic() - started < {longer}:
            time.sleep(0.2)
            sent += 1
            yield b"x"
        yield b"end %d" % sent  # how many it sent, for the client to count what arrived

    return chunks()

options = server.options(
    bind=sys.argv[1], workers=1, timeout={timeout}, threads=1, worker_class="sync"
)
server._server(options, build=lambda: app).run()
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    script = SERVER.format(longer=LONGER_S, timeout=TIMEOUT_S)
    with serving(script, tmp_path / "gunicorn.log") as url:
        yield url


def test_an_answer_streamed_past_the_timeout_arrives_whole(served: str) -> None:
    started = time.monotonic()
    with urllib.request.urlopen(f"{served}/stream", timeout=60) as answer:  # noqa: S310
        body = answer.read()
    assert time.monotonic() - started >= LONGER_S > TIMEOUT_S
    # Whole: every chunk the worker sent arrived (counted, not guessed from the pace, which a
    # loaded machine slows).
    chunks, end, sent = body.rpartition(b"end ")
    assert end
    assert chunks == b"x" * int(sent) != b""


def test_a_body_sent_slowly_past_the_timeout_is_read_whole(served: str) -> None:
    sent = 0

    def slowly() -> Iterator[bytes]:
        nonlocal sent
        started = time.monotonic()
        while time.monotonic() - started < LONGER_S:
            time.sleep(0.2)
            sent += 1000
            yield b"y" * 1000

    request = urllib.request.Request(  # noqa: S310
        f"{served}/upload",
        data=slowly(),
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        read = int(answer.read())
    assert read == sent > 0


def test_a_request_making_no_progress_past_the_timeout_is_still_cut_off(served: str) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"{served}/stuck", timeout=60).read()  # noqa: S310
