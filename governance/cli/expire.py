"""`expire`: run every time-driven job once (agreements becoming active or expiring, and the
other workflows' jobs), optionally as if it were another moment, and say what changed."""

from __future__ import annotations

import datetime as dt

import click
from sqlalchemy import select

from governance.cli.context import CLI_ACTOR, build_app, domain_errors


def parse_now(raw: str | None) -> dt.datetime:
    """An ISO-8601 date-time (a date alone means its midnight); no zone means UTC."""
    if raw is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise click.BadParameter(f"{raw!r} is not an ISO-8601 date-time, e.g. "
                                 f"2026-07-01T09:00:00Z.", param_hint="--now") from exc
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@click.command("expire", help="Run the periodic jobs once: activate agreements whose "
                              "effective date has come, expire those past their expiry date, "
                              "and the other workflows' jobs. Prints what changed.")
@click.option("--now", "now_text", metavar="ISO-DATETIME", default=None,
              help="Act as if it were this moment (UTC unless a zone is given).")
@domain_errors
def expire_command(now_text: str | None) -> None:
    from governance import periodic
    from governance.audit import service as audit
    from governance.audit.models import AuditEvent
    from governance.kernel.extensions import database

    now = parse_now(now_text)
    app = build_app()
    db = database(app)
    try:
        with app.app_context():
            with db.session() as session:
                start, _hash = audit.chain_head(session)
            results = periodic.run_due_jobs(db.sessions, now=now, actor=CLI_ACTOR)
            with db.session() as session:
                events = session.scalars(select(AuditEvent).where(AuditEvent.seq > start)
                                         .order_by(AuditEvent.seq)).all()
    finally:
        db.dispose()  # close the pool's connections before the command returns
    click.echo(f"Periodic jobs run as of {now.isoformat()}:")
    for name, changed in results.items():
        click.echo(f"  {name}: {changed} changed")
    for event in events:
        reference = event.detail.get("reference", event.target_id)
        version = f" version {event.agreement_version}" if event.agreement_version else ""
        click.echo(f"  {event.event_type} {reference}{version}")


COMMANDS = [expire_command]
