"""The reliability suite (issue 9): load, faults, hostile input.

Every test here is marked `reliability`. `make test` runs the short version; `make reliability`
sets GOVERNANCE_RELIABILITY=full, which the load tests read for their full duration.

Under pytest-xdist (`make test`) they form one group: one worker runs them one after another,
so two load tests (each a server with 4 workers and 32 clients) never share the machine.
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("GOVERNANCE_RELIABILITY") == "full"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.xdist_group("reliability"))
