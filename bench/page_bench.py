"""Page views under load: the dashboard, an agreement's page, an audit search over a million
events and the access review, through `governance serve` (4 worker processes) on loopback.

The world is the HTTP bench's (`tests/reliability/load_world.py`, built through the services
on SQLite), then EVENTS chained audit events are appended by the audit bench's bulk writer
(`audit_bench.generate`, quick: 20,000). CLIENTS clients, each signed in as the compliance
manager with the password form and each page viewed once (not timed), ask for the four pages in
turn, keeping their connections open: ROUNDS rounds of VIEWS views per client, every client
starting each round together, so no sign-in or warm-up runs beside a timed view and each round
is the same number of views. `page_view_p99_ms` is the median over the rounds of each round's
99th percentile over all pages (the worst page's likewise, and each round's are printed), as
bench/run.py asks: a figure steadier than one pooled p99 over a fixed duration, whose views a
page swung 1,168-1,530 between runs of the same code. Every answer must be 200. With
HTTP_BENCH_POSTGRES_URL or GOVERNANCE_TEST_DATABASE_URL set (a database whose public schema it
drops), all of it again on PostgreSQL as `page_view_p99_ms_postgres`.

The server's model is the HTTP bench's: HTTP_BENCH_WORKER_CLASS (gthread or sync; default:
serve's), HTTP_BENCH_WORKERS and HTTP_BENCH_THREADS. A sync worker closes each connection after
its answer; the clients then open a new one, as the HTTP bench's do. PAGE_BENCH_WORLD=DIR serves
a world built by `bench/page_profile.py --build DIR` instead of building one (minutes per million
events), for repeated runs side by side; the page bench then measures that world's database
alone.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench import http_bench

EVENTS = 1_000_000
QUICK_EVENTS = 20_000
CLIENTS = 16
PROCESSES = 4
# Each of ROUNDS rounds: every client VIEWS views (the four pages in turn, VIEWS / 4 each), all
# clients starting together; about 20 s in all on the quiet machine, as the 20 s drive was.
ROUNDS = 5
VIEWS = 80
QUICK_ROUNDS = 2
QUICK_VIEWS = 8
WHO = "compliance@test.example"


def _login(port: int) -> str:
    """The session cookie of a fresh sign-in."""
    from tests.support import PASSWORD

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/login")
    response = connection.getresponse()
    form = response.read().decode()
    cookies = [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    token = re.search(r'name="csrf-token" content="([^"]+)"', form)
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    body = urllib.parse.urlencode(
        {"email": WHO, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    connection.request(
        "POST",
        "/login",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(cookies),
        },
    )
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"sign-in answered {response.status}")
    signed = [v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    connection.close()
    return "; ".join(signed or cookies)


def _clients(
    port: int, pages: list[str], count: int, barrier: Any, views: int, rounds: int, results: Any
) -> None:
    """`count` clients, each signed in, warmed, then `rounds` rounds of `views` views (the four
    pages in turn); every client of every process starts each round together (`barrier`).
    Puts, per round, each page's timings, and the views that failed."""
    timings: list[dict[str, list[float]]] = [{page: [] for page in pages} for _ in range(rounds)]
    failures: list[str] = []
    lock = threading.Lock()

    def loop(seed: int) -> None:
        cookie = _login(port)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        # Not timed: each page once, so that the workers have compiled their templates, drawn
        # the charts and built their enforcers (a worker's first minute, not its steady state).
        for page in pages:
            connection.request("GET", page, headers={"Cookie": cookie})
            connection.getresponse().read()
        mine: list[dict[str, list[float]]] = [{page: [] for page in pages} for _ in range(rounds)]
        turn = seed
        for round_ in range(rounds):
            # No sign-in (a password hash) or warm-up of another client runs beside the timed
            # views, and no client's round ends with fewer than `count` clients started.
            barrier.wait()
            for _ in range(views):
                page = pages[turn % len(pages)]
                turn += 1
                started = time.perf_counter()
                try:
                    connection.request("GET", page, headers={"Cookie": cookie})
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                    if response.will_close:  # a sync worker: the next view on a new connection
                        connection.close()
                except (OSError, http.client.HTTPException):
                    status = 0
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                mine[round_][page].append(time.perf_counter() - started)
                if status != 200:
                    with lock:
                        failures.append(f"{status} {page}")
        connection.close()
        with lock:
            for round_, got in enumerate(mine):
                for page, values in got.items():
                    timings[round_][page].extend(values)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((timings, failures))


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0


def figures(rounds: list[dict[str, list[float]]]) -> dict[str, float]:
    """`page_view_p99_ms`: the median over rounds of each round's p99 over every page's views;
    `page_view_worst_p99_ms`: the median over rounds of the worst page's p99 in that round.
    A round is a fixed number of views by every client started together, so each round's p99
    is the same order statistic of the same number of views, and one disturbed round (a
    neighbour's burst on a shared machine) moves the median less than it moves a pooled p99."""
    overall = [_p99([v for values in got.values() for v in values]) for got in rounds]
    worst = [max(_p99(values) for values in got.values()) for got in rounds]
    return {
        "page_view_p99_ms": round(statistics.median(overall), 1),
        "page_view_worst_p99_ms": round(statistics.median(worst), 1),
    }


def _built_world(tmp: Path, quick: bool, database_url: str | None) -> tuple[str, Path, str]:
    """The database URL, instance and agreement id of a world: PAGE_BENCH_WORLD's, else one
    built in `tmp`."""
    if given := os.environ.get("PAGE_BENCH_WORLD"):
        world = json.loads((Path(given) / "world.json").read_text())
        return world["url"], Path(world["instance"]), world["agreement"]
    from bench.audit_bench import generate, settle

    url, instance, read_path, _secrets = http_bench._world(tmp, database_url)
    agreement = re.search(r"agreement=(\d+)", read_path)
    assert agreement is not None
    started = time.perf_counter()
    generate(url, (instance / "audit.key").read_bytes(), QUICK_EVENTS if quick else EVENTS)
    settle(url)
    print(f"   events appended in {time.perf_counter() - started:.0f} s", flush=True)
    return url, instance, agreement.group(1)


def measure(quick: bool, database_url: str | None = None) -> dict[str, float]:
    from tests.live import LiveServer

    rounds, views = (QUICK_ROUNDS, QUICK_VIEWS) if quick else (ROUNDS, VIEWS)
    with tempfile.TemporaryDirectory(prefix="page-bench-") as name:
        tmp = Path(name)
        url, instance, agreement = _built_world(tmp, quick, database_url)
        pages = [
            # "/" answers with a redirect to the signed-in person's first dashboard.
            "/dashboard/compliance_manager",
            f"/agreements/{agreement}",
            "/audit/?event_type=dataset%3Aread",
            "/access/grants?review=overdue",
        ]
        server = LiveServer(
            url,
            instance,
            tmp / "server.log",
            workers=http_bench.WORKERS,
            threads=http_bench.SERVER_THREADS,
            worker_class=http_bench.WORKER_CLASS,
            start_within=180,
        )
        try:
            context = multiprocessing.get_context("fork")
            results = context.Queue()
            barrier = context.Barrier(CLIENTS)
            processes = [
                context.Process(
                    target=_clients,
                    args=(
                        server.port,
                        pages,
                        CLIENTS // PROCESSES,
                        barrier,
                        views,
                        rounds,
                        results,
                    ),
                )
                for _ in range(PROCESSES)
            ]
            for process in processes:
                process.start()
            timings: list[dict[str, list[float]]] = [
                {page: [] for page in pages} for _ in range(rounds)
            ]
            failures: list[str] = []
            for _ in processes:
                got, failed = results.get()
                for round_, pages_got in enumerate(got):
                    for page, values in pages_got.items():
                        timings[round_][page].extend(values)
                failures.extend(failed)
            for process in processes:
                process.join()
        finally:
            server.stop()
    if failures:
        raise RuntimeError(f"{len(failures)} page views failed, e.g. {failures[:3]}")
    for page in pages:
        values = [v for got in timings for v in got[page]]
        each = ", ".join(f"{_p99(got[page]):.1f}" for got in timings)
        print(
            f"   {page}: {len(values)} views, median {statistics.median(values) * 1000:.1f} ms, "
            f"p99 per round {each} ms",
            flush=True,
        )
    found = figures(timings)
    each = ", ".join(f"{_p99([v for vs in got.values() for v in vs]):.1f}" for got in timings)
    print(f"   p99 per round {each} ms: median {found['page_view_p99_ms']} ms", flush=True)
    return found


def run(quick: bool) -> dict[str, float]:
    results = measure(quick)
    postgres = http_bench.postgres_url()
    if postgres and not os.environ.get("PAGE_BENCH_WORLD"):
        print("   PostgreSQL:", flush=True)
        results.update({f"{k}_postgres": v for k, v in measure(quick, postgres).items()})
    return results


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(run(quick="--quick" in sys.argv))
