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
from prometheus_client.parser import text_string_to_metric_families

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


COUNTING = """
import sys
from governance import server
from governance.kernel import telemetry

def app(environ, start_response):
    if environ["PATH_INFO"] == "/metrics":
        body, kind = telemetry.exposition()
        start_response("200 OK", [("Content-Type", kind)])
        return [body]
    if environ["PATH_INFO"] == "/count":
        telemetry.observe_request("count", "GET", 200, 0.01)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

server.serve(bind=sys.argv[1], workers=2, timeout=30, threads=1, build=lambda: app)
"""


def counted(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:  # noqa: S310
        text = answer.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "governance_http_requests_total":
                return sample.value
    return 0.0


def get(url: str, times: int) -> None:
    for _ in range(times):
        urllib.request.urlopen(f"{url}/count", timeout=30).read()  # noqa: S310


def test_a_second_server_on_the_instance_keeps_the_firsts_figures(tmp_path: Path) -> None:
    """`governance serve` emptied instance/prometheus/ at start: the second server deleted the
    first's live figures, and the first's /metrics then summed the second's. Each now counts
    in a folder of its own, summed by its own /metrics, and the folder of a server that has
    ended is removed when the next one starts."""
    instance = tmp_path / "instance"
    env = {"GOVERNANCE_INSTANCE_PATH": str(instance)}
    folder = instance / "prometheus"
    with ExitStack() as first_stack:
        first = first_stack.enter_context(serving(COUNTING, tmp_path / "first.log", env))
        get(first, 5)
        assert counted(first) == 5
        with serving(COUNTING, tmp_path / "second.log", env) as second:
            get(second, 3)
            assert counted(first) == 5
            assert counted(second) == 3
            assert len([p for p in folder.iterdir() if p.is_dir()]) == 2
        assert counted(first) == 5  # the second server stopped: its folder is left for now
    with serving(COUNTING, tmp_path / "third.log", env) as third:
        assert counted(third) == 0
        folders = [p for p in folder.iterdir() if p.is_dir()]
        assert len(folders) == 1, folders  # the two ended servers' removed
        assert not list(folder.glob("*.db"))
