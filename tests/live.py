"""`governance serve` and `governance worker` as real processes, for browser and reliability tests.

Each runs with the test's instance directory and database, built through the services first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.workers import free_port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within gunicorn's graceful time (30 s)."""
    process.terminate()
    try:
        process.wait(timeout=45)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class LiveServer:
    def __init__(
        self,
        database_url: str,
        instance: Path,
        log: Path,
        *,
        workers: int = 2,
        threads: int | None = None,
        worker_class: str | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        # Generous: under xdist another worker's server or browser may share the cores while
        # this one imports the app (a healthy start takes seconds; nothing measures it).
        start_within: float = 90,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "GOVERNANCE_INSTANCE_PATH": str(instance),
            "GOVERNANCE_DATABASE_URL": database_url,
            # Journeys sign administrators in with passwords alone unless a test says otherwise.
            "GOVERNANCE_ADMIN_SECOND_FACTOR_REQUIRED": "false",
            **(env or {}),
        }
        env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "governance.cli",
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                *(["--threads", str(threads)] if threads else []),
                *(["--worker-class", worker_class] if worker_class else []),
            ],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up(start_within)

    def _wait_until_up(self, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/login", timeout=2)  # noqa: S310
                return
            except OSError:
                time.sleep(0.2)
        _stop(self.process)
        raise RuntimeError(f"the server did not start within {within:.0f} s")

    def stop(self) -> None:
        _stop(self.process)
        self._log_file.close()


class Worker:
    """`governance worker`: runs analysis jobs from the same instance's queue."""

    def __init__(self, database_url: str, instance: Path, log: Path) -> None:
        env = {
            **os.environ,
            "GOVERNANCE_INSTANCE_PATH": str(instance),
            "GOVERNANCE_DATABASE_URL": database_url,
        }
        env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "governance.cli", "worker", "--workers", "1"],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        _stop(self.process)
        self._log_file.close()
