"""The operators' instruments (Prometheus): HTTP requests, audit writes and job failures.

Every label is of low cardinality and says nothing about anyone: a Flask endpoint name (the
route's name, never its path with ids), a method, a status class, a task name. Never a
user, an e-mail, an agreement reference, a dataset or a column.

gunicorn serves with several worker processes, so the instruments use prometheus-client's
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (`governance serve` sets it to a folder
of its own under instance/prometheus/, `claim`): each process writes its counts to files there
and a scrape sums them across the server's processes and the job workers'. The instruments
are made on first use in each process, not at import: the server's arbiter imports this module
before it forks the workers, and an instrument made there would count in memory that no scrape
reads.
"""

from __future__ import annotations

import fcntl
import functools
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

from governance.kernel.config import project_instance_path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Latency buckets (seconds) for pages and audit writes: 5 ms to 10 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Instruments:
    requests: Counter
    request_seconds: Histogram
    audit_write_seconds: Histogram
    job_failures: Counter


@functools.cache
def instruments() -> Instruments:
    # The value store is chosen when prometheus_client is first imported; this process may
    # have imported it before the directory was set (the arbiter before the fork).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return Instruments(
        requests=Counter(
            "governance_http_requests_total",
            "HTTP requests answered, by Flask endpoint, method and status class.",
            ("endpoint", "method", "status"),
        ),
        request_seconds=Histogram(
            "governance_http_request_duration_seconds",
            "Time to answer an HTTP request, by Flask endpoint and method.",
            ("endpoint", "method"),
            buckets=BUCKETS,
        ),
        audit_write_seconds=Histogram(
            "governance_audit_write_duration_seconds",
            "Time to append one event to the audit trail (hash, chain head, signature).",
            buckets=BUCKETS,
        ),
        job_failures=Counter(
            "governance_job_failures_total",
            "Queued jobs that raised an error, by task name.",
            ("task",),
        ),
    )


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    counted, timed = _request_series(endpoint, method, status // 100)
    counted.inc()
    timed.observe(seconds)


@functools.lru_cache(maxsize=4096)
def _request_series(endpoint: str, method: str, status_class: int) -> tuple[Any, Any]:
    """The labelled series one kind of request goes to, looked up once per process:
    `labels()` checks and joins its values under a lock at every call. The endpoints, methods
    and status classes are few (unmatched addresses are one endpoint), so this stays small."""
    kit = instruments()
    return (
        kit.requests.labels(endpoint, method, f"{status_class}xx"),
        kit.request_seconds.labels(endpoint, method),
    )


def observe_audit_write(seconds: float) -> None:
    instruments().audit_write_seconds.observe(seconds)


def count_job_failure(task: str) -> None:
    instruments().job_failures.labels(task).inc()


def instance_directory() -> Path:
    """instance/prometheus/: a folder per running server and job worker (see `claim`)."""
    return project_instance_path() / "prometheus"


def use_own_directory(kind: str) -> Path:
    """Point this process (and the processes it forks) at a folder of its own under
    instance/prometheus/ for multiprocess figures: `governance serve` ("serve") and
    `governance worker` ("worker") at start."""
    return use_directory(claim(instance_directory(), kind))


def use_directory(directory: Path) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


# The locks of the folders this process claimed: open for as long as it lives, and inherited
# by the workers it forks, so the folder is live while any of them is.
_held: list[int] = []


def claim(parent: Path, kind: str) -> Path:
    """A new folder `parent/<kind>-<pid>-<random>/`, after removing those of processes that
    have ended. Another server on the same instance keeps its own folder: emptying a shared
    one at start (as before) deleted a live server's figures, and its scrapes then summed
    the newcomer's. The folder's lock file beside it (`<name>.lock`) is held with flock by
    this process and the workers it forks; the kernel releases it when the last of them
    ends, however it ends, so no process id is trusted (one may be reused)."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_ended(parent)
    while True:
        name = f"{kind}-{os.getpid()}-{secrets.token_hex(4)}"
        lock = parent / f"{name}.lock"
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except FileExistsError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another process's `remove_ended` took it between the two calls and removes it.
            os.close(descriptor)
            continue
        _held.append(descriptor)
        directory = parent / name
        directory.mkdir(mode=0o700)
        return directory


def remove_ended(parent: Path) -> None:
    """Remove the folders of processes that have ended (their lock is free), folders without
    a lock (a lock is made before its folder and removed after it) and the files of the
    earlier layout, one shared folder of files."""
    for lock in parent.glob("*.lock"):
        try:
            descriptor = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            continue  # another process removed it meanwhile
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue  # live
        shutil.rmtree(parent / lock.stem, ignore_errors=True)
        lock.unlink(missing_ok=True)
        os.close(descriptor)
    for entry in parent.iterdir():
        if entry.is_dir() and not entry.with_name(f"{entry.name}.lock").exists():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.suffix == ".db":
            entry.unlink(missing_ok=True)


def summed_directories(directory: Path) -> list[Path]:
    """The folders a scrape sums: this server's own (its workers, those gunicorn replaced
    too) and every job worker's beside it, whose job failures are the service's whichever
    server is scraped. Other servers' are theirs: each is scraped at its own address."""
    if not directory.name.startswith("serve-"):
        return [directory]
    return [directory, *sorted(p for p in directory.parent.glob("worker-*") if p.is_dir())]


class _Summed(Collector):
    """prometheus-client's multiprocess sum, over the files of several folders."""

    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories

    def collect(self) -> Any:
        files = [str(file) for folder in self.directories for file in folder.glob("*.db")]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]


def exposition(extra: Collector | None = None) -> tuple[bytes, str]:
    """The text a scrape reads: every process's instruments (summed when multiprocess) and
    the `extra` collector's figures, read now."""
    instruments()
    registry = REGISTRY
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        registry = CollectorRegistry()
        registry.register(_Summed(summed_directories(Path(folder))))
    body = generate_latest(registry)
    if extra is not None:
        scrape_time = CollectorRegistry()
        scrape_time.register(extra)
        body += generate_latest(scrape_time)
    return body, CONTENT_TYPE_LATEST
