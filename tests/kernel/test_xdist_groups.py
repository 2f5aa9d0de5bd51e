"""`make test` runs with `--dist loadgroup`: a test marked `xdist_group(name)` runs on the worker
that runs the group's other tests (the reliability suite's load tests one after another, one
Spark JVM). pytest-xdist 3.8 marks a grouped test by a `@name` suffix on its node id, which
pytest 9.2 no longer read, so every group was ignored; tests/conftest.py puts it where pytest
reads it."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("xdist_group_check")
def test_a_grouped_test_carries_its_group_under_loadgroup(request: pytest.FixtureRequest) -> None:
    grouped = bool(request.config.getoption("loadgroup", default=False))
    assert request.node.nodeid.endswith("@xdist_group_check") is grouped
