"""CPU per page view of two code trees side by side, a view of each in turn: an A/B figure that
holds on a loaded machine, where two runs a minute apart do not.

Each tree serves the page bench's four pages through Flask's test client in a process of its
own, on the same world (`bench/page_profile.py --build DIR`); the driver asks both for the same
page one after the other (in a random order) ROUNDS times and prints, per page, the median and
the fastest `time.process_time` of a view and the statements one view sends. On PostgreSQL it
also prints the CPU the database's backends spent per view (the backends of the tree's own
connections, from `/proc/<pid>/schedstat`, nanoseconds), the other half of a view's cost.

    .venv/bin/python bench/page_ab.py DIR /work/main /work/wt/branch [ROUNDS]
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROUNDS = 60


def worker(directory: Path) -> None:
    """One tree's process: sign in, warm each page, then time the pages asked on stdin."""
    from sqlalchemy import event

    from bench.page_bench import WHO
    from bench.page_profile import pages
    from tests.conftest import Browser
    from tests.support import PASSWORD

    world = json.loads((directory / "world.json").read_text())
    os.environ["GOVERNANCE_INSTANCE_PATH"] = world["instance"]
    from governance import create_app
    from governance.kernel.extensions import database

    app = create_app({"DATABASE_URL": world["url"]})
    browser = Browser(app.test_client())
    if browser.login(WHO, PASSWORD).status_code != 302:
        raise RuntimeError("sign-in failed")
    sent = [0]
    engine = database(app).engine
    event.listen(engine, "before_cursor_execute", lambda *_: sent.__setitem__(0, sent[0] + 1))
    backends: set[int] = set()
    if engine.dialect.name == "postgresql":

        def note_backend(connection: Any, _record: Any) -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.add(cursor.fetchone()[0])
            connection.commit()

        event.listen(engine, "connect", note_backend)
        database(app).dispose()  # reconnect, noting each connection's backend
    for page in pages(world["agreement"]):
        for _ in range(3):
            browser.get(page)
    print("ready", flush=True)
    for line in sys.stdin:
        sent[0] = 0
        backend = _backend_ns(backends)
        started = time.process_time()
        status = browser.get(line.strip()).status_code
        spent = (time.process_time() - started) * 1000
        backend = _backend_ns(backends) - backend
        print(f"{spent:.3f} {status} {sent[0]} {backend / 1e6:.3f}", flush=True)


def _backend_ns(pids: set[int]) -> int:
    """CPU nanoseconds the backends `pids` have run (a backend that has gone counts 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    return total


def drive(directory: Path, trees: list[str], rounds: int) -> None:
    from bench.page_profile import pages

    world = json.loads((directory / "world.json").read_text())
    workers = {
        tree: subprocess.Popen(
            [sys.executable, __file__, "--worker", str(directory)],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": tree},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for tree in trees
    }
    for process in workers.values():
        assert process.stdin
        assert process.stdout
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a worker did not start")
    spent: dict[tuple[str, str], list[float]] = {}
    backend: dict[tuple[str, str], list[float]] = {}
    sent: dict[tuple[str, str], int] = {}
    for _ in range(rounds):
        for page in pages(world["agreement"]):
            for tree in random.sample(trees, len(trees)):
                process = workers[tree]
                assert process.stdin
                assert process.stdout
                process.stdin.write(page + "\n")
                process.stdin.flush()
                ms, status, count, backend_ms = process.stdout.readline().split()
                if status != "200":
                    raise RuntimeError(f"{tree} {page}: {status}")
                spent.setdefault((tree, page), []).append(float(ms))
                backend.setdefault((tree, page), []).append(float(backend_ms))
                sent[(tree, page)] = int(count)
    for process in workers.values():
        assert process.stdin
        process.stdin.close()
        process.wait()
    first, second = trees
    for page in pages(world["agreement"]):
        a, b = spent[(first, page)], spent[(second, page)]
        print(
            f"{page}: {statistics.median(a):.2f} / {min(a):.2f} ms -> "
            f"{statistics.median(b):.2f} / {min(b):.2f} ms (median / fastest), "
            f"ratio {statistics.median(b) / statistics.median(a):.2f}, "
            f"statements {sent[(first, page)]} -> {sent[(second, page)]}"
        )
        a, b = backend[(first, page)], backend[(second, page)]
        if max(a) > 0:
            print(
                f"   backend: {statistics.median(a):.2f} / {min(a):.2f} ms -> "
                f"{statistics.median(b):.2f} / {min(b):.2f} ms, mean {statistics.mean(a):.2f} "
                f"-> {statistics.mean(b):.2f} ms"
            )


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]))
    else:
        drive(
            Path(sys.argv[1]),
            sys.argv[2:4],
            int(sys.argv[4]) if len(sys.argv) > 4 else ROUNDS,
        )
