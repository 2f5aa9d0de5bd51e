"""Streamed CSV and JSON Lines export writers.

This module owns turning an iterable of rows into encoded byte chunks, in
constant memory, for a Flask streaming response (``Response(iter_csv(...))``)
or for writing to a file.  It also owns the *safety* of those exports:

* CSV formula-injection neutralisation (OWASP): a text cell that starts with
  ``=``, ``+``, ``-``, ``@``, tab, CR or LF gets a leading ``'`` so that a
  spreadsheet shows it as text instead of evaluating it.  Genuine numbers
  (``int``, ``float``, ``Decimal``) are written as numbers and left alone.
* The CSV preamble format (see ``docs/decisions/reports-toolkit.md``): zero or
  more ``# ...`` comment lines before the header and, optionally, one
  ``# end of export: rows=N`` line after the last row.
* How an export ends (`ExportEnd`), the same in every format: complete, or
  stopped (its rows raised `ExportStopped`) with why and the rows written before,
  as the CSV's last comment line or JSON Lines' last object.
* JSON serialisation of the types our rows carry (datetime, date, time,
  Decimal, UUID, enums), one object per line, UTF-8, no ASCII escaping.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, islice
from operator import itemgetter
from typing import Any, TypeVar, cast

__all__ = [
    "CHUNK_SIZE",
    "DANGEROUS_PREFIXES",
    "ExportEnd",
    "ExportStopped",
    "chain_head_line",
    "csv_value",
    "iter_csv",
    "iter_jsonl",
    "json_default",
    "neutralise",
    "until_stopped",
]

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV
#: injection guidance).  A frozenset makes ``v[0] in ...`` a hash lookup.
DANGEROUS_PREFIXES = frozenset("=+-@\t\r\n")

#: Bytes buffered before a chunk is yielded.  Yielding per row would cost a
#: generator round trip and a WSGI write per row; 64 KiB keeps memory constant
#: while amortising that overhead.
CHUNK_SIZE = 64 * 1024

_FORBIDDEN_IN_COMMENT = frozenset('\r\n"')
# What a free text (a steward's reason) becomes in a comment line.
_COMMENT_SAFE = str.maketrans({"\r": " ", "\n": " ", '"': "'"})
_END = object()  # sentinel: rows themselves are never compared to None
_HEX = frozenset("0123456789abcdef")
T = TypeVar("T")


class ExportStopped(Exception):
    """Raised by an export's rows when the export may not go on (the reader's access ended
    while it was sent): every writer here ends the file with a line saying so
    (`ExportEnd`), and without the "end of export" line, so the file cannot pass for
    complete."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ExportEnd:
    """How an export ended: complete, or stopped (`stopped` says why) after `rows` rows. Each
    writer says it in its format's last line: the CSV's comment, JSON Lines' object."""

    rows: int
    stopped: str | None = None

    @classmethod
    def of(cls, rows: int, stops: Sequence[ExportStopped]) -> ExportEnd:
        return cls(rows, stops[0].message if stops else None)

    def csv_line(self) -> str:
        """`# export stopped: <why> (rows written: N)` or `# end of export: rows=N`."""
        if self.stopped is None:
            return _comment_line(f"end of export: rows={self.rows}")
        said = self.stopped.translate(_COMMENT_SAFE)
        return _comment_line(f"export stopped: {said} (rows written: {self.rows})")

    def json_record(self) -> dict[str, Any]:
        """`{"export_stopped": <why>, "rows_written": N}`, or `{"end_of_export": true,
        "rows": N}`."""
        if self.stopped is None:
            return {"end_of_export": True, "rows": self.rows}
        return {"export_stopped": self.stopped, "rows_written": self.rows}


def neutralise(text: str) -> str:
    """Return *text* with a leading ``'`` if a spreadsheet would run it."""
    if text and text[0] in DANGEROUS_PREFIXES:
        return "'" + text
    return text


def csv_value(value: object) -> object:
    """Convert one cell for ``csv.writer``: numbers stay numbers, the rest is safe text."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):  # before int: IntEnum is an int too
        return csv_value(value.value)
    if isinstance(value, bool):  # before int: bool is an int; match JSON spelling
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return value  # genuinely numeric: a negative number stays -5
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    # str, UUID and anything else end up as text, so they are neutralised.
    return neutralise(value if isinstance(value, str) else str(value))


_PASS_THROUGH = frozenset({int, float, type(None)})  # csv writes these natively


def _safe_row(values: Iterable[Any]) -> list[Any]:
    # Hot path (12 million cells for a 1M x 12 export): exact type checks in a
    # comprehension avoid a function call per cell for str, int, float and
    # None; anything else goes through csv_value.
    return [
        ("'" + v if v and v[0] in DANGEROUS_PREFIXES else v)
        if type(v) is str
        else (v if type(v) in _PASS_THROUGH else csv_value(v))
        for v in values
    ]


def _comment_line(text: str) -> str:
    # Comment lines are written raw, not through csv.writer, so that tools with
    # a comment option (pandas comment="#", R comment.char) skip them.  Hence no
    # line breaks (would split the line) and no double quotes (could open a
    # quoted field that swallows the header for a plain csv.reader).
    if _FORBIDDEN_IN_COMMENT.intersection(text):
        raise ValueError("CSV preamble lines may not contain CR, LF or '\"'")
    return f"# {text}\r\n"


def chain_head_line(seq: int, sha256: str) -> str:
    """Format the audit chain head for a CSV preamble or a PDF header line."""
    if seq < 0 or len(sha256) != 64 or not _HEX.issuperset(sha256):
        raise ValueError("chain head needs seq >= 0 and a lowercase SHA-256 hex digest")
    return f"audit chain head: seq={seq}, sha256={sha256}"


def _mapping_reader(keys: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
    # itemgetter is the fast path; it returns a bare value for a single key,
    # so one key (or none) takes a tuple comprehension instead.
    getter: Callable[[Mapping[str, Any]], Any] = (
        itemgetter(*keys) if len(keys) > 1 else lambda row: tuple(row[k] for k in keys)
    )

    def read(row: Mapping[str, Any]) -> Sequence[Any]:
        try:
            if len(row) == len(keys):
                return getter(row)  # type: ignore[no-any-return]
        except KeyError:
            pass
        # Slow path: a missing key is written empty (like csv.DictWriter's
        # restval), an unexpected key is a caller bug and raises.
        extra = set(row) - set(keys)
        if extra:
            raise ValueError(f"row has keys not in header: {sorted(extra)}")
        return [row.get(k) for k in keys]

    return read


def _sequence_checker(keys: tuple[str, ...]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    def check(row: Sequence[Any]) -> Sequence[Any]:
        if len(row) != len(keys):
            raise ValueError(f"row has {len(row)} cells, header has {len(keys)}")
        return row

    return check


def iter_csv(
    rows: Iterable[Mapping[str, Any]] | Iterable[Sequence[Any]],
    *,
    header: Sequence[str] | None = None,
    preamble: Iterable[str] = (),
    trailer: bool = False,
    bom: bool = False,
    encoding: str = "utf-8",
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """Yield the CSV export of *rows* as encoded chunks.

    Rows are all mappings (the header defaults to the first row's keys; a
    missing key is written empty, an unexpected key raises ``ValueError``) or
    all sequences (written as given; the header row is written only if given).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if bom:
        buf.write("\ufeff")  # lets Excel detect UTF-8
    for line in preamble:
        buf.write(_comment_line(line))

    rest = iter(rows)
    first = next(rest, _END)
    it: Iterator[Any] = iter(()) if first is _END else chain((first,), rest)
    as_mapping = isinstance(first, Mapping)
    if header is None and as_mapping:
        header = list(cast(Mapping[str, Any], first))
    if header is not None:
        writer.writerow([neutralise(str(h)) for h in header])
    keys = tuple(header or ())
    values: Iterator[Sequence[Any]] = it
    if as_mapping:
        values = map(_mapping_reader(keys), it)
    elif keys:
        values = map(_sequence_checker(keys), it)

    # Rows go to csv.writer in small batches: writerows() runs its loop in C,
    # and a batch of 256 short rows is still constant (tiny) memory.
    count = 0
    stops: list[ExportStopped] = []
    values = until_stopped(values, stops)
    while batch := list(islice(values, 256)):
        writer.writerows(map(_safe_row, batch))
        count += len(batch)
        if buf.tell() >= chunk_size:
            yield buf.getvalue().encode(encoding)
            buf.seek(0)
            buf.truncate()

    end = ExportEnd.of(count, stops)
    if end.stopped is not None or trailer:
        buf.write(end.csv_line())
    if buf.tell():
        yield buf.getvalue().encode(encoding)


def until_stopped(values: Iterable[T], stops: list[ExportStopped]) -> Iterator[T]:
    """The values until the rows' source raises `ExportStopped` (kept in `stops`): every row
    it gave before is written, none after, and the writer ends with `ExportEnd.of(rows,
    stops)`."""
    try:
        yield from values
    except ExportStopped as stopped:
        stops.append(stopped)


def json_default(value: object) -> object:
    """``json.dumps`` hook for the non-JSON types that governance rows carry."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()  # ISO 8601; aware datetimes keep their offset
    if isinstance(value, Decimal):
        return str(value)  # a string keeps every digit; a JSON number may not
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)  # deterministic output
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def iter_jsonl(
    rows: Iterable[Mapping[str, Any]], *, trailer: bool = False, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield *rows* as JSON Lines (one UTF-8 object per line) in encoded chunks. Rows that
    raise `ExportStopped` end with an object saying so (`ExportEnd.json_record`); with
    `trailer`, a complete export ends with one saying that."""
    # allow_nan=False: NaN/Infinity are not JSON and would break strict readers.
    encode = json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, default=json_default, separators=(",", ":")
    ).encode
    parts: list[str] = []
    size = 0
    count = 0
    stops: list[ExportStopped] = []
    for row in until_stopped(rows, stops):
        count += 1
        line = encode(row if isinstance(row, dict) else dict(row))
        parts.append(line)
        parts.append("\n")
        size += len(line) + 1
        if size >= chunk_size:
            yield "".join(parts).encode("utf-8")
            parts.clear()
            size = 0
    end = ExportEnd.of(count, stops)
    if end.stopped is not None or trailer:
        parts.append(encode(end.json_record()) + "\n")
    if parts:
        yield "".join(parts).encode("utf-8")
