"""The test process's long-lived objects kept out of the garbage collector's full passes.

Each test builds an app (about 280 routes, each with its rule, parts and converters; engines,
extensions, a Jinja environment) and drops it at teardown: enough new objects that CPython
3.11 runs a full collection about once a test, and a full collection walks every object the
process tracks. Most of those are the same each time: the modules, the collected tests, the
session fixtures (migrated templates, the people templates) and the suite's caches (policies,
URL builders, compiled templates), 250,000-450,000 objects walked again for each test's
garbage.

`gc.freeze()` moves every object alive at that moment into a generation that no collection
walks. It is called only where what is alive lives until the end of the session anyway:
after collection, and after the last test of a module once pytest is done with that test
(the module's fixtures torn down and the test's fixture values let go). Each freeze collects
first, so no garbage is frozen; the tests' and modules' objects are collected as before, and
the finalizers a collection runs (a leaked connection's ResourceWarning, an error in
`__del__`) still run and fail a test as pytest reports them (a freeze's collection before
the next test's set-up). `tests/kernel/test_frozen_heap.py` checks that a module's and a
test's objects are still collected. At the end of the session everything is unfrozen, so
pytest's last collection (what the session fixtures' teardowns left) walks it all as before.
"""

from __future__ import annotations

import gc
from collections.abc import Generator

import pytest


def _freeze() -> None:
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """After the last test of a module (of a run of them: xdist may hand this worker the
    module's other tests later): by then pytest has torn down the module's fixtures and let go
    of the test's fixture values (`item.funcargs`, kept until the whole protocol is done), so
    nothing of the test or the module is frozen."""
    result = yield
    if nextitem is not None and item.getparent(pytest.Module) is not nextitem.getparent(
        pytest.Module
    ):
        _freeze()
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    gc.unfreeze()
