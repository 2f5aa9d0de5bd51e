"""`expire`: run every time-driven job once (agreements becoming active or expiring, and the
other workflows' jobs), optionally as if it were another moment, and say what changed."""

from __future__ import annotations

import datetime as dt

import click

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
                              "and the other workflows' jobs. Without --apply it is a dry run: "
                              "it shows what would change and changes nothing.")
@click.option("--now", "now_text", metavar="ISO-DATETIME", default=None,
              help="Act as if it were this moment (UTC unless a zone is given).")
@click.option("--apply", is_flag=True, default=False,
              help="Make the changes (each job commits), as the server's scheduler does.")
@domain_errors
def expire_command(now_text: str | None, apply: bool) -> None:
    from governance import periodic
    from governance.extensions import database

    now = parse_now(now_text)
    app = build_app()
    db = database(app)
    try:
        with app.app_context():
            reports = periodic.run_jobs_reporting(db.sessions, now=now, actor=CLI_ACTOR,
                                                  apply=apply)
    finally:
        db.dispose()  # close the pool's connections before the command returns
    if apply:
        click.echo(f"Periodic jobs run as of {now.isoformat()}; the changes are saved:")
    else:
        click.echo(f"Dry run as of {now.isoformat()}: nothing was changed. With --apply "
                   "these changes would be made:")
    for report in reports:
        if report.changed is None:
            click.echo(f"  {report.name}: not previewed (it acts outside the database)")
            continue
        verb = "changed" if apply else "would change"
        click.echo(f"  {report.name}: {report.changed} {verb}, {len(report.events)} audited "
                   f"event{'' if len(report.events) == 1 else 's'}")
        for event_type, what, version in report.events:
            click.echo(f"    {event_type} {what}{f' version {version}' if version else ''}")
    total = sum(len(r.events) for r in reports)
    click.echo(f"{total} audited event{'' if total == 1 else 's'} in all"
               + ("." if apply else " would be written."))


COMMANDS = [expire_command]
