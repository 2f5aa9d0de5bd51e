"""`governance serve`'s worker model: gthread (threads, kept-alive connections) or sync (one
request at a time per process), chosen on the command line and handed to gunicorn as said."""

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
    assert options["post_worker_init"] is server._freeze_startup_objects


def test_sync_workers_get_one_thread_so_gunicorn_keeps_them_sync() -> None:
    # gunicorn would run a "sync" worker with more than one thread as a gthread worker.
    options = server.options(
        bind="127.0.0.1:0", workers=4, timeout=30, threads=4, worker_class="sync"
    )
    assert options["worker_class"] == "sync"
    assert options["threads"] == 1
    assert options["post_worker_init"] is server._freeze_startup_objects


def test_an_unknown_worker_class_is_refused() -> None:
    with pytest.raises(ValueError, match="gevent"):
        server.options(bind="127.0.0.1:0", workers=1, timeout=30, threads=1, worker_class="gevent")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], ("gthread", 4, 2)),
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
