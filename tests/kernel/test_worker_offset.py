"""Two test runs at once keep apart (tests/workers.py): GOVERNANCE_TEST_WORKER_OFFSET shifts a
run's workers onto other PostgreSQL databases, Redis databases and port ranges."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from governance.kernel.config import load_settings
from tests import workers

OFFSET = "GOVERNANCE_TEST_WORKER_OFFSET"


@pytest.fixture
def as_worker(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This process seen as xdist's worker gw1, whatever runs it; no offset unless set."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.delenv(OFFSET, raising=False)
    return monkeypatch


def resources() -> tuple[int | None, str, str, int]:
    created: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(workers, "create_database", lambda url, *, via: created.append(url))
        database = workers.database_url("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert created == [database]
    redis = workers.redis_url("redis://127.0.0.1:6379/15")
    first_port = next(workers._ports())
    return workers.worker_index(), database, redis, first_port


def test_without_an_offset_worker_n_has_the_nth_resources(as_worker: pytest.MonkeyPatch) -> None:
    assert resources() == (
        1,
        "postgresql+psycopg://postgres@127.0.0.1:5432/test_gw1",
        "redis://127.0.0.1:6379/14",
        21_000,
    )


def test_an_offset_gives_worker_n_the_resources_of_worker_n_plus_the_offset(
    as_worker: pytest.MonkeyPatch,
) -> None:
    as_worker.setenv(OFFSET, "2")
    assert resources() == (
        3,
        "postgresql+psycopg://postgres@127.0.0.1:5432/test_gw3",
        "redis://127.0.0.1:6379/12",
        23_000,
    )


def test_two_runs_of_two_workers_share_nothing(as_worker: pytest.MonkeyPatch) -> None:
    seen = []
    for offset, index in itertools.product(("", "2"), ("gw0", "gw1")):
        as_worker.setenv(OFFSET, offset)
        as_worker.setenv("PYTEST_XDIST_WORKER", index)
        seen.append(resources()[1:])
    for kind in range(3):
        assert len({each[kind] for each in seen}) == 4


def test_a_serial_run_ignores_the_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setenv(OFFSET, "2")
    assert workers.worker_index() is None
    assert workers.redis_url("redis://127.0.0.1:6379/15") == "redis://127.0.0.1:6379/15"


def test_an_offset_that_is_not_a_whole_number_is_refused(as_worker: pytest.MonkeyPatch) -> None:
    as_worker.setenv(OFFSET, "two")
    with pytest.raises(ValueError, match="GOVERNANCE_TEST_WORKER_OFFSET must be a whole number"):
        workers.worker_index()


def test_the_offset_is_the_harnesss_not_an_unknown_setting(tmp_path: Path) -> None:
    """The app refuses unknown GOVERNANCE_ variables: without this, every app of an offset run
    failed to start."""
    settings = load_settings(tmp_path, None, environ={OFFSET: "2"})
    assert "TEST_WORKER_OFFSET" not in settings
