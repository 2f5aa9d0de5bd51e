"""Fixtures for the foundation tests: running `governance` commands in this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask

from governance.extensions import database

COMMAND_MODULES = ("agreements", "analyses", "audit", "core", "datasets", "keys", "tokens")


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner for `governance` commands, which build their app from the environment as
    usual; each app's connections are closed at the end of the test (a real command's process
    would simply exit)."""
    from governance.cli import context

    built: list[Flask] = []
    original = context.build_app

    def build_and_remember() -> Flask:
        built.append(original())
        return built[-1]

    for module in COMMAND_MODULES:
        monkeypatch.setattr(f"governance.cli.{module}.build_app", build_and_remember)
    yield CliRunner()
    for application in built:
        database(application).dispose()
