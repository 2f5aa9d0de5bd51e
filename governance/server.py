"""Production serving: gunicorn worker processes.

Worker processes serving one request at a time each (gunicorn's sync workers, the default):
waiting requests queue in the kernel's accept queue and are served in arrival order, and each
connection is closed after its answer. Measured against gthread in docs/benchmarks.md ("readtail",
"syncdefault"): more reads a second and half the tail. A sync worker is held by whatever holds
its request, a slow client above all (one that sends its request or reads its answer slowly, or
a browser's idle pre-opened connection), so in production it sits behind a buffering reverse
proxy (nginx), as gunicorn's own documentation says. Without one, `--worker-class gthread` (each
worker process with a few threads, connections kept alive: a thread waiting on a client does
not hold a whole process) is the choice. Each thread has its own Casbin enforcer (pycasbin's
matcher is not safe when threads share one: authz/enforcer.py) and its own database session per
request. Each worker builds its own app (no preloading), so each has its own connections and
enforcers. The periodic jobs (expiring agreements and grants, sweeping files) are not the
server's: huey's scheduler runs them in `governance worker` (analysis/worker.py), which
`make run` starts too.

gunicorn replaces a sync worker whose request has run longer than `--timeout` (it counts from
the worker's last heartbeat, which gunicorn sends only between requests). A long streamed answer
(an audit export of millions of events, a dataset's rows) or a large upload is not stuck while
it moves, so a sync worker also sends the heartbeat as its request's body is read and its
answer's chunks are written (`_Heartbeat`): only a request making no progress for `--timeout`
seconds is cut off.

The arbiter itself never opens the database: gunicorn forks workers from it, and a database
connection (SQLite's lock bookkeeping above all) must never be carried across fork().
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from governance.kernel import telemetry
from governance.kernel.config import ENV_PREFIX


def _server(options: dict[str, Any], build: Callable[[], Any] | None = None) -> Any:
    """gunicorn's application for `options`, serving the app `build` returns in each worker
    (the governance app; a test's own WSGI app). gunicorn is imported here, by `serve` only:
    every command imports this module (`governance serve` offers WORKER_CLASSES), and the
    others should not pay for gunicorn's imports at start."""
    from gunicorn.app.base import BaseApplication

    class GovernanceServer(BaseApplication):  # type: ignore[misc]
        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            if build is not None:
                return build()
            from governance import create_app

            return create_app()

    return GovernanceServer(options)


def _freeze_startup_objects(_worker: Any) -> None:
    """After the worker has built its app: the few hundred thousand objects of the imports
    and the app live as long as the process, and every full collection of the garbage
    collector walked all of them (tens of milliseconds, stopping every thread of the worker,
    which is a request's tail). Frozen, the collector no longer looks at them; what requests
    create is collected as before."""
    gc.collect()
    gc.freeze()


# Seconds between two heartbeats a sync worker sends while its request makes progress: far
# below any sensible --timeout, and a few system calls a second at most.
HEARTBEAT_S = 1.0


class _Beat:
    """One request's heartbeat: gunicorn's `notify` (it touches the worker's heartbeat file),
    at most every HEARTBEAT_S seconds."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self._notify = notify
        self._last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last >= HEARTBEAT_S:
            self._notify()
            self._last = now


class _BeatingInput:
    """The request's body (gunicorn's `Body`), sending the heartbeat as it is read. Only the
    methods `Body` has: werkzeug looks for `readinto` and must not find it."""

    def __init__(self, body: Any, beat: _Beat) -> None:
        self._body = body
        self._beat = beat

    def read(self, size: int | None = None) -> bytes:
        self._beat()
        data: bytes = self._body.read(size)
        return data

    def readline(self, size: int | None = None) -> bytes:
        self._beat()
        line: bytes = self._body.readline(size)
        return line

    def readlines(self, size: int | None = None) -> list[bytes]:
        self._beat()
        lines: list[bytes] = self._body.readlines(size)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._body:
            self._beat()
            yield line


class _BeatingBody:
    """The answer's chunks, sending the heartbeat before each is handed to gunicorn (which
    writes it before asking for the next: a client that stops reading stops the beats)."""

    def __init__(self, body: Iterable[bytes], beat: _Beat) -> None:
        self._body = body
        self._beat = beat

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._beat()
            yield chunk

    def close(self) -> None:
        # WSGI: the server calls the body's close() (Flask's teardown, stream_with_context's
        # context) whether or not it was iterated to the end.
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


class _Heartbeat:
    """WSGI middleware of a sync worker: a request whose body is being read or whose answer is
    being written is alive, whatever its length (module docstring)."""

    def __init__(self, app: Callable[..., Any], notify: Callable[[], None]) -> None:
        self._app = app
        self._notify = notify

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        beat = _Beat(self._notify)
        environ["wsgi.input"] = _BeatingInput(environ["wsgi.input"], beat)
        body = self._app(environ, start_response)
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and isinstance(body, file_wrapper):
            return body  # a file (static assets): gunicorn sends it with sendfile, kept so
        return _BeatingBody(body, beat)


def _worker_started(worker: Any) -> None:
    """gunicorn's post_worker_init: the app is built; a sync worker's gets its heartbeat."""
    _freeze_startup_objects(worker)
    if worker.cfg.worker_class_str == "sync":
        worker.wsgi = _Heartbeat(worker.wsgi, worker.notify)


# Seconds a client's idle connection stays open for its next request.
KEEPALIVE_S = 5

#: gunicorn's worker classes `governance serve --worker-class` offers, the default first. sync:
#: each worker serves one request at a time and closes the connection after it; waiting
#: requests queue in the kernel's accept queue in arrival order (behind a buffering proxy in
#: production). gthread: each worker serves `threads` requests at once and keeps connections
#: alive (the choice without a proxy). docs/benchmarks.md ("readtail", "syncdefault") has the
#: measurements that chose the default.
WORKER_CLASSES = ("sync", "gthread")
DEFAULT_WORKER_CLASS = WORKER_CLASSES[0]


def options(
    *, bind: str, workers: int, timeout: int, threads: int, worker_class: str
) -> dict[str, Any]:
    """gunicorn's settings for `governance serve`."""
    if worker_class not in WORKER_CLASSES:
        raise ValueError(f"worker class {worker_class!r}: one of {', '.join(WORKER_CLASSES)}")
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": worker_class,
        # gunicorn turns a sync worker with more than one thread into a gthread worker.
        "threads": threads if worker_class == "gthread" else 1,
        "keepalive": KEEPALIVE_S,
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": "-",
        "preload_app": False,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "post_worker_init": _worker_started,
        # No control socket (gunicorn 25.1+, for its `gunicornc`): nothing here uses one (the
        # server is stopped and reloaded by signals from whatever runs it), and its default
        # path is one per user ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl), so
        # a second server on the host took over the first's socket and deleted it on stopping,
        # and a service user without a writable home logged a warning at every start. It
        # would also let any process of that user resize or stop the server, unrecorded.
        "control_socket_disable": True,
    }


def serve(
    *,
    bind: str,
    workers: int,
    timeout: int,
    threads: int = 4,
    worker_class: str = DEFAULT_WORKER_CLASS,
    build: Callable[[], Any] | None = None,
) -> None:
    """Serve until stopped; `build` is `_server`'s (the governance app unless a test's)."""
    # Each worker's app learns how many processes share the work: with memory throttle
    # storage each counts failed logins alone, so each allows its share (identity/web_throttle.py).
    os.environ[f"{ENV_PREFIX}SERVER_PROCESSES"] = str(workers)
    # Each worker process writes its figures to files in this server's own folder and
    # /metrics sums them; a new folder each run, so no earlier run's counts are added in, and
    # another server on the instance keeps its own (docs/metrics.md).
    telemetry.use_own_directory("serve")
    _server(
        options(
            bind=bind,
            workers=workers,
            timeout=timeout,
            threads=threads,
            worker_class=worker_class,
        ),
        build=build,
    ).run()
