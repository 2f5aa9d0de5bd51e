"""`governance serve`'s worker model: sync (one request at a time per process, the default)
or gthread (threads, kept-alive connections), chosen on the command line and handed to
gunicorn as said; and a sync worker's heartbeat while its request makes progress
(tests/cli/test_serve_timeout.py serves with it)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from governance import server
from governance.cli import main


def test_gthread_workers_get_their_threads_and_keep_connections_alive() -> None:
    options = server.options(
        bind="127.0.0.1:0", workers=4, timeout=30, threads=3, worker_class="gthread"
    )
    assert options["worker_class"] == "gthread"
    assert options["threads"] == 3
    assert options["workers"] == 4
    assert options["keepalive"] == server.KEEPALIVE_S
    assert options["post_worker_init"] is server._worker_started


def test_sync_workers_get_one_thread_so_gunicorn_keeps_them_sync() -> None:
    # gunicorn would run a "sync" worker with more than one thread as a gthread worker.
    options = server.options(
        bind="127.0.0.1:0", workers=4, timeout=30, threads=4, worker_class="sync"
    )
    assert options["worker_class"] == "sync"
    assert options["threads"] == 1
    assert options["post_worker_init"] is server._worker_started


def test_an_unknown_worker_class_is_refused() -> None:
    with pytest.raises(ValueError, match="gevent"):
        server.options(bind="127.0.0.1:0", workers=1, timeout=30, threads=1, worker_class="gevent")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], ("sync", 4, 2)),
        (["--worker-class", "sync", "--workers", "6"], ("sync", 4, 6)),
        (["--worker-class", "gthread", "--threads", "2"], ("gthread", 2, 2)),
    ],
)
def test_serve_hands_the_worker_model_to_the_server(
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    expected: tuple[str, int, int],
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("governance.cli.core.build_app", lambda: app)
    monkeypatch.setattr(server, "serve", lambda **kwargs: seen.update(kwargs))
    result = CliRunner().invoke(main, ["serve", *arguments])
    assert result.exit_code == 0, result.output
    assert (seen["worker_class"], seen["threads"], seen["workers"]) == expected


def test_serve_refuses_an_unknown_worker_class(app: Flask) -> None:
    result = CliRunner().invoke(main, ["serve", "--worker-class", "eventlet"])
    assert result.exit_code == 2
    assert "eventlet" in result.output


class _Body:
    """gunicorn's request body as far as `_BeatingInput` uses it."""

    def __init__(self, data: bytes) -> None:
        self._lines = data.splitlines(keepends=True)

    def read(self, size: int | None = None) -> bytes:
        return self._lines.pop(0) if self._lines else b""

    def readline(self, size: int | None = None) -> bytes:
        return self.read(size)

    def readlines(self, size: int | None = None) -> list[bytes]:
        lines, self._lines = self._lines, []
        return lines

    def __iter__(self) -> Any:
        while self._lines:
            yield self._lines.pop(0)


class _Answer:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Any:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def _wsgi_input_app(seen: list[bytes], answer: _Answer) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        stream = environ["wsgi.input"]
        assert not hasattr(stream, "readinto")  # werkzeug then calls read(), which beats
        seen.append(stream.read(100))
        seen.append(stream.readline())
        seen.extend(stream.readlines())
        start_response("200 OK", [])
        return answer

    return app


def test_a_sync_workers_request_beats_as_its_body_is_read_and_its_answer_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "HEARTBEAT_S", 0.0)
    beats: list[int] = []
    seen: list[bytes] = []
    answer = _Answer([b"a", b"b", b"c"])
    app = server._Heartbeat(_wsgi_input_app(seen, answer), lambda: beats.append(1))
    environ = {"wsgi.input": _Body(b"1\n2\n3\n4\n"), "wsgi.file_wrapper": type(None)}
    body = app(environ, lambda *_: None)
    assert seen == [b"1\n", b"2\n", b"3\n", b"4\n"]
    assert len(beats) == 3  # read, readline, readlines
    assert list(body) == [b"a", b"b", b"c"]
    assert len(beats) == 6  # and one per chunk
    body.close()
    assert answer.closed  # Flask's teardown and stream_with_context's context still end


def test_the_heartbeat_is_sent_at_most_every_heartbeat_s(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.2, 0.5, 1.1, 1.5, 2.3])
    monkeypatch.setattr(server.time, "monotonic", lambda: next(clock))
    beats: list[int] = []
    beat = server._Beat(lambda: beats.append(1))  # started at 0.0
    for _ in range(5):
        beat()
    assert len(beats) == 2  # at 1.1 and at 2.3


def test_a_file_answer_is_left_to_gunicorns_sendfile() -> None:
    class FileWrapper:
        pass

    sent = FileWrapper()
    app = server._Heartbeat(lambda environ, start_response: sent, lambda: None)
    environ = {"wsgi.input": _Body(b""), "wsgi.file_wrapper": FileWrapper}
    assert app(environ, lambda *_: None) is sent


@pytest.mark.parametrize(("worker_class", "wrapped"), [("sync", True), ("gthread", False)])
def test_only_sync_workers_get_the_heartbeat(
    monkeypatch: pytest.MonkeyPatch, worker_class: str, wrapped: bool
) -> None:
    monkeypatch.setattr(server, "_freeze_startup_objects", lambda _worker: None)

    # gthread's main loop beats while requests run in its threads; a sync worker beats only
    # between requests unless its request does.
    class Config:
        worker_class_str = worker_class

    class Worker:
        cfg = Config()
        wsgi = object()

        def notify(self) -> None:
            pass

    worker = Worker()
    app = worker.wsgi
    server._worker_started(worker)
    assert isinstance(worker.wsgi, server._Heartbeat) is wrapped
    assert (worker.wsgi is app) is not wrapped


@pytest.mark.parametrize("worker_class", server.WORKER_CLASSES)
def test_no_control_socket_is_opened(worker_class: str) -> None:
    """gunicorn's control socket has one default path per user, which two servers on a host
    would share; nothing here uses it (tests/cli/test_two_servers.py serves two at once)."""
    options = server.options(
        bind="127.0.0.1:0", workers=1, timeout=30, threads=1, worker_class=worker_class
    )
    assert options["control_socket_disable"] is True
    served = server._server(options, build=lambda: None)
    assert served.cfg.control_socket_disable is True  # gunicorn knows the setting
