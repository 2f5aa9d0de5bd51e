"""The `governance` command: set-up, accounts, the demo world, the server and workers.

Commands act as `System("cli")` with the host operator's trust; each writes its audit events
like any other actor.
"""

from __future__ import annotations

import click

from governance.cli import agreements, analyses, audit, core, datasets, tokens


@click.group(help="Data use agreement and access governance service.")
def main() -> None:
    """Entry point of the console script."""


for command in (*core.COMMANDS, *agreements.COMMANDS, *datasets.COMMANDS,
                *analyses.COMMANDS):
    main.add_command(command)
main.add_command(audit.audit_group)
main.add_command(tokens.token_group)
main.add_command(analyses.analyses_group)
