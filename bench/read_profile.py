"""CPU per granted API read in one process: the load-independent figure beside the HTTP bench.

The HTTP bench's world (bench/http_bench.py) on SQLite (or on the database named by
HTTP_BENCH_POSTGRES_URL / GOVERNANCE_TEST_DATABASE_URL with `--postgres`), read through
Flask's test client in this process: no sockets, no gunicorn, no other client. Prints the
median `time.process_time` of READS reads, the SQL statements one read sends, and with
`--profile` the functions where the time goes (cProfile, cumulative).

    .venv/bin/python bench/read_profile.py [--postgres] [--profile] [--statements]
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

READS = 300


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sqlalchemy import event

    from bench.http_bench import _world, postgres_url
    from governance import create_app
    from governance.kernel.extensions import database

    with tempfile.TemporaryDirectory(prefix="read-profile-") as name:
        url, _instance, path, secrets = _world(
            Path(name), postgres_url() if "--postgres" in argv else None
        )
        app = create_app({"DATABASE_URL": url})
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secrets[0]}"}

        def read(page: int) -> None:
            response = client.get(f"{path}&page={page % 20 + 1}", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.get_data(as_text=True)}")

        for page in range(30):  # warm: caches, compiled statements, the grant index
            read(page)
        statements: list[str] = []

        def log(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
            statements.append(" ".join(sql.split())[:160])

        engine = database(app).engine
        event.listen(engine, "before_cursor_execute", log)
        read(0)
        event.remove(engine, "before_cursor_execute", log)
        print(f"{len(statements)} statements through SQLAlchemy in one read:")
        for sql in statements if "--statements" in argv else []:
            print("  ", sql)
        spent = []
        for page in range(READS):
            started = time.process_time()
            read(page)
            spent.append(time.process_time() - started)
        print(f"CPU per read: median {statistics.median(spent) * 1000:.2f} ms over {READS} reads")
        if "--profile" in argv:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for page in range(READS):
                read(page)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(90)
        database(app).dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
