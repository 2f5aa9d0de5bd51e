"""`token create | list | revoke`: personal API tokens, managed by the host operator.

The secret is printed once, on standard output, and never again: it is stored only as its
SHA-256. Hand it to its holder over a channel you trust.
"""

from __future__ import annotations

import click

from governance.cli.context import CLI_ACTOR, build_app, command_session


@click.group("token", help="Personal API tokens.")
def token_group() -> None:
    """Commands on API tokens."""


@token_group.command("create", help="Create an API token for a person and print its secret once.")
@click.option("--user", "email", required=True, help="E-mail of the token's holder.")
@click.option(
    "--name",
    default="created on the command line",
    show_default=True,
    help="What the token is for (shown in the holder's token list).",
)
@click.option(
    "--days",
    type=int,
    default=None,
    help="Days until it expires (default and maximum: the API_TOKEN_DAYS setting).",
)
def create_command(email: str, name: str, days: int | None) -> None:
    from governance.identity.tokens import create_token
    from governance.identity.users import find_user_by_email
    from governance.kernel.types import utcnow

    app = build_app()
    with command_session(app) as session:
        user = find_user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"There is no account for {email}.")
        created = create_token(
            session, user_id=user.id, name=name, days=days, by=CLI_ACTOR, now=utcnow()
        )
        session.commit()
        expires = created.token.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        click.echo(f"Token {created.token.prefix}… for {user.email}, expires {expires}.", err=True)
        click.echo(
            "This is the only time the secret is shown; it is stored only as a hash:", err=True
        )
        click.echo(created.secret)


@token_group.command(
    "list",
    help="List API tokens that can be used now (everyone's, or one "
    "person's with --user, revoked and expired ones included).",
)
@click.option("--user", "email", default=None, help="Only this person's tokens, all of them.")
def list_command(email: str | None) -> None:
    from governance.cli.context import echo_table
    from governance.identity.tokens import active_tokens, tokens_of
    from governance.identity.users import find_user_by_email
    from governance.kernel.types import utcnow

    app = build_app()
    now = utcnow()
    with command_session(app) as session:
        if email is None:
            found = active_tokens(session, by=CLI_ACTOR, now=now)
        else:
            user = find_user_by_email(session, email)
            if user is None:
                raise click.ClickException(f"There is no account for {email}.")
            found = tokens_of(session, user.id)
        if not found:
            click.echo("No tokens.")
            return
        rows = [("ID", "PREFIX", "HOLDER", "NAME", "EXPIRES", "LAST USED", "STATE")]
        for token in found:
            state = (
                "revoked"
                if token.revoked_at is not None
                else "expired"
                if token.expires_at <= now
                else "usable"
            )
            rows.append(
                (
                    str(token.id),
                    f"{token.prefix}…",
                    token.user.email,
                    token.name,
                    f"{token.expires_at:%Y-%m-%d}",
                    f"{token.last_used_at:%Y-%m-%d}" if token.last_used_at else "never",
                    state,
                )
            )
        echo_table(rows)


@token_group.command(
    "revoke",
    help="Revoke an API token at once (by the ID `token list` shows); recorded in the audit trail.",
)
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    from governance.identity.tokens import revoke_token
    from governance.kernel.types import utcnow

    app = build_app()
    with command_session(app) as session:
        token = revoke_token(session, token_id=token_id, by=CLI_ACTOR, now=utcnow())
        session.commit()
        click.echo(f"Revoked token {token.prefix}… of {token.user.email}.")
