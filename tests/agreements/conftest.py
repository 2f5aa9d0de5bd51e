"""Agreement tests: datasets of the two test agencies, and WeasyPrint's import notice.

WeasyPrint 70 warns once, at import, when the system lacks libharfbuzz-subset; that notice is
about the machine, not our code, so exactly that message is ignored in these tests (as in
tests/kernel/reports); every other warning is still an error.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.agreements.builders import Datasets, make_datasets
from tests.support import People

HARFBUZZ = "ignore:HarfBuzz-Subset will be required:DeprecationWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/agreements/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings(HARFBUZZ))


@pytest.fixture
def datasets(db: Session, people: People) -> Datasets:
    return make_datasets(db, people)
