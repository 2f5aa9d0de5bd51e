"""gunicorn really serving, in its own process, for the tests of `governance serve`'s settings:
a script of the test's own (`python -c`) that serves a small WSGI app through
`governance.server`, on a free loopback port it is given as its argument."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.workers import free_port


@contextmanager
def serving(script: str, log_path: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The server's address once it answers /up, its output in `log_path`; stopped after,
    even when it never answered. `env` is added to this process's environment."""
    bind = f"127.0.0.1:{free_port()}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", script, bind],
            env={
                **os.environ,
                "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                **(env or {}),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://{bind}"
        deadline = time.monotonic() + 60
        try:
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    urllib.request.urlopen(f"{url}/up", timeout=30).read()  # noqa: S310
                    break
                except OSError:
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=45)
