"""The `governance` command: set-up, accounts, the demo world, the server and workers.

Commands act as `System("cli")` with the host operator's trust; each writes its audit events
like any other actor.
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from governance import create_app, open_audit_trail
from governance.analysis import cli as analyses
from governance.audit import cli as audit
from governance.cli import context, core, keys
from governance.cli import expire as agreements
from governance.datasets import cli as datasets
from governance.identity import cli as tokens
from governance.passport import cli as passport


class _Main(click.Group):
    """Database trouble is said in one line, not as a traceback: an operator who forgot
    `governance init`, or whose database is down, is told what to do."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as error:
            text = str(error.orig)
            if "no such table" in text or "does not exist" in text:
                raise click.ClickException(
                    f"The database has no tables yet ({text}): run `governance init`."
                ) from error
            raise click.ClickException(f"The database cannot be used: {text}") from error


@click.group(cls=_Main, help="Data use agreement and access governance service.")
def main() -> None:
    """Entry point of the console script."""
    context.use_app_factory(create_app)
    context.use_trail_factory(open_audit_trail)


for command in (
    *core.COMMANDS,
    *agreements.COMMANDS,
    *datasets.COMMANDS,
    *analyses.COMMANDS,
    *keys.COMMANDS,
):
    main.add_command(command)
main.add_command(audit.audit_group)
main.add_command(tokens.token_group)
main.add_command(analyses.analyses_group)
main.add_command(passport.passport_group)
