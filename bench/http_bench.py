"""Granted-row reads through `governance serve` (4 worker processes) on loopback, each audited.

The world (`tests/reliability/load_world.py`: an arrests dataset of ROWS stored rows, an
active agreement, one grant and one API token per analyst) is built through the services on
SQLite in a temporary instance. CLIENT_PROCESSES x THREADS clients then read pages of 50
granted rows through `GET /api/v1/datasets/{id}/rows` as fast as they are answered, for
DURATION_S (quick: 3 s), three times; the figures are the medians. Each client opens a new
connection per request, as gunicorn's sync workers close every connection. Afterwards the
bench checks that the audit trail holds exactly one allowed `dataset:read` event per read.
With HTTP_BENCH_POSTGRES_URL set (a database whose public schema it drops), the same again on
PostgreSQL, as `http_reads_per_s_postgres` and `http_read_p99_ms_postgres`.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DURATION_S = 20.0
QUICK_DURATION_S = 3.0
REPEATS = 3
WORKERS = 4
CLIENT_PROCESSES = 4
THREADS = 4  # per client process: 16 concurrent clients
ANALYSTS = 16
ROWS = 10_000


def _world(tmp: Path, url: str | None = None) -> tuple[str, Path, str, list[str]]:
    """Build the world on `url` (default: SQLite in `tmp`); return the database URL, the
    instance path, the read path and the tokens."""
    instance = tmp / "instance"
    os.environ["GOVERNANCE_INSTANCE_PATH"] = str(instance)
    from argon2 import PasswordHasher
    from sqlalchemy.orm import Session

    from governance import create_app, schema
    from governance.identity import passwords
    from governance.kernel import keys
    from governance.kernel.extensions import database
    from tests.reliability.load_world import GRANTED, build

    # The world's people log in with nothing: the production argon2 cost only slows set-up.
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    url = url or f"sqlite:///{tmp / 'bench.db'}"
    for purpose in keys.KeyPurpose:  # as `governance init` does: the app needs its keys
        keys.create_key(purpose, instance / f"{purpose}.key")
    app = create_app({"DATABASE_URL": url})
    if not database(app).is_sqlite:
        with database(app).engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    schema.upgrade(database(app).engine)
    with Session(
        bind=database(app).engine, info=database(app).info, expire_on_commit=False
    ) as session:
        world = build(session, app, analysts=ANALYSTS, tokens_per_user=1, rows=ROWS)
        path = (
            f"/api/v1/datasets/{world.datasets.arrests.id}/rows?agreement="
            f"{world.agreement.id}&purpose=descriptive&" + "&".join(f"columns={c}" for c in GRANTED)
        )
        secrets = [world.tokens[a.id][0] for a in world.analysts]
    database(app).dispose()
    return url, instance, path, secrets


def _client(port: int, path: str, secrets: list[str], stop_at: float, results: Any) -> None:
    """THREADS clients in one process; puts (latencies in s, failures) on `results`."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def loop(secret: str, seed: int) -> None:
        mine: list[float] = []
        page = seed
        headers = {"Authorization": f"Bearer {secret}"}
        while time.monotonic() < stop_at:
            page = page % 20 + 1
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                connection.request("GET", f"{path}&page={page}", headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError as error:
                status, reason = 0, str(error)
            finally:
                connection.close()
            mine.append(time.perf_counter() - started)
            if status != 200:
                with lock:
                    failures.append(f"{status} {reason if status == 0 else ''}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(s, i)) for i, s in enumerate(secrets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((latencies, failures))


def _measure(port: int, path: str, secrets: list[str], duration: float) -> tuple[int, float, float]:
    """Reads answered, reads per second and the 99th percentile latency in ms."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    stop_at = time.monotonic() + duration
    processes = [
        context.Process(
            target=_client,
            args=(port, path, secrets[i * THREADS : (i + 1) * THREADS], stop_at, results),
        )
        for i in range(CLIENT_PROCESSES)
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    latencies: list[float] = []
    failures: list[str] = []
    for _ in processes:
        got, failed = results.get()
        latencies.extend(got)
        failures.extend(failed)
    for process in processes:
        process.join()
    elapsed = time.monotonic() - started
    if failures:
        raise RuntimeError(f"{len(failures)} reads failed, e.g. {failures[:3]}")
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies), len(latencies) / elapsed, p99 * 1000


def _audited_reads(url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from governance.audit.models import AuditEvent, AuditType, Outcome

    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(
            select(func.count()).where(
                AuditEvent.event_type == AuditType.DATASET_READ,
                AuditEvent.outcome == Outcome.ALLOWED,
            )
        )
    engine.dispose()
    return int(count or 0)


def measure(quick: bool, url: str | None = None) -> tuple[float, float]:
    """Median reads per second and p99 in ms on SQLite, or on the database at `url`."""
    from tests.live import LiveServer

    duration = QUICK_DURATION_S if quick else DURATION_S
    with tempfile.TemporaryDirectory(prefix="http-bench-") as name:
        tmp = Path(name)
        url, instance, path, secrets = _world(tmp, url)
        server = LiveServer(url, instance, tmp / "server.log", workers=WORKERS)
        try:
            _measure(server.port, path, secrets, 2.0)  # every worker booted and warm
            before = _audited_reads(url)
            figures, reads = [], 0
            for _ in range(REPEATS):
                count, rate, p99 = _measure(server.port, path, secrets, duration)
                figures.append((rate, p99))
                reads += count
                print(f"   {rate:,.0f} reads/s, p99 {p99:.1f} ms", flush=True)
            after = _audited_reads(url)
        finally:
            server.stop()
    if after - before != reads:
        raise RuntimeError(f"{reads} reads answered but {after - before} recorded")
    return (
        round(statistics.median(r for r, _ in figures), 1),
        round(statistics.median(p for _, p in figures), 1),
    )


def run(quick: bool) -> dict[str, float]:
    """SQLite; and PostgreSQL too when HTTP_BENCH_POSTGRES_URL names a database whose public
    schema may be dropped."""
    rate, p99 = measure(quick)
    results = {"http_reads_per_s": rate, "http_read_p99_ms": p99}
    postgres = os.environ.get("HTTP_BENCH_POSTGRES_URL")
    if postgres:
        print("   PostgreSQL:", flush=True)
        rate, p99 = measure(quick, postgres)
        results.update(http_reads_per_s_postgres=rate, http_read_p99_ms_postgres=p99)
    return results


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(run(quick="--quick" in sys.argv))
