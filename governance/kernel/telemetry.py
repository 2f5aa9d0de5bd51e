"""The operators' instruments (Prometheus): HTTP requests, audit writes and job failures.

Every label is of low cardinality and says nothing about anyone: a Flask endpoint name (the
route's name, never its path with ids), a method, a status class, a task name. Never a
user, an e-mail, an agreement reference, a dataset or a column.

gunicorn serves with several worker processes, so the instruments use prometheus-client's
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (`governance serve` sets it to
instance/prometheus/, emptied at start): each process writes its counts to files there and a
scrape sums them across processes. The instruments are made on first use in each process,
not at import: the server's arbiter imports this module before it forks the workers, and an
instrument made there would count in memory that no scrape reads.
"""

from __future__ import annotations

import functools
import os
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
    """instance/prometheus/: the server's and workers' figures, one file per process."""
    return project_instance_path() / "prometheus"


def use_directory(directory: Path, *, clean: bool) -> Path:
    """Point this process (and the processes it starts) at `directory` for multiprocess
    figures; `clean` empties it first (the server at start: counts of processes from an
    earlier run would otherwise be added to this run's)."""
    if clean and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def exposition(extra: Collector | None = None) -> tuple[bytes, str]:
    """The text a scrape reads: every process's instruments (summed when multiprocess) and
    the `extra` collector's figures, read now."""
    instruments()
    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry)
    if extra is not None:
        scrape_time = CollectorRegistry()
        scrape_time.register(extra)
        body += generate_latest(scrape_time)
    return body, CONTENT_TYPE_LATEST
