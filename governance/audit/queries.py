"""Choosing audit events: the filters shared by the search page, exports and reports, and
streaming the selected rows in constant memory.

A period is `since` (inclusive) to `until` (exclusive), in UTC; a bare date means midnight UTC
at the start of that day, so `--since 2026-01-01 --until 2027-01-01` is the whole of 2026.
Exports read rows as stored: the time as `format_time` text computed in SQL and the detail as
its stored canonical JSON text, so a million rows are never turned into ORM objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, String, literal_column, select
from sqlalchemy import type_coerce as coerce
from sqlalchemy.orm import Session

from governance.audit import directory
from governance.audit.models import AuditEvent, AuditType, Outcome, of_type, with_outcome
from governance.kernel.errors import ValidationFailed
from governance.kernel.text import whole_number

EXPORT_COLUMNS: tuple[str, ...] = (
    "seq",
    "occurred_at",
    "event_type",
    "outcome",
    "actor_id",
    "actor_email",
    "agreement_id",
    "agreement_version",
    "dataset_id",
    "target_type",
    "target_id",
    "rule",
    "clause",
    "detail",
    "prev_hash",
    "hash",
)
STREAM_BATCH = 5000

# Every way rows or records leave the service as a file.
EXPORT_TYPES = (
    AuditType.DATASET_DOWNLOAD,
    AuditType.ANALYSIS_DOWNLOAD,
    AuditType.OUTPUT_DOWNLOAD,
    AuditType.OUTPUT_PUBLIC_FILES,
    AuditType.AUDIT_EXPORT,
    AuditType.AUDIT_REPORT,
    AuditType.GRANT_REVIEW_EXPORT,
    AuditType.AGREEMENT_PDF,
    AuditType.AGREEMENT_ODRL,
)


def _exports() -> ColumnElement[bool]:
    return of_type(*EXPORT_TYPES)


def _identifier_reads() -> ColumnElement[bool]:
    # The detail is stored as canonical JSON (no spaces, sorted keys), so a non-empty list of
    # direct identifiers always reads `"direct_identifier_columns":["`, on either database.
    return (AuditEvent.event_type == AuditType.DATASET_READ) & coerce(
        AuditEvent.detail, String
    ).contains('"direct_identifier_columns":["', autoescape=True)


# The families of events a compliance manager checks again and again: name -> (label, where).
KINDS: dict[str, tuple[str, Callable[[], ColumnElement[bool]]]] = {
    "exports": ("Exports and downloads", _exports),
    "identifier_reads": ("Reads of direct identifiers", _identifier_reads),
}


@dataclass(frozen=True)
class AuditFilter:
    """What a compliance manager narrows the trail to; every field is optional."""

    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    # The person as typed: an e-mail (as recorded, lower case), a name or part of either.
    user: str | None = None
    agreement_id: int | None = None
    dataset_id: int | None = None
    event_type: AuditType | None = None
    outcome: Outcome | None = None
    kind: str | None = None  # one of KINDS: a family of events a check looks at
    dataset: str | None = None  # a dataset's name (or part of it), as typed
    # Resolved from `user` and `dataset` by `resolve_names` (None: not resolved, so `user` is
    # an exact e-mail); never part of the query string.
    emails: tuple[str, ...] | None = field(default=None, compare=False)
    dataset_ids: tuple[int, ...] | None = field(default=None, compare=False)

    def conditions(self) -> list[ColumnElement[bool]]:
        table = AuditEvent
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(table.occurred_at >= self.since)
        if self.until is not None:
            clauses.append(table.occurred_at < self.until)
        if self.emails is not None:
            clauses.append(table.actor_email.in_(self.emails))
        elif self.user is not None:
            clauses.append(table.actor_email == self.user)
        if self.agreement_id is not None:
            clauses.append(table.agreement_id == self.agreement_id)
        if self.dataset_id is not None:
            clauses.append(table.dataset_id == self.dataset_id)
        if self.dataset_ids is not None:
            clauses.append(table.dataset_id.in_(self.dataset_ids))
        if self.event_type is not None:
            clauses.append(of_type(self.event_type))
        if self.outcome is not None:
            clauses.append(with_outcome(self.outcome))
        if self.kind is not None:
            clauses.append(KINDS[self.kind][1]())
        return clauses

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (what `parse_filter` reads back)."""
        args: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or item.name in RESOLVED_FIELDS:
                continue
            args[item.name] = (
                _format_moment(value) if isinstance(value, dt.datetime) else str(value)
            )
        return args

    def describe(self) -> str:
        """One line for export preambles and report covers, e.g. `since=... user=...`."""
        text = " ".join(f"{key}={value}" for key, value in self.as_args().items())
        # Preamble lines may hold neither quotes nor line breaks (see reports.tabular).
        return "".join("?" if ch in '"\r\n' else ch for ch in text) or "all events"


RESOLVED_FIELDS = ("emails", "dataset_ids")
FILTER_FIELDS = tuple(
    field.name for field in fields(AuditFilter) if field.name not in RESOLVED_FIELDS
)


def _format_moment(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_moment(text: str, name: str) -> dt.datetime:
    """An ISO 8601 date or date-time; a bare date is midnight UTC, a naive time is UTC."""
    try:
        if len(text) <= 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(
            f"{name} must be an ISO date such as 2026-01-31 or a date and "
            f"time such as 2026-01-31T14:00Z.",
            {name: f"{text!r} is not an ISO date."},
        ) from exc
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def parse_filter(args: Mapping[str, str | None], session: Session | None = None) -> AuditFilter:
    """Read a filter from query-string or command-line values; bad values are a 422.

    With a session (and the registry's directory installed) people, agreements and datasets
    may be named as a person names them: `user` by name or part of an e-mail, `agreement_id`
    by reference (DUA-2026-001), `dataset` by name."""
    resolver = directory.installed() if session is not None else None
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    raw = {key: (args.get(key) or "").strip() for key in FILTER_FIELDS}
    for key in ("since", "until"):
        if raw[key]:
            try:
                values[key] = parse_moment(raw[key], key)
            except ValidationFailed as exc:
                errors.update(exc.fields)
    for key in ("agreement_id", "dataset_id"):
        if raw[key]:
            number = whole_number(raw[key])
            if number is not None:
                values[key] = number
            elif key == "agreement_id" and resolver is not None:
                found = resolver.agreement_by_key(session, raw[key]) if session else None
                if found is None:
                    errors[key] = f"There is no agreement {raw[key][:40]!r}."
                else:
                    values[key] = found[0]
            else:
                errors[key] = "Expected a whole number."
    if raw["user"]:
        values["user"] = " ".join(raw["user"].lower().split())[:320]
    if raw["dataset"]:
        values["dataset"] = " ".join(raw["dataset"].split())[:200]
    if raw["kind"]:
        if raw["kind"] in KINDS:
            values["kind"] = raw["kind"]
        else:
            errors["kind"] = f"Unknown kind of events {raw['kind']!r}."
    for key, enum in (("event_type", AuditType), ("outcome", Outcome)):
        if raw[key]:
            try:
                values[key] = enum(raw[key])
            except ValueError:
                errors[key] = f"Unknown {key.replace('_', ' ')} {raw[key]!r}."
    if (
        not errors
        and "since" in values
        and "until" in values
        and values["since"] >= values["until"]
    ):
        errors["until"] = "The end of the period must come after its start."
    if resolver is not None and session is not None:
        _resolve_names(session, resolver, values, errors)
    elif "dataset" in values:
        errors["dataset"] = "Name datasets on the audit page or by number (dataset_id)."
    if errors:
        problems = "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        raise ValidationFailed(f"Some filters need correcting ({problems}).", errors)
    return AuditFilter(**values)


def _resolve_names(
    session: Session,
    resolver: directory.Directory,
    values: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """People by name or part of an e-mail, datasets by name: the ids and e-mails they match."""
    typed = values.get("user")
    if typed:
        emails = set(resolver.people_matching(session, typed))
        if "@" in typed:
            # A whole e-mail means that person only; failed sign-ins of unknown accounts have
            # no person behind them, so the typed e-mail is always searched for.
            emails = {typed} if typed in emails or not emails else emails | {typed}
        if not emails:
            errors["user"] = f"Nobody's name or e-mail contains {typed!r}."
        values["emails"] = tuple(sorted(emails))
    named = values.get("dataset")
    if named:
        found = resolver.datasets_matching(session, named)
        if not found:
            errors["dataset"] = f"No dataset is named {named!r}."
        values["dataset_ids"] = tuple(dataset_id for dataset_id, _ in found)


def occurred_text(dialect: str) -> ColumnElement[str]:
    """`occurred_at` as `format_time` writes it, computed by the database.

    SQLite stores `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, always with microseconds); PostgreSQL
    formats its timestamptz in UTC.
    """
    if dialect == "sqlite":
        return literal_column("replace(audit_event.occurred_at, ' ', 'T') || 'Z'", String)
    return literal_column(
        "to_char(audit_event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
        String,
    )


def export_select(
    flt: AuditFilter, dialect: str, *, extra: list[ColumnElement[bool]] | None = None
) -> Select[Any]:
    """The rows of an export, oldest first, each as stored (`EXPORT_COLUMNS`)."""
    columns: list[Any] = []
    for name in EXPORT_COLUMNS:
        if name == "occurred_at":
            columns.append(occurred_text(dialect).label(name))
        else:
            # type_coerce to String: no per-row conversion (the detail stays JSON text).
            columns.append(
                coerce(getattr(AuditEvent, name), String).label(name)
                if name in {"detail", "event_type", "outcome"}
                else getattr(AuditEvent, name)
            )
    return select(*columns).where(*flt.conditions(), *(extra or [])).order_by(AuditEvent.seq)


def stream_rows(
    connection: Connection, statement: Select[Any], batch: int = STREAM_BATCH
) -> Iterator[Sequence[Any]]:
    """Yield rows (tuple-like) in batches from a server-side cursor: memory stays constant."""
    for rows in stream_batches(connection, statement, batch):
        yield from rows


def stream_batches(
    connection: Connection, statement: Select[Any], batch: int = STREAM_BATCH
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows in lists of at most `batch` plain tuples, read from a server-side cursor (on
    SQLite the driver steps the query as rows are asked for): memory stays constant.

    Only for statements whose columns need no conversion by SQLAlchemy (`export_select`'s):
    after the first row, rows come straight from the driver's cursor, which spares a `Row`
    object per event (a fifth of a million-event export's CPU). The first row is taken
    through SQLAlchemy because a streaming result may already hold it (psycopg's server-side
    cursor fetches one row when the result opens); nothing else is buffered before it.
    """
    result = connection.execution_options(stream_results=True).execute(statement)
    first = result.fetchone()
    if first is None:
        return
    cursor = result.context.cursor
    try:
        # fetchmany(0) would mean "the driver's default size", not none.
        rows: list[tuple[Any, ...]] = [
            tuple(first),
            *(cursor.fetchmany(batch - 1) if batch > 1 else ()),
        ]
        while rows:
            yield rows
            # The drivers' rows are plain tuples (no row factory is set on either).
            rows = list(cursor.fetchmany(batch))
    finally:
        # SQLAlchemy did not see the rows end: close the (server-side) cursor here.
        result.close()
