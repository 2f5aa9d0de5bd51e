"""`expire`: run every time-driven job once (agreements becoming active or expiring, and the
other workflows' jobs), optionally as if it were another moment, and say what changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import click
from sqlalchemy.orm import Session

from governance.cli.context import CLI_ACTOR, build_app, domain_errors
from governance.identity.actors import System
from governance.periodic import Registered


def parse_now(raw: str | None) -> dt.datetime:
    """An ISO-8601 date-time (a date alone means its midnight); no zone means UTC."""
    if raw is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise click.BadParameter(
            f"{raw!r} is not an ISO-8601 date-time, e.g. 2026-07-01T09:00:00Z.", param_hint="--now"
        ) from exc
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class JobReport:
    """What one job changed, with the audit events it wrote: (event type, what, version).
    `changed` is None when a dry run left the job out (it acts outside the database)."""

    name: str
    changed: int | None
    events: list[tuple[str, str, int | None]]


def run_jobs_reporting(
    session_factory: Callable[[], Session], *, now: dt.datetime, actor: System, apply: bool
) -> list[JobReport]:
    """Run every job once and report each one's changes and events. With `apply` each job
    commits in its own transaction, as the scheduler's do; without, all run in one
    transaction that is rolled back (no notification is sent: the outbox is discarded)."""
    from governance.periodic import JOBS  # installed by build_app (governance/registry.py)

    reports: list[JobReport] = []
    shared = None if apply else session_factory()
    try:
        for registered in JOBS:
            if shared is not None and registered.outside_database:
                reports.append(JobReport(registered.name, None, []))
                continue
            session = shared or session_factory()
            try:
                reports.append(_run_reported(session, registered, actor=actor, now=now))
                if shared is None:
                    session.commit()
            except Exception:
                session.rollback()
                raise
            finally:
                if shared is None:
                    session.close()
    finally:
        if shared is not None:
            shared.rollback()
            shared.close()
    return reports


def _run_reported(
    session: Session, registered: Registered, *, actor: System, now: dt.datetime
) -> JobReport:
    from sqlalchemy import select

    from governance.audit import service as audit
    from governance.audit.models import AuditEvent

    start, _ = audit.chain_head(session)
    changed = registered.job(session, actor, now)
    session.flush()
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.seq > start, AuditEvent.actor_email == actor.email)
        .order_by(AuditEvent.seq)
    ).all()
    return JobReport(
        registered.name,
        changed,
        [
            (str(e.event_type), str(e.detail.get("reference", e.target_id)), e.agreement_version)
            for e in events
        ],
    )


@click.command(
    "expire",
    help="Run the periodic jobs once: activate agreements whose "
    "effective date has come, expire those past their expiry date, "
    "and the other workflows' jobs. Without --apply it is a dry run: "
    "it shows what would change and changes nothing.",
)
@click.option(
    "--now",
    "now_text",
    metavar="ISO-DATETIME",
    default=None,
    help="Act as if it were this moment (UTC unless a zone is given).",
)
@click.option(
    "--apply",
    is_flag=True,
    default=False,
    help="Make the changes (each job commits), as the server's scheduler does.",
)
@domain_errors
def expire_command(now_text: str | None, apply: bool) -> None:
    from governance.kernel.extensions import database

    now = parse_now(now_text)
    app = build_app()
    db = database(app)
    try:
        with app.app_context():
            reports = run_jobs_reporting(db.sessions, now=now, actor=CLI_ACTOR, apply=apply)
    finally:
        db.dispose()  # close the pool's connections before the command returns
    if apply:
        click.echo(f"Periodic jobs run as of {now.isoformat()}; the changes are saved:")
    else:
        click.echo(
            f"Dry run as of {now.isoformat()}: nothing was changed. With --apply "
            "these changes would be made:"
        )
    for report in reports:
        if report.changed is None:
            click.echo(f"  {report.name}: not previewed (it acts outside the database)")
            continue
        verb = "changed" if apply else "would change"
        click.echo(
            f"  {report.name}: {report.changed} {verb}, {len(report.events)} audited "
            f"event{'' if len(report.events) == 1 else 's'}"
        )
        for event_type, what, version in report.events:
            click.echo(f"    {event_type} {what}{f' version {version}' if version else ''}")
    total = sum(len(r.events) for r in reports)
    click.echo(
        f"{total} audited event{'' if total == 1 else 's'} in all"
        + ("." if apply else " would be written.")
    )


COMMANDS = [expire_command]
