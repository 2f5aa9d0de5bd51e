"""A worker process builds its app once, from the factory `run_consumer` was given (installed
in `worker.APP_FACTORY`, a kernel `Installed` slot); without one it says what starts workers."""

from __future__ import annotations

from typing import Any

import pytest

from governance.analysis import worker


def test_a_worker_without_a_factory_says_what_starts_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker, "_apps", {})
    monkeypatch.setattr(worker.APP_FACTORY, "_pieces", [])
    with pytest.raises(RuntimeError, match=r"run_consumer.*governance worker"):
        worker.worker_app()


def test_a_worker_builds_its_app_once_from_the_installed_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker, "_apps", {})
    monkeypatch.setattr(worker.APP_FACTORY, "_pieces", [])
    built: list[Any] = []

    def factory() -> Any:
        built.append(object())
        return built[-1]

    worker.APP_FACTORY.install(factory)
    first = worker.worker_app()
    assert worker.worker_app() is first
    assert built == [first]
