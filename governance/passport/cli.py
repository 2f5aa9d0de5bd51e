"""`governance passport keys | rotate-key | drop-keys`: the visa signing keys."""

from __future__ import annotations

import click

from governance.cli.context import CLI_ACTOR, build_app, command_session, echo_table
from governance.kernel.types import utcnow


@click.group("passport", help="The keys that sign GA4GH Passport visas.")
def passport_group() -> None:
    """The `passport` command group."""


@passport_group.command("keys", help="List the visa signing keys (ids, never the keys).")
def keys_command() -> None:
    from governance.passport import signing_keys
    from governance.passport.visas import settings_of

    app = build_app()
    with command_session(app) as session:
        settings = settings_of(session)
        now = utcnow()
        published = {jwk["kid"] for jwk in signing_keys.published_keys(session, settings, now)}
        rows: list[tuple[object, ...]] = [("KEY ID", "ALGORITHM", "RETIRED", "PUBLISHED")]
        for key in signing_keys.public_keys(settings):
            retired = key.retired_at.isoformat() if key.retired_at else "current"
            rows.append((key.kid, key.algorithm, retired, "yes" if key.kid in published else "no"))
    echo_table(rows)


@passport_group.command(
    "rotate-key",
    help="Make a new current visa signing key (PASSPORT_KEY_ALGORITHM); the old one stays "
    "published until every visa it signed has expired, then is dropped.",
)
def rotate_key_command() -> None:
    from governance.passport.key_rotation import drop_retired_keys, rotate_key

    app = build_app()
    with command_session(app) as session:
        now = utcnow()
        rotation = rotate_key(session, by=CLI_ACTOR, now=now)
        dropped = drop_retired_keys(session, CLI_ACTOR, now)
        session.commit()
    retired = f"; {rotation.old_kid} is retired" if rotation.old_kid else ""
    click.echo(
        f"Visas are now signed with {rotation.new_kid} ({rotation.algorithm}){retired}; "
        f"{dropped} retired key(s) no visa needs were dropped."
    )


@passport_group.command(
    "drop-keys", help="Delete the retired visa signing keys that no unexpired visa needs."
)
def drop_keys_command() -> None:
    from governance.passport.key_rotation import drop_retired_keys

    app = build_app()
    with command_session(app) as session:
        dropped = drop_retired_keys(session, CLI_ACTOR, utcnow())
        session.commit()
    click.echo(f"{dropped} retired visa signing key(s) dropped.")


COMMANDS = [passport_group]
