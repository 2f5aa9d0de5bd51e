"""Two `governance serve` on one host, on different ports: both answer, and neither opens
gunicorn's control socket, whose default path (one per user) they would otherwise share (the
second took the first's over, and deleted it on stopping).

gunicorn really serves here, through `governance.server`'s own settings, with a small WSGI app
of the test's own in place of the governance app (as tests/cli/test_serve_timeout.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.workers import free_port

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


@contextmanager
def serving(home: Path, log_path: Path) -> Iterator[str]:
    """One server, its home (where gunicorn's default control socket would be) `home`."""
    bind = f"127.0.0.1:{free_port()}"
    environment = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": "",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, bind],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    urllib.request.urlopen(f"http://{bind}/", timeout=30).read()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
            yield bind
        finally:
            process.terminate()
            process.wait(timeout=45)


def test_two_servers_on_one_host_both_answer_and_share_no_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"  # one user's: both servers would default to its socket
    home.mkdir()
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with ExitStack() as stack:
        binds = [stack.enter_context(serving(home, log)) for log in logs]
        for bind in binds:
            with urllib.request.urlopen(f"http://{bind}/", timeout=30) as answer:
                assert answer.read() == bind.encode()  # each its own server
        assert not (home / ".gunicorn").exists()
    for log in logs:
        text = log.read_text()
        assert "Listening at" in text
        assert "control socket" not in text.lower(), text
        assert "error" not in text.lower(), text
