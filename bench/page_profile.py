"""CPU and SQL per page view in one process: the load-independent figure beside the page bench.

The page bench's four pages (bench/page_bench.py) viewed through Flask's test client signed in
as the compliance manager, on a world built by the page bench's recipe (the HTTP bench's world
plus EVENTS bulk-written audit events). Building a million events takes minutes, so a world can
be built once into a directory and reused:

    .venv/bin/python bench/page_profile.py --build DIR [--postgres]
    .venv/bin/python bench/page_profile.py --world DIR [--views N] [--statements] [--explain]

Prints, per page, the median `time.process_time` of N views, the SQL statements one view sends
with each one's time, and with `--explain` each SELECT's plan (PostgreSQL: EXPLAIN (ANALYZE,
BUFFERS); SQLite: EXPLAIN QUERY PLAN), run after the view on a connection of its own, and
with `--profile` where the CPU goes (cProfile, cumulative).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

VIEWS = 30


def build(directory: Path, postgres: bool) -> None:
    from bench import http_bench
    from bench.audit_bench import generate, settle
    from bench.page_bench import EVENTS

    directory.mkdir(parents=True, exist_ok=True)
    url, instance, read_path, _secrets = http_bench._world(
        directory, http_bench.postgres_url() if postgres else None
    )
    generate(url, (instance / "audit.key").read_bytes(), EVENTS)
    if "--unsettled" not in sys.argv:  # to see the plans a bulk load leaves behind
        settle(url)
    agreement = re.search(r"agreement=(\d+)", read_path)
    assert agreement is not None
    (directory / "world.json").write_text(
        json.dumps({"url": url, "instance": str(instance), "agreement": agreement.group(1)})
    )


def pages(agreement: str) -> list[str]:
    return [
        "/dashboard/compliance_manager",
        f"/agreements/{agreement}",
        "/audit/?event_type=dataset%3Aread",
        "/access/grants?review=overdue",
    ]


def profile(directory: Path, argv: list[str]) -> None:
    from sqlalchemy import event

    from bench.page_bench import WHO
    from tests.conftest import Browser
    from tests.support import PASSWORD

    world = json.loads((directory / "world.json").read_text())
    if "agreement" not in world:  # a world written before this script named the agreement
        world["agreement"] = re.search(r"agreement=(\d+)", world["read_path"]).group(1)  # type: ignore[union-attr]
    os.environ["GOVERNANCE_INSTANCE_PATH"] = world["instance"]
    from governance import create_app
    from governance.kernel.extensions import database

    views = int(argv[argv.index("--views") + 1]) if "--views" in argv else VIEWS
    app = create_app({"DATABASE_URL": world["url"]})
    browser = Browser(app.test_client())
    if browser.login(WHO, PASSWORD).status_code != 302:
        raise RuntimeError("sign-in failed")
    engine = database(app).engine
    for page in pages(world["agreement"]):
        for _ in range(3):  # warm: templates, charts, enforcers, compiled statements
            if (answer := browser.get(page)).status_code != 200:
                raise RuntimeError(f"{answer.status_code} {page}")
        statements, before, after = _listeners()
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        browser.get(page)
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        spent = []
        for _ in range(views):
            started = time.process_time()
            browser.get(page)
            spent.append(time.process_time() - started)
        print(
            f"{page}: CPU median {statistics.median(spent) * 1000:.2f} ms "
            f"(fastest {min(spent) * 1000:.2f} ms) over {views} views, "
            f"{len(statements)} statements, "
            f"{sum(s[2] for s in statements) * 1000:.2f} ms in them",
            flush=True,
        )
        for sql, _parameters, took in statements if "--statements" in argv else []:
            print(f"   {took * 1000:7.2f} ms  {' '.join(sql.split())[:220]}")
        if "--explain" in argv:
            explain(engine, statements)
        if "--profile" in argv:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(views):
                browser.get(page)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
    database(app).dispose()


def _listeners() -> tuple[list[tuple[str, Any, float]], Any, Any]:
    """The statements of one view, each with its parameters and wall time."""
    statements: list[tuple[str, Any, float]] = []
    started_at: list[float] = []

    def before(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        started_at.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_rest: Any) -> None:
        statements.append((sql, parameters, time.perf_counter() - started_at.pop()))

    return statements, before, after


def explain(engine: Any, statements: list[tuple[str, Any, float]]) -> None:
    postgres = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    raw = engine.raw_connection()
    try:
        for sql, parameters, _took in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor = raw.cursor()
            cursor.execute(prefix + sql, parameters)
            plan = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
            print(f"   --- {' '.join(sql.split())[:160]}")
            for line in plan:
                print(f"       {line}")
        raw.rollback()
    finally:
        raw.close()


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if "--build" in argv:
        build(Path(argv[argv.index("--build") + 1]), "--postgres" in argv)
    else:
        profile(Path(argv[argv.index("--world") + 1]), argv)


if __name__ == "__main__":
    main(sys.argv[1:])
