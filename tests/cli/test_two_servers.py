"""Two `governance serve` on one host, on different ports: both answer, and neither opens
gunicorn's control socket, whose default path (one per user) they would otherwise share (the
second took the first's over, and deleted it on stopping).

gunicorn really serves here, through `governance.server`'s own settings, with a small WSGI app
of the test's own in place of the governance app (as tests/cli/test_serve_timeout.py)."""

from __future__ import annotations

import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.cli.served import serving

pytestmark = pytest.mark.slow

SERVER = """
import sys
from governance import server

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [sys.argv[1].encode()]

options = server.options(bind=sys.argv[1], workers=1, timeout=30, threads=1, worker_class="sync")
server._server(options, build=lambda: app).run()
"""


def test_two_servers_on_one_host_both_answer_and_share_no_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"  # one user's: both servers would default to its socket
    home.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with ExitStack() as stack:
        urls = [stack.enter_context(serving(SERVER, log, env)) for log in logs]
        for url in urls:
            with urllib.request.urlopen(f"{url}/up", timeout=30) as answer:  # noqa: S310
                assert f"http://{answer.read().decode()}" == url  # each its own server
        assert not (home / ".gunicorn").exists()
    for log in logs:
        text = log.read_text()
        assert "Listening at" in text
        assert "control socket" not in text.lower(), text
        assert "error" not in text.lower(), text
