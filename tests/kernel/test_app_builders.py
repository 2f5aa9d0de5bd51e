"""The tests' apps share werkzeug's compiled URL builders (tests/conftest.py,
`_url_builders_compiled_once`): each shared builder is the code werkzeug compiles for that rule."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.routing.rules import Rule

from governance import create_app
from governance.kernel.extensions import database


def builders(app: Flask) -> dict[tuple[str, str], Any]:
    return {(rule.endpoint, rule.rule): rule._build.__func__ for rule in app.url_map.iter_rules()}  # type: ignore[attr-defined]


# What is checked is the test set-up's, not a database's: SQLite only.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_second_app_reuses_the_first_apps_builders(
    app: Flask, app_config: dict[str, Any]
) -> None:
    other = create_app({"ADMIN_SECOND_FACTOR_REQUIRED": False, **app_config})
    try:
        mine, theirs = builders(app), builders(other)
        assert len(mine) > 200
        assert mine.keys() == theirs.keys()
        assert all(mine[key] is theirs[key] for key in mine)
    finally:
        database(other).dispose()


def test_each_shared_builder_is_the_code_werkzeug_compiles_for_its_rule(app: Flask) -> None:
    original = Rule._compile_builder.original  # type: ignore[attr-defined]
    for rule in app.url_map.iter_rules():
        for append_unknown, bound in ((False, rule._build), (True, rule._build_unknown)):  # type: ignore[attr-defined]
            own = original(rule, append_unknown).__code__
            shared = bound.__func__.__code__
            assert (shared.co_code, shared.co_consts, shared.co_varnames, shared.co_names) == (
                own.co_code,
                own.co_consts,
                own.co_varnames,
                own.co_names,
            ), rule.rule
