"""Building the app for a command, and reporting domain errors as clean CLI failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import click
from flask import Flask
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.identity.actors import System
from governance.kernel.config import ConfigError
from governance.kernel.db import Database
from governance.kernel.errors import DomainError
from governance.kernel.installed import Installed

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
CLI_ACTOR = System("cli")
# How a command builds the app: the `governance` group (cli/__init__.py, the command line's
# composition root) sets it to `create_app`, so the nouns' commands, which use this module,
# never import the composition root themselves.
APP_FACTORY: Installed[Callable[[], Flask]] = Installed(
    "No app factory: commands run through the `governance` group."
)


# How a command that only verifies, exports or reports on the audit trail opens the database:
# the same group sets it to `open_audit_trail`, the settings, keys and audit wiring without the
# app (governance/registry_trail.py says why).
TRAIL_FACTORY: Installed[Callable[[], Database]] = Installed(
    "No trail factory: commands run through the `governance` group."
)


use_app_factory = APP_FACTORY.install
use_trail_factory = TRAIL_FACTORY.install


def _built(factory: Installed[Callable[[], T]]) -> T:
    from governance.authz import PolicyError

    built = factory.get()
    try:
        return built()
    except (ConfigError, PolicyError) as exc:
        raise click.ClickException(str(exc)) from exc


def build_app() -> Flask:
    return _built(APP_FACTORY)


@contextmanager
def audit_trail() -> Iterator[Database]:
    """The database for one command on the audit trail (no app); its connections are closed
    when the command ends."""
    db = _built(TRAIL_FACTORY)
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def database_session(db: Database) -> Iterator[Session]:
    """A session for one command; a refused action's refusal is still recorded."""
    with db.session() as session:
        try:
            yield session
        except DomainError as error:
            session.rollback()
            if error.audit:
                audit.record_refusal(session, error.audit, by=CLI_ACTOR)
                session.commit()
            raise click.ClickException(error.message) from error


@contextmanager
def command_session(app: Flask) -> Iterator[Session]:
    """A session for one command, inside the app's context."""
    from governance.kernel.extensions import database

    with app.app_context(), database_session(database(app)) as session:
        yield session


def domain_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Show domain errors as one clear line and a non-zero exit, not a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DomainError as error:
            raise click.ClickException(error.message) from error

    return wrapper


def echo_table(rows: list[tuple[Any, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )
