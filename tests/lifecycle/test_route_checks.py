"""Every entry point declares its check, as CKAN requires an authorisation function for every
action: each page route is `login_required` (the service then checks the permission and the
object rules) or explicitly `public`; each API operation declares whether it needs a token;
each CLI command is listed with who may run it. A new route or command without a declaration
fails here."""

from __future__ import annotations

import click
from flask import Flask

from governance.api.operations import OPERATIONS
from governance.cli import main as cli_main
from governance.cli.checks import COMMAND_CHECKS

# Flask's own file route, not one of ours.
FRAMEWORK = {"static"}


def undeclared_routes(app: Flask) -> list[str]:
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FRAMEWORK:
            continue
        view = app.view_functions[rule.endpoint]
        name = rule.endpoint.removeprefix("api.")
        if rule.endpoint.startswith("api.") and name in OPERATIONS:
            continue  # the operation declares `authenticated`; the blueprint checks the token
        if not getattr(view, "__authz__", None):
            undeclared.append(f"{rule.rule} ({rule.endpoint})")
    return undeclared


def test_every_route_declares_its_check(app: Flask) -> None:
    undeclared = undeclared_routes(app)
    assert not undeclared, "Declare login_required or public on:\n" + "\n".join(undeclared)


def test_a_route_without_a_declaration_is_caught(app: Flask) -> None:
    app.add_url_rule("/undeclared", "undeclared", lambda: "")
    assert undeclared_routes(app) == ["/undeclared (undeclared)"]


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            names += _commands(command, f"{full} ")
        else:
            names.append(full)
    return names


def test_every_command_declares_who_may_run_it() -> None:
    commands = set(_commands(cli_main))
    assert commands == set(COMMAND_CHECKS), (
        f"undeclared: {sorted(commands - set(COMMAND_CHECKS))}; "
        f"stale: {sorted(set(COMMAND_CHECKS) - commands)}"
    )
