"""What each pytest-xdist worker keeps to itself, so that `make test`'s workers never meet.

`make test` runs the suite in several processes (pytest-xdist, README "Testing"). Each worker
(`gw0`, `gw1`, ...) gets its own PostgreSQL database, Redis database and range of loopback
ports, all derived from the one setting a developer gives; a serial run (`-n 0`, or without
xdist) uses the settings as given. Two runs on one machine at once (the quick runs on two
Pythons, say) keep apart by GOVERNANCE_TEST_WORKER_OFFSET: with offset K, worker `gwN` takes what
worker `gw(N + K)` would (its database, Redis database and ports), so the second run of two
two-worker runs sets 2. Temporary directories are already per worker (xdist gives
each its own `tmp_path` base), and so are the session's servers and the browser.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

# Worker N picks its ports in [FIRST_PORT + N * PORTS_EACH, ... + PORTS_EACH): below Linux's
# ephemeral range (32768-60999), so neither another worker nor a client's outgoing connection
# is handed a port a test server is about to listen on.
FIRST_PORT = 20_000
PORTS_EACH = 1_000
PORT_BLOCKS = 12
REDIS_DATABASES = 16
OFFSET_VARIABLE = "GOVERNANCE_TEST_WORKER_OFFSET"


def worker_index() -> int | None:
    """0 for xdist's `gw0`, 1 for `gw1`, ...; None in a serial run (or xdist's controller).
    Shifted by GOVERNANCE_TEST_WORKER_OFFSET (a whole number, 0 when unset or empty)."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (name.startswith("gw") and name[2:].isdigit()):
        return None
    offset = os.environ.get(OFFSET_VARIABLE, "").strip() or "0"
    if not offset.isdigit():
        raise ValueError(f"{OFFSET_VARIABLE} must be a whole number, not {offset!r}")
    return int(name[2:]) + int(offset)


def database_url(url: str) -> str:
    """The worker's own PostgreSQL database, `<name>_gw<N>` beside the configured `<name>`,
    created through the configured one on first use; the configured URL in a serial run."""
    index = worker_index()
    if index is None:
        return url
    given = make_url(url)
    own = given.set(database=f"{given.database}_gw{index}").render_as_string(hide_password=False)
    create_database(own, via=url)
    return own


def create_database(url: str, *, via: str) -> None:
    """Create `url`'s PostgreSQL database, connected to the existing database `via`, unless
    the server has it already (CREATE DATABASE runs outside a transaction)."""
    name = make_url(url).database
    engine = create_engine(make_url(via), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()


def redis_url(url: str) -> str:
    """The worker's own Redis database: worker N uses (configured number - N) mod 16, counting
    down from the configured one (CI's 15 gives 15, 14, ...; database 0, a developer's default,
    is reached only by the 16th worker below it)."""
    index = worker_index()
    if index is None:
        return url
    given = make_url(url)
    number = int(given.database or 0)
    return given.set(database=str((number - index) % REDIS_DATABASES)).render_as_string(
        hide_password=False
    )


def _ports() -> Iterator[int]:
    index = worker_index() or 0
    first = FIRST_PORT + (index % PORT_BLOCKS) * PORTS_EACH
    return itertools.cycle(range(first, first + PORTS_EACH))


_candidates: Iterator[int] | None = None


def free_port() -> int:
    """A loopback port nobody listens on now (for test servers, and for a peer that is down).

    A serial run asks the kernel for one; an xdist worker takes the next free one of its own
    range, so two workers never pick the same port, nor one worker the same port twice in a
    row (a test that asks for two ports gets two)."""
    global _candidates
    if worker_index() is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port
    if _candidates is None:
        _candidates = _ports()
    for _ in range(PORTS_EACH):
        candidate = next(_candidates)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise RuntimeError(f"no free port in this worker's range ({PORTS_EACH} tried)")


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (workers that set up one shared thing, such as
    the OIDC provider's node_modules, take turns)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
