"""API tests: the world of tests/api/scenario.py, and a client per person's token."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.api.scenario import Api, World, build_world
from tests.support import People

HARFBUZZ = "ignore:HarfBuzz-Subset will be required:DeprecationWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/api/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings(HARFBUZZ))


@pytest.fixture
def world(app: Flask, db: Session, people: People) -> World:
    return build_world(db, app, people)


@pytest.fixture
def api(app: Flask, world: World) -> Callable[[str], Api]:
    """`api("analyst")`: a client sending that person's token."""
    return lambda key: Api(app.test_client(), world.token(key))
