"""`governance audit verify | export | evidence`: the compliance manager's commands.

Each command is recorded in the audit trail as the `System("cli")` actor. `verify` exits 0 when
the chain, every checkpoint and the head are intact and 1 (naming the first bad event or
checkpoint) otherwise, so it can run from cron and alert.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
from flask import Flask

from governance.cli.context import (
    CLI_ACTOR,
    audit_trail,
    build_app,
    command_session,
    database_session,
)
from governance.kernel.db import Database

F = TypeVar("F", bound=Callable[..., Any])


def _filter_options(command: F) -> F:
    options = [
        click.option(
            "--since",
            help="Start of the period, inclusive (ISO date or date-time, "
            "UTC unless a zone is given).",
        ),
        click.option("--until", help="End of the period, exclusive (ISO date or date-time)."),
        click.option("--user", help="Only events by this e-mail address."),
        click.option(
            "--agreement",
            "agreement_id",
            help="Only events under this agreement: its reference (DUA-2026-001) or number.",
        ),
        click.option("--dataset", "dataset_id", help="Only events about this dataset."),
        click.option("--event-type", help="Only this event type, e.g. dataset:read."),
        click.option("--outcome", help="success, failure, allowed or denied."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def _app() -> Iterator[Flask]:
    """The app for one command; its connections are closed when the command ends."""
    from governance.kernel.extensions import database

    app = build_app()
    try:
        yield app
    finally:
        database(app).dispose()


@contextmanager
def _command_database(*, whole_app: bool) -> Iterator[Database]:
    """The database for an export: the trail's alone, or, for a filter by agreement (found by
    its reference through the agreements' wiring), the app's, inside its context."""
    if not whole_app:
        with audit_trail() as db:
            yield db
        return
    from governance.kernel.extensions import database

    with _app() as app, app.app_context():
        yield database(app)


@contextmanager
def _early_verification(
    expect_head: tuple[int, str] | None,
    workers: int,
    witnesses: list[Any],
    ahead: list[Any],
    *,
    strict: bool,
) -> Iterator[Any]:
    """The chain's walk, started before the app is built (its imports take seconds, the walk
    of a long trail as long again on the other core) on the worker processes started `ahead`,
    or None when the configuration or the keys cannot be read: building the app then says why,
    as for every command."""
    from governance.audit.service import AuditSettings
    from governance.audit.verify import verify_early
    from governance.kernel import keys
    from governance.kernel.config import ConfigError, load_settings, project_instance_path
    from governance.kernel.db import is_sqlite, make_engine

    try:
        settings = load_settings(project_instance_path(), None)
        ring = keys.load_rings(settings).audit
    except ConfigError:
        yield None
        return
    url = settings["DATABASE_URL"]
    engine = make_engine(url, read_only=is_sqlite(url))
    verifying = verify_early(
        engine,
        settings,
        AuditSettings(keys=ring.keys, current_key_id=ring.current_id),
        expect_head=expect_head,
        workers=workers,
        witnesses=witnesses,
        strict=strict,
        ahead=ahead,
    )
    try:
        yield verifying
    finally:
        # Waits for the walk even when the command stopped early (its workers end with it).
        verifying.exception()
        engine.dispose()


@contextmanager
def _early_counts(fmt: str, filters: dict[str, str | None]) -> Iterator[Any]:
    """The PDF report's counts, started before the app is built (as `_early_verification`
    starts the walk), or None: for another format, filters that need the app to be read (an
    agreement's reference) or a configuration that cannot be read (building the app says
    why)."""
    if fmt != "pdf" or filters.get("agreement_id"):
        yield None
        return
    from governance.audit.queries import parse_filter
    from governance.audit.report import count_early
    from governance.kernel.config import ConfigError, load_settings, project_instance_path
    from governance.kernel.db import is_sqlite, make_engine
    from governance.kernel.errors import ValidationFailed

    try:
        url = load_settings(project_instance_path(), None)["DATABASE_URL"]
        flt = parse_filter(filters)
    except (ConfigError, ValidationFailed):
        yield None
        return
    engine = make_engine(url, read_only=is_sqlite(url))
    counting = count_early(engine, flt)
    try:
        yield counting
    finally:
        # The counts end with the command, used or not.
        counting.exception()
        engine.dispose()


@click.group("audit", help="Verify, export and report on the audit trail.")
def audit_group() -> None:
    """The `audit` command group."""


def _open_for_writing(path: Path, *, folder: bool = False) -> BinaryIO:
    """Open the output before anything is recorded or computed: an unwritable path is a clear
    one-line refusal (exit 1), never a traceback after the export was recorded."""
    try:
        if folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb")
    except OSError as error:
        raise click.ClickException(
            f"Cannot write {path}: {error.strerror or error}. Nothing was exported."
        ) from error


@audit_group.command(
    "verify",
    help="Check the whole hash chain, every signed checkpoint and "
    "the head; exit 1 naming the first fault.",
)
@click.option(
    "--expect-head",
    help="A chain head kept from an earlier export or report, as "
    "SEQ:SHA256; fails unless that event still has that hash.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(0, 16),
    help="Processes that walk a long chain in parallel (0: this process only).",
)
@click.option(
    "--witness",
    "witness_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A witnessed head kept from the public register (its witness.json): fails unless "
    "the authority's token is valid and the trail still has that head. Repeatable.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Also fail when time-stamp tokens' signatures cannot be checked "
    "(AUDIT_TSA_CA_FILE is not set); without it they are reported as not checked.",
)
def verify_command(
    expect_head: str | None, workers: int, witness_files: tuple[Path, ...], strict: bool
) -> None:
    from governance.audit import verify_start
    from governance.kernel.config import ConfigError, load_settings, project_instance_path
    from governance.kernel.db import is_sqlite

    with ExitStack() as stack:
        # The walk's workers first (that module imports only the standard library): their
        # interpreters and database drivers start on the other core while this command imports
        # the verification and reads the head, so each takes its stretch at once (a short trail
        # tells them to end). Without a configuration, building the trail's database says why.
        try:
            url = load_settings(project_instance_path(), None)["DATABASE_URL"]
        except ConfigError:
            url = None
        dialect = "sqlite" if url is None or is_sqlite(url) else "postgresql"
        ahead = [verify_start.start(stack, dialect) for _ in range(workers if url else 0)]
        _verify(expect_head, workers, witness_files, ahead, strict=strict)


def _verify(
    expect_head: str | None,
    workers: int,
    witness_files: tuple[Path, ...],
    ahead: list[Any],
    *,
    strict: bool,
) -> None:
    from governance.audit.verify import parse_head, run_verification
    from governance.audit.witness import WitnessError, load_file
    from governance.kernel.errors import ValidationFailed

    try:
        kept = [witness for path in witness_files for witness in load_file(path)]
    except WitnessError as error:
        raise click.ClickException(f"{error}. Nothing was verified.") from error
    try:
        expected = parse_head(expect_head) if expect_head else None
    except ValidationFailed as error:
        raise click.ClickException(error.message) from error
    # The trail's database alone, not the app: its imports would compete with the walk's
    # workers for the machine's cores, and the command's event needs only the trail's wiring.
    with (
        _early_verification(expected, workers, kept, ahead, strict=strict) as verifying,
        audit_trail() as db,
        database_session(db) as session,
    ):
        result = run_verification(
            session,
            db.read_engine(),
            by=CLI_ACTOR,
            expect_head=expected,
            workers=workers,
            witnesses=kept,
            strict=strict,
            verifying=verifying,
        )
        session.commit()
    click.echo(result.summary())
    sys.exit(0 if result.intact else 1)


@audit_group.command(
    "export",
    help="Export events as CSV or JSON Lines (streamed), or the PDF audit report for the period.",
)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "pdf"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@_filter_options
def export_command(fmt: str, out: Path, **filters: str | None) -> None:
    from governance.audit import evidence as audit_evidence
    from governance.audit import export as audit_export
    from governance.audit import report as audit_report
    from governance.audit.models import AuditType
    from governance.audit.queries import parse_filter

    with (
        _early_counts(fmt, filters) as counting,
        _command_database(whole_app=bool(filters.get("agreement_id"))) as db,
        database_session(db) as session,
    ):
        engine = db.read_engine()
        if filters.get("agreement_id"):
            # People type the reference; the filter takes the agreement's number.
            filters["agreement_id"] = str(
                audit_evidence.agreement_named(session, str(filters["agreement_id"])).id
            )
        flt = parse_filter(filters)
        event_type = AuditType.AUDIT_REPORT if fmt == "pdf" else AuditType.AUDIT_EXPORT
        with _open_for_writing(out) as file:
            audit_export.record_export(session, flt, fmt=fmt, by=CLI_ACTOR, event_type=event_type)
            session.commit()
            if fmt == "pdf":
                report = audit_report.build_report(session, engine, flt, early=counting)
                file.write(audit_report.render_report(report))
                head = report.head
            else:
                for chunk in audit_export.iter_export(engine, flt, fmt):
                    file.write(chunk)
                head = None
    click.echo(
        f"Wrote {out} ({out.stat().st_size} bytes)"
        + (f"; audit chain head seq={head[0]} sha256={head[1]}." if head else ".")
    )


@audit_group.command(
    "evidence",
    help="Write the evidence pack of one agreement (a PDF and a CSV of its events) into a folder.",
)
@click.option(
    "--agreement",
    "agreement_key",
    required=True,
    help="The agreement's reference (DUA-2026-001) or number.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def evidence_command(agreement_key: str, out: Path) -> None:
    from governance.audit import evidence as audit_evidence
    from governance.kernel.extensions import database

    with _app() as app, command_session(app) as session:
        engine = database(app).read_engine()
        agreement_id = audit_evidence.agreement_named(session, agreement_key).id
        pdf_path = out / f"agreement-{agreement_id}-evidence.pdf"
        csv_path = out / f"agreement-{agreement_id}-events.csv"
        with (
            _open_for_writing(pdf_path, folder=True) as pdf_file,
            _open_for_writing(csv_path) as csv_file,
        ):
            audit_evidence.record_evidence_export(session, agreement_id, by=CLI_ACTOR)
            session.commit()
            pack = audit_evidence.build_pack(session, engine, agreement_id)
            pdf_file.write(audit_evidence.render_pack(pack))
            for chunk in audit_evidence.iter_pack_csv(engine, agreement_id):
                csv_file.write(chunk)
    click.echo(
        f"Wrote {pdf_path} and {csv_path}; audit chain head seq={pack.head[0]} "
        f"sha256={pack.head[1]}."
    )
