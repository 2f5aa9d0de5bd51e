"""Exporting the audit trail as CSV or JSON Lines, streamed in constant memory.

Every export is itself an audited event (`audit:export`), written and committed before the
first byte is streamed, with the filters and the chain head it started from. The rows are then
read on a separate read-only connection in one snapshot, so a long download neither holds
SQLite's write lock nor mixes in events written meanwhile.

The chain head of the snapshot is printed in every file, so a compliance manager can keep it
outside the system and later prove nothing before it changed (`governance audit verify
--expect-head SEQ:SHA256`):
- CSV: comment lines before the header, `# audit chain head: seq=N, sha256=H` first, then
  `# exported ... filters: ...`, and a last line `# end of export: rows=N` (the reports
  toolkit's preamble format; `pandas.read_csv(comment="#")` skips them). Cells that begin with
  `=`, `+`, `-`, `@`, tab, CR or LF are prefixed with `'` so spreadsheets show them as text.
  The rows are written by pyarrow's C CSV writer, a batch of events at a time, rather than the
  toolkit's `iter_csv`: Python's csv module copies every character one by one (about 60 MB/s
  here), and a million events are 330 MB. The toolkit's neutralisation is applied to each text
  column in Arrow (an RE2 replace); pyarrow quotes every text cell, where the csv module quotes
  only those that need it, and a test checks that the cells read back are the toolkit's for
  hostile rows.
- JSON Lines: the first object is `{"audit_chain_head": {"seq": N, "sha256": H}, "exported_at":
  ..., "filters": {...}}`; every following line is one event with its detail as an object, and
  the last is `{"end_of_export": true, "rows": N}`, as the CSV's last line (a file without it
  was cut short).
Either ends instead with the toolkit's "export stopped" line or object if its rows raise
`ExportStopped` (`tabular.ExportEnd`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditHead, AuditType
from governance.audit.queries import (
    EXPORT_COLUMNS,
    AuditFilter,
    export_select,
    stream_batches,
    stream_rows,
)
from governance.audit.service import HEAD_ID, format_time
from governance.authz import Permission
from governance.kernel.reports.tabular import (
    DANGEROUS_PREFIXES,
    ExportEnd,
    ExportStopped,
    chain_head_line,
    iter_csv,
    iter_jsonl,
    until_stopped,
)
from governance.kernel.types import utcnow

if TYPE_CHECKING:
    from governance.identity.actors import Actor  # who acts: a type only, audit knows no noun

STREAMED_FORMATS = ("csv", "jsonl")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "pdf": "application/pdf",
}
CSV_BATCH = 2000  # events per yielded chunk (about 600 KB)


def record_export(
    session: Session,
    flt: AuditFilter,
    *,
    fmt: str,
    by: Actor,
    event_type: AuditType = AuditType.AUDIT_EXPORT,
    agreement_id: int | None = None,
) -> int:
    """Check `audit:export` and record the export with its filters and the head it starts
    from; the caller commits before streaming."""
    detail: dict[str, Any] = {"format": fmt, "filters": flt.as_args()}
    authz.require(
        by,
        Permission.AUDIT_EXPORT,
        audit={"event_type": event_type, "agreement_id": agreement_id, "detail": detail},
    )
    head_seq, head_hash = audit.chain_head(session)
    return audit.record(
        session,
        event_type,
        by=by,
        agreement_id=agreement_id,
        target_type="audit_trail",
        detail={**detail, "head_seq": head_seq, "head_hash": head_hash},
    )


@contextmanager
def snapshot(engine: Engine) -> Iterator[tuple[Connection, tuple[int, str]]]:
    """A read-only connection seeing one consistent state, and the chain head in it."""
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            # The table, not the mapped class: the report's early counts read it while the
            # app is still importing models (see `report.EVENTS`).
            head_row = AuditHead.__table__.c
            head = connection.execute(
                select(head_row.seq, head_row.hash).where(head_row.id == HEAD_ID)
            ).one()
            yield connection, (head.seq, head.hash)


def iter_export(
    engine: Engine, flt: AuditFilter, fmt: str, *, now: dt.datetime | None = None
) -> Iterator[bytes]:
    """The export's bytes, chunk by chunk; opens its own snapshot when first advanced."""
    if fmt not in STREAMED_FORMATS:
        raise ValueError(f"unknown streamed format {fmt!r}")
    exported_at = format_time(now or utcnow())
    with snapshot(engine) as (connection, (head_seq, head_hash)):
        statement = export_select(flt, connection.dialect.name, extra=[AuditEvent.seq <= head_seq])
        if fmt == "csv":
            yield from iter_csv(
                (),
                preamble=[
                    chain_head_line(head_seq, head_hash),
                    f"exported {exported_at}; filters: {flt.describe()}",
                ],
            )
            yield from iter_csv_batches(stream_batches(connection, statement, CSV_BATCH))
            return
        meta = {
            "audit_chain_head": {"seq": head_seq, "sha256": head_hash},
            "exported_at": exported_at,
            "filters": flt.as_args(),
        }
        yield from iter_jsonl([meta])
        detail = EXPORT_COLUMNS.index("detail")
        yield from iter_jsonl(
            (
                {**dict(zip(EXPORT_COLUMNS, row, strict=True)), "detail": json.loads(row[detail])}
                for row in stream_rows(connection, statement)
            ),
            trailer=True,
        )


# The integer columns of `EXPORT_COLUMNS`; every other column is text.
_WHOLE_COLUMNS = frozenset({"seq", "actor_id", "agreement_id", "agreement_version", "dataset_id"})
# A cell beginning with one of the toolkit's DANGEROUS_PREFIXES gets a leading `'` (RE2).
_DANGEROUS_START = "^([" + "".join(sorted(DANGEROUS_PREFIXES)).replace("-", "\\-") + "])"
_CSV_OPTIONS = pacsv.WriteOptions(
    include_header=False, eol="\r\n", quoting_style="needed", batch_size=CSV_BATCH
)


def _whole(values: Sequence[Any]) -> pa.Array:
    """An integer column; a value that is not a whole number (SQLite stores what it is given)
    is written as neutralised text instead."""
    try:
        return pa.array(values, type=pa.int64())
    except (pa.ArrowException, TypeError, OverflowError):
        return _text(values)


def _neutralised(array: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(array, _DANGEROUS_START, "'\\1", max_replacements=1)


def _text(values: Sequence[Any]) -> pa.Array:
    """A text column, each cell neutralised against spreadsheet formulas."""
    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowException, TypeError):
        array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    return _neutralised(array)


def _batch_by_column(rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [
            (_whole if name in _WHOLE_COLUMNS else _text)(values)
            for name, values in zip(EXPORT_COLUMNS, columns, strict=True)
        ],
        names=list(EXPORT_COLUMNS),
    )


# Every event as one Arrow struct: pyarrow converts a whole batch of row tuples in C, where
# transposing them into columns first (`zip(*rows)`) costs as much again in Python.
_ROW = pa.struct(
    [(name, pa.int64() if name in _WHOLE_COLUMNS else pa.string()) for name in EXPORT_COLUMNS]
)


def _batch(rows: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    try:
        converted = pa.RecordBatch.from_struct_array(pa.array(rows, type=_ROW))
    except (pa.ArrowException, TypeError, OverflowError):
        # A value of another type (SQLite stores what it is given), or a row of the wrong
        # length: column by column, as every batch was written before, which writes such a
        # value as text (or refuses the row).
        return _batch_by_column(rows)
    return pa.RecordBatch.from_arrays(
        [
            column if name in _WHOLE_COLUMNS else _neutralised(column)
            for name, column in zip(EXPORT_COLUMNS, converted.columns, strict=True)
        ],
        names=list(EXPORT_COLUMNS),
    )


def iter_csv_rows(rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """The header, one line per event and the `# end of export: rows=N` trailer, in chunks:
    each batch of events becomes an Arrow record batch, written by pyarrow's CSV writer."""
    iterator = iter(rows)
    yield from iter_csv_batches(iter(lambda: list(islice(iterator, CSV_BATCH)), []))


def iter_csv_batches(batches: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
    """`iter_csv_rows` for rows already in batches (`stream_batches`)."""
    yield (",".join(EXPORT_COLUMNS) + "\r\n").encode()
    count = 0
    stops: list[ExportStopped] = []
    for batch in until_stopped(batches, stops):
        count += len(batch)
        sink = io.BytesIO()
        # A writer per batch: a column's type may differ between batches (`_whole`).
        pacsv.write_csv(_batch(batch), sink, _CSV_OPTIONS)
        yield sink.getvalue()
    yield ExportEnd.of(count, stops).csv_line().encode()


def export_filename(fmt: str, flt: AuditFilter, *, prefix: str = "audit") -> str:
    since = flt.since.strftime("%Y%m%d") if flt.since else "start"
    until = flt.until.strftime("%Y%m%d") if flt.until else "now"
    return f"{prefix}-{since}-{until}.{fmt}"
