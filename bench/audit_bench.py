"""Audit trail benchmarks (issue 9): chain forks under concurrent writers on PostgreSQL, and
`governance audit verify`, the CSV export and the PDF audit report over a million events.

`run(quick)` returns the figures; `python bench/audit_bench.py [--quick]` prints them. The
million events are made by `generate` below, a bulk path for the benchmark only: it computes
the same hashes with the writer's own `content_text` / `chain_hash` and signs checkpoints with
the instance key, then inserts in large batches. The application itself still has one writer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from governance import schema  # noqa: E402
from governance.audit.format import (  # noqa: E402
    canonical_detail,
    chain_hash,
    checkpoint_message,
    content_text,
    fingerprint,
    format_time,
    head_message,
    sign,
)
from governance.kernel.db import make_engine  # noqa: E402

GOVERNANCE = str(Path(sys.executable).with_name("governance"))
# Its own database on the CI/developer server (created when missing), so a benchmark never
# wipes the test suite's `test` database.
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_audit"
EVENT_MIX = [
    ("dataset:read", 40),
    ("auth:login", 15),
    ("agreement:approve", 2),
    ("access_request:submit", 5),
    ("grant:create", 3),
    ("analysis:submit", 8),
    ("output:produce", 6),
    ("audit:search", 3),
    ("auth:login_failed", 4),
    ("dataset:download", 4),
    ("agreement:update", 10),
]
COLUMNS = ["age_band", "district", "offence_code", "name", "date_of_birth", "case_id"]
IDENTIFIERS = {"name", "date_of_birth"}


def _event(seq: int, moment: dt.datetime, rng: random.Random) -> tuple[Any, ...]:
    """One plausible event as a row in `content_text` order (detail as canonical JSON)."""
    kinds, weights = zip(*EVENT_MIX, strict=True)
    event_type = rng.choices(kinds, weights)[0]
    user = rng.randrange(1, 51)
    outcome = (
        "denied"
        if rng.random() < 0.04
        else ("allowed" if event_type == "dataset:read" else "success")
    )
    detail: dict[str, Any] = {"source": "bench"}
    if event_type == "dataset:read":
        columns = rng.sample(COLUMNS, 3)
        detail = {
            "columns": sorted(columns),
            "row_count": rng.randrange(1, 5000),
            "direct_identifier_columns": sorted(IDENTIFIERS.intersection(columns)),
            "purpose": "recidivism study",
        }
    return (
        f"user{user}@bench.example",
        user,
        rng.randrange(1, 21),
        1,
        "4.2" if outcome == "denied" else None,
        rng.randrange(1, 31),
        canonical_detail(detail),
        event_type,
        format_time(moment),
        outcome,
        f"grant:{rng.randrange(1, 500)}",
        seq,
        str(rng.randrange(1, 10_000)),
        "dataset",
    )


def generate(
    url: str,
    key: bytes,
    count: int,
    *,
    start: dt.datetime | None = None,
    days: int = 365,
    checkpoint_every: int = 1000,
    checkpoint_minutes: int = 10,
) -> tuple[int, str]:
    """Append `count` chained events after the current head of a format-2 trail, with signed
    checkpoints where the writer's rule puts them (every `checkpoint_every` events, and at the
    first event `checkpoint_minutes` after the last one) and a signed head; return the head."""
    engine = make_engine(url)
    rng = random.Random(20261123)
    start = start or dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(days=days) / max(count, 1)
    sqlite = url.startswith("sqlite")
    mark = "?" if sqlite else "%s"  # the driver's parameter style; all values are bound
    insert = (
        "INSERT INTO audit_event (actor_email, actor_id, agreement_id, "
        "agreement_version, clause, dataset_id, detail, event_type, occurred_at, outcome, "
        "rule, seq, target_id, target_type, prev_hash, hash) "
        f"VALUES ({', '.join([mark] * 16)})"
    )
    key_id = fingerprint(key)
    every, minutes = checkpoint_every, checkpoint_minutes
    with engine.begin() as connection:
        head = connection.exec_driver_sql(
            "SELECT seq, hash, last_checkpoint_seq, last_checkpoint_at, format_since "
            "FROM audit_head"
        ).one()
        seq, prev, since = head.seq, head.hash, head.format_since
        last_seq, last_at = head.last_checkpoint_seq, None
        raw: Any = connection.connection.dbapi_connection
        cursor = raw.cursor()
        batch: list[tuple[Any, ...]] = []
        checkpoints: list[tuple[Any, ...]] = []
        for i in range(count):
            seq += 1
            moment = start + step * i
            row = _event(seq, moment, rng)
            digest = chain_hash(prev, content_text(*row))
            stored_time = moment.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment
            batch.append((*row[:8], stored_time, *row[9:], prev, digest))
            prev = digest
            if (
                seq == since
                or last_at is None
                or seq - last_seq >= every
                or moment - last_at >= dt.timedelta(minutes=minutes)
            ):
                checkpoints.append(
                    (
                        seq,
                        digest,
                        stored_time,
                        key_id,
                        sign(
                            key,
                            checkpoint_message(
                                seq, digest, format_since=since, every=every, minutes=minutes
                            ),
                        ),
                        every,
                        minutes,
                    )
                )
                last_seq, last_at = seq, moment
            if len(batch) == 20_000:
                cursor.executemany(insert, batch)
                batch.clear()
        if batch:
            cursor.executemany(insert, batch)
        cursor.executemany(
            "INSERT INTO audit_checkpoint (seq, head_hash, created_at, key_id, signature, "
            f"cadence_events, cadence_minutes) VALUES ({', '.join([mark] * 7)})",
            checkpoints,
        )
        last_checkpoint = checkpoints[-1] if checkpoints else None
        cursor.execute(
            f"UPDATE audit_head SET seq = {mark}, hash = {mark}, last_checkpoint_seq = {mark}, "
            f"last_checkpoint_at = {mark}, cadence_events = {mark}, cadence_minutes = {mark}, "
            f"key_id = {mark}, signature = {mark}",
            (
                seq,
                prev,
                last_checkpoint[0] if last_checkpoint else 0,
                last_checkpoint[2] if last_checkpoint else None,
                every,
                minutes,
                key_id,
                sign(key, head_message(seq, prev, format_since=since)),
            ),
        )
    engine.dispose()
    return seq, prev


def settle(url: str) -> None:
    """On PostgreSQL, what autovacuum does after a bulk load, before the trail is read (pages,
    the report's counts): VACUUM (ANALYZE) the audit trail. This machine's server runs with
    autovacuum off (/etc/postgresql/15/main/conf.d/90-ci.conf), so a million rows written in
    one go had no statistics and no visibility map: the planner then read all of `audit_event`
    for the dashboard's 30 days (340 ms a view) and counted a search's 10,000 matches through a
    bitmap over all 400,000 (90 ms), where with statistics it walks `ix_audit_event_occurred_at`
    (0.2 ms) and the event-type index alone (1.6 ms). A database that gained its events one at
    a time, with autovacuum on as PostgreSQL ships, is in the settled state. SQLite keeps no
    statistics unless asked and its planner takes the indexes without them."""
    if url.startswith("sqlite"):
        return
    from governance.kernel.db import make_engine

    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE) audit_event, audit_checkpoint")
    engine.dispose()


def _timed_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command in a fresh child; return (seconds, its peak RSS in MB, stdout)."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "s = time.perf_counter() - t; "
        "print(s, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode); "
        "sys.stderr.write(p.stdout + p.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True, check=True
    )
    seconds, max_rss_kb, code = done.stdout.split()
    if code != "0":
        raise RuntimeError(f"{' '.join(args)} failed ({code}): {done.stderr}")
    return float(seconds), int(max_rss_kb) / 1024, done.stderr


def _instance(tmp: Path, url: str) -> dict[str, str]:
    env = dict(
        os.environ, GOVERNANCE_INSTANCE_PATH=str(tmp / "instance"), GOVERNANCE_DATABASE_URL=url
    )
    subprocess.run([GOVERNANCE, "init"], env=env, check=True, capture_output=True)
    return env


def measure_million(tmp: Path, count: int, url: str | None = None) -> dict[str, float]:
    """The three commands over `count` generated events: on SQLite, or on the PostgreSQL
    database `url` (wiped first), whose keys get a `_postgres` suffix."""
    suffix = "" if url is None else "_postgres"
    if url is None:
        url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        _wipe(url)
        tmp = tmp / "postgres"
        tmp.mkdir()
    env = _instance(tmp, url)
    key = (tmp / "instance" / "audit.key").read_bytes()  # created by `governance init`
    started = time.perf_counter()
    generate(url, key, count)
    print(f"generated {count} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    settle(url)  # PostgreSQL only: what autovacuum would have done after the bulk load
    verify_s, _, out = _timed_child([GOVERNANCE, "audit", "verify"], env)
    if "intact" not in out:
        raise RuntimeError(out)
    csv_s, csv_mb, _ = _timed_child(
        [GOVERNANCE, "audit", "export", "--format", "csv", "--out", str(tmp / "a.csv")], env
    )
    pdf_s, _, _ = _timed_child(
        [
            GOVERNANCE,
            "audit",
            "export",
            "--format",
            "pdf",
            "--since",
            "2025-01-01",
            "--until",
            "2026-01-01",
            "--out",
            str(tmp / "a.pdf"),
        ],
        env,
    )
    return {
        f"audit_verify_1m_s{suffix}": round(verify_s, 2),
        f"csv_export_1m_s{suffix}": round(csv_s, 2),
        f"csv_export_peak_mb{suffix}": round(csv_mb, 1),
        f"pdf_audit_report_1m_s{suffix}": round(pdf_s, 2),
    }


def _wipe(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


WRITER = """
import sys
from governance import create_app
from governance.kernel.extensions import database
from governance.audit.models import AuditType
from governance.audit import service as audit
from governance.identity.actors import System

app = create_app()
db = database(app)
actor = System(f"bench-writer-{sys.argv[1]}")
for i in range(int(sys.argv[2])):
    with db.session() as session:
        audit.record(session, AuditType.AUDIT_SEARCH, by=actor, detail={"i": i})
        session.commit()
db.dispose()
"""


def measure_forks(tmp: Path, url: str, writers: int, events: int) -> dict[str, float]:
    _wipe(url)
    engine = make_engine(url)
    schema.upgrade(engine)
    env = dict(
        os.environ, GOVERNANCE_INSTANCE_PATH=str(tmp / "pg-instance"), GOVERNANCE_DATABASE_URL=url
    )
    # Creates the instance keys once, before the writers start side by side.
    subprocess.run([GOVERNANCE, "init"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(n), str(events)], env=env)
        for n in range(writers)
    ]
    if any(p.wait() for p in processes):
        raise RuntimeError("a writer failed")
    seconds = time.perf_counter() - started
    with engine.connect() as connection:
        total, distinct_prev, max_seq = connection.exec_driver_sql(
            "SELECT count(*), count(DISTINCT prev_hash), max(seq) FROM audit_event"
        ).one()
    engine.dispose()
    _, _, out = _timed_child([GOVERNANCE, "audit", "verify"], env)
    forks = (total - distinct_prev) + (0 if "intact" in out else 1)
    print(
        f"{writers} writers x {events} events: {total} events (max seq {max_seq}) in "
        f"{seconds:.1f} s; {out.strip()}",
        file=sys.stderr,
    )
    if total != writers * events:
        forks += 1
    return {"audit_forks_postgres_4_writers": float(forks)}


def _ensure_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database if the server does not have it yet."""
    from sqlalchemy import make_url

    from tests.workers import create_database

    create_database(url, via=make_url(url).set(database="postgres").render_as_string(False))


def run(quick: bool) -> dict[str, float]:
    events = 1_000_000 if not quick else 20_000
    per_writer = 10_000 if not quick else 200
    # The database-bound keys are measured on PostgreSQL too, as the tests run (issue 20):
    # BENCH_POSTGRES_URL, else the tests' GOVERNANCE_TEST_DATABASE_URL, else bench_audit.
    url = (
        os.environ.get("BENCH_POSTGRES_URL")
        or os.environ.get("GOVERNANCE_TEST_DATABASE_URL")
        or DEFAULT_POSTGRES
    )
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as name:
        tmp = Path(name)
        results: dict[str, float] = {}
        try:
            _ensure_database(url)
        except OperationalError as error:
            # A machine without PostgreSQL still measures the rest.
            print(
                f"audit_forks_postgres_4_writers skipped: PostgreSQL unreachable at {url} "
                f"({error.orig})",
                file=sys.stderr,
            )
        else:
            results.update(measure_forks(tmp, url, 4, per_writer))
            # The same million events: generating them takes minutes on either database.
            results.update(measure_million(tmp, events, url))
        results.update(measure_million(tmp, events))
    return results


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
