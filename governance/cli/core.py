"""`init`, `create-user`, `demo` and `serve`."""

from __future__ import annotations

import sys

import click
from sqlalchemy import func, select

from governance.audit import service as audit
from governance.cli.context import CLI_ACTOR, build_app, command_session, echo_table
from governance.server import DEFAULT_WORKER_CLASS, WORKER_CLASSES


@click.command(
    "init",
    help="Create instance/ (owner-only), the audit and data keys if they "
    "are absent (never replacing one), and create or upgrade the "
    "database schema.",
)
def init_command() -> None:
    from governance import schema
    from governance.access import conditions as grant_conditions
    from governance.access import seals as grant_seals
    from governance.cli.keys import create_missing_keys
    from governance.datasets import datastore
    from governance.kernel.config import (
        ConfigError,
        load_settings,
        private_dir,
        project_instance_path,
    )
    from governance.kernel.extensions import database
    from governance.kernel.types import utcnow

    instance = private_dir(project_instance_path())
    if instance.stat().st_mode & 0o077:
        # It holds the database, the keys and the data files: owner-only, as if created today.
        instance.chmod(0o700)
        click.echo(f"Made {instance} readable by its owner only.")
    try:
        settings = load_settings(instance, None)
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    for line in create_missing_keys(settings):
        click.echo(line)
    app = build_app()
    engine = database(app).engine
    before = schema.current_revision(engine)
    schema.upgrade(engine)
    after = schema.current_revision(engine)
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"Database {url} is up to date (revision {after}).")
    else:
        click.echo(f"Database {url} upgraded from {before or 'empty'} to revision {after}.")
    # Sign the audit trail's format boundary at once, before anyone else can write.
    try:
        with command_session(app) as session:
            sealed = audit.seal(session)
            session.commit()
            # Rows stored before their kind was sealed (grants, training records, accounts,
            # roles, credentials) are sealed now, once per kind: after that record, a row
            # without a seal allows nothing.
            rows_sealed = grant_seals.seal_unsealed_once(session, by=CLI_ACTOR, now=utcnow())
            session.commit()
            # Each kind sealed later (agreements' terms) once too, by its own record: a
            # database whose grants were sealed by an earlier upgrade still seals it.
            kinds_sealed = grant_seals.seal_kinds_once(session, by=CLI_ACTOR, now=utcnow())
            session.commit()
            # Grants written before their effective ends were kept get them now, so a lapsed
            # condition refuses the very next read after an upgrade, not after the next job.
            settled = grant_conditions.pause_lapsed_grants(session, CLI_ACTOR, utcnow())
            session.commit()
            legacy = len(datastore.legacy_rows(session))
            unmigrated = len(datastore.versions_to_migrate(session)) + len(
                datastore.cohorts_to_migrate(session)
            )
    finally:
        database(app).dispose()
    if sealed is not None:
        click.echo(
            f"Audit trail sealed in its new format at event {sealed}; older events keep "
            "verifying in theirs."
        )
    # Only the kinds that had rows to seal: a new database has none, an upgraded one some.
    counts = ", ".join(
        f"{n} {kind.replace('_', ' ')} row(s)"
        for kind, n in {**(rows_sealed or {}), **kinds_sealed}.items()
        if n
    )
    if counts:
        click.echo(f"Sealed the rows stored before seals were kept: {counts}.")
    if settled:
        click.echo(f"{settled} grant(s) paused or resumed as their conditions now stand.")
    if legacy:
        click.echo(
            f"{legacy} stored file(s) predate per-file keys: they stay readable; run "
            "`governance datastore rewrap` so that destroying them erases them."
        )
    if unmigrated:
        click.echo(
            f"{unmigrated} dataset version(s) or cohort file(s) are stored in the earlier "
            "encrypted format, "
            "which analyses no longer read: run `governance datastore migrate-encryption`."
        )


@click.command(
    "create-user",
    help="Create an account (asks for the password, or reads it "
    "from standard input with --password-stdin).",
)
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--org", "org_name", required=True, help="Organisation name (must exist).")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(
    email: str, name: str, org_name: str, roles: tuple[str, ...], password_stdin: bool
) -> None:
    from governance.identity.organization_model import Organization
    from governance.identity.users import create_user

    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else click.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    app = build_app()
    with command_session(app) as session:
        org = session.scalars(select(Organization).where(Organization.name == org_name)).first()
        if org is None:
            raise click.ClickException(f"No organisation named {org_name!r}.")
        user = create_user(
            session,
            email=email,
            name=name,
            organization_id=org.id,
            roles=roles,
            password=password,
            password_min_length=app.config["PASSWORD_MIN_LENGTH"],
            by=CLI_ACTOR,
        )
        session.commit()
        click.echo(f"Created {user.email} ({', '.join(sorted(roles))}) in {org.name}.")


@click.command("demo", help="Load the deterministic demo world into an empty database.")
@click.option(
    "--people",
    default=None,
    type=int,
    help="Synthetic people in the administrative data (default: the demo's own).",
)
def demo_command(people: int | None) -> None:
    from governance.demo import DEMO_PASSWORD, load_demo
    from governance.identity.models import User
    from governance.kernel.extensions import database

    app = build_app()
    address = app.config["BASE_URL"]
    try:
        with command_session(app) as session:
            if session.scalar(select(func.count()).select_from(User)):
                click.echo(
                    "The database already has accounts; the demo world was not "
                    f"loaded. Log in at {address}."
                )
                return
            logins = load_demo(session, app=app, people=people)
            session.commit()
    finally:
        database(app).dispose()  # close the pool's connections before the command returns
    click.echo(f"Demo world loaded. Log in at {address} with:")
    echo_table([("E-MAIL", "ROLE", "ORGANISATION"), *logins])
    click.echo(f"Every demo account's password is: {DEMO_PASSWORD}")


@click.command("serve", help="Serve the application with gunicorn worker processes.")
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--timeout",
    default=120,
    show_default=True,
    type=int,
    help="Seconds a request may go without progress (its body read or its answer written) "
    "before its sync worker is replaced.",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Threads per worker process (gthread workers only).",
)
@click.option(
    "--worker-class",
    default=DEFAULT_WORKER_CLASS,
    show_default=True,
    type=click.Choice(WORKER_CLASSES),
    help="gunicorn worker class: sync (one request at a time per process, a connection per "
    "request; put a buffering reverse proxy in front) or gthread (threads, connections kept "
    "alive; the choice without a proxy).",
)
def serve_command(bind: str, workers: int, timeout: int, threads: int, worker_class: str) -> None:
    from governance.server import serve

    app = build_app()  # fail fast, in this process, on bad settings or policy files
    click.echo(f"Serving on http://{bind} (links in e-mails use {app.config['BASE_URL']}).")
    serve(bind=bind, workers=workers, timeout=timeout, threads=threads, worker_class=worker_class)


COMMANDS = [init_command, create_user_command, demo_command, serve_command]
