"""Granted-row reads through `governance serve` (4 worker processes) on loopback, each audited.

The world (`tests/reliability/load_world.py`: an arrests dataset of ROWS stored rows, an
active agreement, one grant and one API token per analyst) is built through the services on
SQLite in a temporary instance. CLIENT_PROCESSES x THREADS clients then read pages of 50
granted rows through `GET /api/v1/datasets/{id}/rows` as fast as they are answered, for
DURATION_S (quick: 3 s), three times; the figures are the medians. Each client keeps its
connection open between requests, as an API client does, and opens a new one only after an
error or when the server closes it (serve's default sync workers close each one; gthread
workers, HTTP_BENCH_WORKER_CLASS=gthread, keep them alive: governance/server.py;
HTTP_BENCH_WORKERS and HTTP_BENCH_THREADS set the model's size). Afterwards the bench
checks that the audit trail holds exactly one allowed `dataset:read` event per read.

The load test (`load_*` keys) then runs LOAD_CLIENTS clients for LOAD_S seconds (the
environment's HTTP_BENCH_LOAD_S shortens or lengthens it; quick: 5 s) and reports the failed
requests (must be 0), whether the audit trail holds exactly one event per read answered (1 or
0) and whether `governance audit verify` finds the chain intact afterwards (1 or 0).

With HTTP_BENCH_POSTGRES_URL or, as the tests do, GOVERNANCE_TEST_DATABASE_URL set (a database
whose public schema it drops), all of it again on PostgreSQL, as the same keys with a
`_postgres` suffix.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DURATION_S = float(os.environ.get("HTTP_BENCH_DURATION_S") or 20)
QUICK_DURATION_S = 3.0
REPEATS = int(os.environ.get("HTTP_BENCH_REPEATS") or 3)
WORKERS = int(os.environ.get("HTTP_BENCH_WORKERS") or 4)
SERVER_THREADS = int(os.environ.get("HTTP_BENCH_THREADS") or 0) or None
WORKER_CLASS = os.environ.get("HTTP_BENCH_WORKER_CLASS") or None  # default: serve's
CLIENT_PROCESSES = 4
THREADS = 4  # per client process: 16 concurrent clients
ANALYSTS = 16
ROWS = 10_000
LOAD_CLIENTS = 64
LOAD_S = 60.0
QUICK_LOAD_S = 5.0


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


def _client(
    port: int, path: str, secrets: list[str], threads: int, stop_at: float, results: Any
) -> None:
    """`threads` clients in one process, taking turns over `secrets`; puts (latencies in s,
    failures) on `results`."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def loop(secret: str, seed: int) -> None:
        mine: list[float] = []
        page = seed
        headers = {"Authorization": f"Bearer {secret}"}
        connection: http.client.HTTPConnection | None = None
        while time.monotonic() < stop_at:
            page = page % 20 + 1
            started = time.perf_counter()
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                connection.request("GET", f"{path}&page={page}", headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                status, reason = 0, str(error)
                connection.close()
                connection = None
            mine.append(time.perf_counter() - started)
            if status != 200:
                with lock:
                    failures.append(f"{status} {reason if status == 0 else ''}")
        if connection is not None:
            connection.close()
        with lock:
            latencies.extend(mine)

    threads = [
        threading.Thread(target=loop, args=(secrets[i % len(secrets)], i)) for i in range(threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((latencies, failures))


def _measure(
    port: int, path: str, secrets: list[str], duration: float, *, clients: int = 0
) -> tuple[int, float, float]:
    """Reads answered, reads per second and the 99th percentile latency in ms; raises if any
    request failed. `clients` (default: one per secret) are spread over CLIENT_PROCESSES."""
    count, rate, p99, failures = _drive(port, path, secrets, duration, clients or len(secrets))
    if failures:
        raise RuntimeError(f"{len(failures)} reads failed, e.g. {failures[:3]}")
    return count, rate, p99


def _drive(
    port: int, path: str, secrets: list[str], duration: float, clients: int
) -> tuple[int, float, float, list[str]]:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    stop_at = time.monotonic() + duration
    share = -(-clients // CLIENT_PROCESSES)
    processes = [
        context.Process(
            target=_client,
            args=(
                port,
                path,
                secrets[i * THREADS : (i + 1) * THREADS] or secrets,
                min(share, clients - i * share),
                stop_at,
                results,
            ),
        )
        for i in range(CLIENT_PROCESSES)
        if clients - i * share > 0
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
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    answered = len(latencies) - len(failures)
    return answered, answered / elapsed, p99 * 1000, failures


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


def _chain_intact(url: str, instance: Path) -> bool:
    """`governance audit verify` over the trail the reads wrote."""
    env = {
        **os.environ,
        "GOVERNANCE_INSTANCE_PATH": str(instance),
        "GOVERNANCE_DATABASE_URL": url,
    }
    env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "governance.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def measure(quick: bool, url: str | None = None) -> dict[str, float]:
    """Median reads per second and p99 in ms, then the load test, on SQLite or on the
    database at `url`."""
    from tests.live import LiveServer

    duration = QUICK_DURATION_S if quick else DURATION_S
    load_s = float(os.environ.get("HTTP_BENCH_LOAD_S") or (QUICK_LOAD_S if quick else LOAD_S))
    with tempfile.TemporaryDirectory(prefix="http-bench-") as name:
        tmp = Path(name)
        url, instance, path, secrets = _world(tmp, url)
        server = LiveServer(
            url,
            instance,
            tmp / "server.log",
            workers=WORKERS,
            threads=SERVER_THREADS,
            worker_class=WORKER_CLASS,
            start_within=180,
        )
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
            if after - before != reads:
                raise RuntimeError(f"{reads} reads answered but {after - before} recorded")
            count, rate, p99, failures = _drive(server.port, path, secrets, load_s, LOAD_CLIENTS)
            loaded = _audited_reads(url) - after
        finally:
            server.stop()
        intact = _chain_intact(url, instance)
    print(
        f"   load: {LOAD_CLIENTS} clients for {load_s:.0f} s: {count:,} reads, {rate:,.0f}/s, "
        f"p99 {p99:.1f} ms, {len(failures)} failed {failures[:3]}, {loaded:,} audited, "
        f"chain {'intact' if intact else 'BROKEN'}",
        flush=True,
    )
    return {
        "http_reads_per_s": round(statistics.median(r for r, _ in figures), 1),
        "http_read_p99_ms": round(statistics.median(p for _, p in figures), 1),
        "load_errors": float(len(failures)),
        "load_reads_per_s": round(rate, 1),
        "load_read_p99_ms": round(p99, 1),
        "load_audited_equals_reads": float(loaded == count),
        "load_chain_intact": float(intact),
    }


def postgres_url() -> str | None:
    """The PostgreSQL database the benches may wipe: HTTP_BENCH_POSTGRES_URL, else the tests'
    GOVERNANCE_TEST_DATABASE_URL (the tests wipe it too)."""
    return os.environ.get("HTTP_BENCH_POSTGRES_URL") or os.environ.get(
        "GOVERNANCE_TEST_DATABASE_URL"
    )


def run(quick: bool) -> dict[str, float]:
    """SQLite; and PostgreSQL too when `postgres_url()` names a database."""
    results = measure(quick)
    postgres = postgres_url()
    if postgres:
        print("   PostgreSQL:", flush=True)
        results.update({f"{k}_postgres": v for k, v in measure(quick, postgres).items()})
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(run(quick="--quick" in sys.argv))
