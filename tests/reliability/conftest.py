"""The reliability suite (issue 9): load, faults, hostile input.

Every test here is marked `reliability`. `make test` runs the short version; `make reliability`
sets GOVERNANCE_RELIABILITY=full, which the load tests read for their full duration.
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("GOVERNANCE_RELIABILITY") == "full"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)
