"""Where an audited decision's CPU goes, part by part, and what one and two client processes
of the decision bench's loop decide together (issue 20, `decisions2`).

`audited_decisions_per_s_*` (bench/decision_bench.py) is a wall-clock rate of one client;
on a shared machine it measures the disk's fsync and the neighbours. This prints figures that
a loaded machine spoils less, on the bench's own world (1,000 grants) and its own loop:

- `parts`: CPU (`time.process_time`) per decision of each part of the loop: the new ORM
  session, the first `session.connection()` (pool checkout, the transaction's BEGIN), the
  policy epoch (`ensure_fresh`), Casbin's `evaluate`, `audit.record`, `commit`, `close`; the
  same `evaluate` run a second time at once (warm caches); the process's user and system CPU
  (`getrusage`) per decision; on PostgreSQL the backend's CPU (`/proc/<pid>/stat`) when the
  server runs on this machine. With `--sync-off` SQLite commits with `synchronous=OFF`: an
  experiment that shows the CPU without the fsync's wait, never a setting of the service.
- `procs`: the loop in 1 and in `--procs` forked client processes for `--seconds`, alternated
  `--pairs` times; the decisions a second of all of them together, each one's CPU per decision,
  and afterwards whether the trail forked (two events after one head) and still verifies.
  `--reading-first`: the clients run as a served read does (`kernel/db.reading_first`).

    .venv/bin/python bench/decision_parts.py parts [--postgres] [--rounds N] [--count N]
        [--sync-off]
    .venv/bin/python bench/decision_parts.py procs [--postgres] [--procs N] [--seconds S]
        [--pairs N] [--reading-first]

`--postgres` uses `http_bench.postgres_url()` (its public schema is dropped first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import decision_bench, http_bench

PARTS = ("sessions", "connection", "ensure_fresh", "evaluate", "record", "commit", "close")


def _world(postgres: bool) -> tuple[Any, list[Any], Path]:
    url = http_bench.postgres_url() if postgres else None
    if postgres and not url:
        raise SystemExit("--postgres needs GOVERNANCE_TEST_DATABASE_URL or HTTP_BENCH_POSTGRES_URL")
    tmp = Path(tempfile.mkdtemp(prefix="decision-parts-"))
    app = decision_bench._app(tmp, url)
    agreement_id, dataset_id, columns = decision_bench._world(app, 1000)
    requests = decision_bench._requests(agreement_id, dataset_id, columns, 2000, seed=1000)
    return app, requests, tmp


def _backend_cpu(session: Any) -> float | None:
    """The PostgreSQL backend's user + system CPU seconds, when its /proc is readable here."""
    from sqlalchemy import text

    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _parts_round(app: Any, requests: list[Any], count: int) -> dict[str, float]:
    from governance.authz.decision import evaluate, grant_index
    from governance.identity.actors import System
    from governance.kernel.extensions import database

    actor = System("bench")
    db = database(app)
    clock = time.process_time
    spent = dict.fromkeys(PARTS, 0.0)
    again = 0.0
    backend: list[float | None] = []
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(count):
        request = requests[i % len(requests)]
        t0 = clock()
        session = db.sessions()
        t1 = clock()
        session.connection()
        t2 = clock()
        index = grant_index(session)
        index.ensure_fresh(session)
        t3 = clock()
        decision = evaluate(index, request)
        t4 = clock()
        evaluate(index, request)  # the same again at once: what warm caches make of it
        t4b = clock()
        again += t4b - t4
        decision_bench.record_decision(session, request, decision, actor)
        t5 = clock()
        session.commit()
        t6 = clock()
        session.close()
        t7 = clock()
        spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4b, t6 - t5, t7 - t6)
        for part, span in zip(PARTS, spans, strict=True):
            spent[part] += span
        if i in (0, count - 1) and not db.is_sqlite:
            with db.session() as probe:
                backend.append(_backend_cpu(probe))
    after = resource.getrusage(resource.RUSAGE_SELF)
    figures = {part: value / count * 1e6 for part, value in spent.items()}
    figures["total (parts)"] = sum(figures[part] for part in PARTS)
    figures["evaluate_again"] = again / count * 1e6
    # The whole loop's, the second `evaluate` taken out.
    figures["user"] = (after.ru_utime - usage.ru_utime - again) / count * 1e6
    figures["system"] = (after.ru_stime - usage.ru_stime) / count * 1e6
    if len(backend) == 2 and None not in backend:
        figures["backend"] = (backend[1] - backend[0]) / count * 1e6  # type: ignore[operator]
    return figures


def parts(postgres: bool, rounds: int, count: int, sync_off: bool) -> None:
    app, requests, tmp = _world(postgres)
    from sqlalchemy import event

    from governance.kernel.extensions import database

    db = database(app)
    try:
        if sync_off and db.is_sqlite:
            db.engine.dispose()
            event.listen(
                db.engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA synchronous=OFF")
            )
        _parts_round(app, requests, 300)
        results = [_parts_round(app, requests, count) for _ in range(rounds)]
        print(f"CPU µs per decision, min / median of {rounds} rounds of {count}:")
        for key in results[0]:
            values = sorted(r[key] for r in results)
            print(f"  {key:15s} {values[0]:7.1f} / {statistics.median(values):7.1f}")
        print(f"  load {os.getloadavg()[0]:.1f}")
    finally:
        db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def _clients(
    app: Any, requests: list[Any], processes: int, seconds: float, reading: bool = False
) -> tuple[float, list[float]]:
    """The bench's loop in `processes` forked children at once: their rates' sum, and each
    one's CPU µs per decision. `reading`: the loop runs as a served read does (SQLite begins
    deferred and takes the write lock at the audit append, kernel/db.py `reading_first`)."""
    from governance.kernel.db import reading_first
    from governance.kernel.extensions import database

    db = database(app)
    db.engine.dispose()
    children = []
    for k in range(processes):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read)
            db.engine.dispose(close=False)
            mine = requests[k::processes]
            with reading_first() if reading else contextlib.nullcontext():
                decision_bench._audited_per_second(app, mine, 0.2)
                start = time.process_time()
                rate = decision_bench._audited_per_second(app, mine, seconds)
                cpu = (time.process_time() - start) / max(1.0, rate * seconds) * 1e6
            os.write(write, json.dumps([rate, cpu]).encode())
            os._exit(0)
        os.close(write)
        children.append((pid, read))
    answers = []
    for pid, read in children:
        answers.append(json.loads(os.read(read, 1000)))
        os.close(read)
        os.waitpid(pid, 0)
    return sum(a[0] for a in answers), [a[1] for a in answers]


def procs(postgres: bool, processes: int, seconds: float, pairs: int, reading: bool) -> None:
    app, requests, tmp = _world(postgres)
    from sqlalchemy import text

    from governance.audit import verify
    from governance.kernel.extensions import database

    db = database(app)
    try:
        decision_bench._audited_per_second(app, requests, 0.3)
        for _ in range(pairs):
            one, one_cpu = _clients(app, requests, 1, seconds, reading)
            many, many_cpu = _clients(app, requests, processes, seconds, reading)
            print(
                f"1 process {one:6.0f}/s (CPU {one_cpu[0]:.0f} µs a decision) | "
                f"{processes} processes {many:6.0f}/s (CPU "
                + ", ".join(f"{c:.0f}" for c in many_cpu)
                + f" µs) | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        with db.session() as session:
            events, heads = session.execute(
                text("SELECT count(*), count(DISTINCT prev_hash) FROM audit_event")
            ).one()
        report = verify.verify_chain(db.read_engine(), db.info["audit"])
        print(f"events {events}, forks {events - heads}, chain verifies: {report.intact}")
    finally:
        db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("parts", "procs"))
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--sync-off", action="store_true")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--reading-first", action="store_true")
    args = parser.parse_args()
    if args.mode == "parts":
        parts(args.postgres, args.rounds, args.count, args.sync_off)
    else:
        procs(args.postgres, args.procs, args.seconds, args.pairs, args.reading_first)


if __name__ == "__main__":
    main()
