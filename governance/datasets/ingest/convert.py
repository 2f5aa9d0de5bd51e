"""Checking and converting one column of a batch to its declared type, vectorised with Arrow.

Text (every CSV cell, and text columns of Parquet files or frames) is parsed by these rules,
which docs/datasets.md repeats for data providers:

* integer: optional sign and digits only (`12`, `-3`, `+7`); no decimals, separators or spaces
  inside; within 64-bit range.
* float: a decimal number, optionally with an exponent (`3.5`, `-.25`, `1e6`); `nan` and `inf`
  are refused.
* boolean: `true`/`false`, `yes`/`no`, `1`/`0`, in any letter case.
* date: ISO 8601 `YYYY-MM-DD` only, a real calendar date (`2023-02-30` is refused); other
  layouts such as `03/04/2021` are ambiguous between countries, so they are refused.
* string and category: kept exactly as given, including cells starting with `=`, `+`, `-` or
  `@` (formula-like cells are data; the CSV exporter neutralises them on the way out).

Surrounding spaces are ignored for numbers, booleans and dates. An empty cell is a missing
value, allowed only in optional columns. Typed Parquet/frame columns are accepted when their
Arrow type holds the declared type without loss (any integer width for integer; integers or
floats for float; date or a midnight timestamp for date; text for string and category).
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from governance.datasets.datastore.parquet import ARROW_TYPES, DeclaredColumn
from governance.datasets.ingest.problems import IngestLimits, Problem, ProblemLog
from governance.datasets.models import ColumnType

INT64_MAX = 2**63 - 1
TRUE_WORDS = pa.array(["true", "yes", "1"])
FALSE_WORDS = pa.array(["false", "no", "0"])
SHOWN_CHARS = 40

EXPECTED = {
    ColumnType.INTEGER: "expected integer",
    ColumnType.FLOAT: "expected a number",
    ColumnType.BOOLEAN: "expected true/false (or yes/no, 1/0)",
    ColumnType.DATE: "expected a date as YYYY-MM-DD",
    ColumnType.STRING: "expected text",
    ColumnType.CATEGORY: "expected text",
}
Parsed = tuple[pa.Array, pa.Array]  # (parsed correctly?, typed values)


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…")


class ColumnChecker:
    """Checks one declared column across the batches of one upload."""

    def __init__(
        self,
        column: DeclaredColumn,
        position: int,
        limits: IngestLimits,
        problems: ProblemLog,
        *,
        header_row: bool,
    ) -> None:
        self.column = column
        self.type = ColumnType(column.type)
        self.position = position
        self.limits = limits
        self.problems = problems
        self.header_row = header_row

    def _location(self, row: int) -> str:
        return f"row {row}, column {self.column.name}"

    def _report(self, mask: pa.Array, rows: pa.Array, message: Callable[[int], str]) -> None:
        """Record a problem for each row where `mask` is true (itemising the first few)."""
        indices = pc.indices_nonzero(pc.fill_null(mask, False))
        found = len(indices)
        if not found:
            return
        shown = indices.slice(0, self.limits.max_problems).to_pylist()
        row_numbers = rows.take(pa.array(shown)).to_pylist()
        for index, row in zip(shown, row_numbers, strict=True):
            self.problems.add(Problem(row, self.position, self._location(row), message(index)))
        self.problems.counted(found - len(shown))

    def _check_size(self, text: pa.Array, rows: pa.Array) -> None:
        limit = self.limits.max_field_bytes
        lengths = pc.binary_length(text)
        self._report(
            pc.greater(lengths, limit),
            rows,
            lambda i: (
                f"the value is {lengths[i].as_py():,} bytes; a cell may hold at most "
                f"{limit // 1024} KB"
            ),
        )

    def from_text(self, text: pa.Array, rows: pa.Array) -> pa.Array:
        """Parse text cells ('' is empty; nulls are treated as empty) to the declared type."""
        text = pc.fill_null(text, "")
        self._check_size(text, rows)
        if self.type in (ColumnType.STRING, ColumnType.CATEGORY):
            empty = pc.equal(text, "")
            typed = text
        else:
            trimmed = pc.utf8_trim_whitespace(text)
            empty = pc.equal(trimmed, "")
            ok, typed = PARSERS[self.type](trimmed)
            expected = EXPECTED[self.type]
            self._report(
                pc.and_(pc.invert(ok), pc.invert(empty)),
                rows,
                lambda i: f"{expected}, got {_shown(text[i].as_py())}",
            )
        return self._finish(typed, empty, rows)

    def from_typed(self, values: pa.Array, rows: pa.Array) -> pa.Array:
        """Convert a typed column (Parquet, frame) already checked by `compatible`."""
        kind = values.type
        if _is_text(kind) or pa.types.is_null(kind):
            return self.from_text(pc.cast(values, pa.string()), rows)
        missing = pc.is_null(values, nan_is_null=True)
        if self.type == ColumnType.INTEGER:
            if pa.types.is_uint64(kind):
                self._report(
                    pc.greater(values, INT64_MAX),
                    rows,
                    lambda i: f"expected integer, got {values[i].as_py()} (too large)",
                )
                values = pc.if_else(pc.greater(values, INT64_MAX), None, values)
            typed = pc.cast(values, pa.int64())
        elif self.type == ColumnType.FLOAT:
            typed = pc.cast(values, pa.float64(), safe=False)
            infinite = pc.and_(pc.invert(missing), pc.invert(pc.is_finite(typed)))
            self._report(
                infinite, rows, lambda i: f"expected a finite number, got {typed[i].as_py()}"
            )
            typed = pc.if_else(pc.fill_null(infinite, False), None, typed)
        elif self.type == ColumnType.DATE and pa.types.is_timestamp(kind):
            timed = pc.not_equal(pc.floor_temporal(values, unit="day"), values)
            self._report(
                timed, rows, lambda i: f"expected a date, got the date and time {values[i].as_py()}"
            )
            typed = pc.if_else(pc.fill_null(timed, False), None, pc.cast(values, pa.date32()))
        else:
            typed = pc.cast(values, ARROW_TYPES[self.type])
        return self._finish(typed, missing, rows)

    def _finish(self, typed: pa.Array, empty: pa.Array, rows: pa.Array) -> pa.Array:
        if self.column.required:
            self._report(empty, rows, lambda i: "a value is required, but the cell is empty")
        typed = pc.if_else(empty, pa.scalar(None, typed.type), typed)
        if self.type == ColumnType.CATEGORY:
            return pc.dictionary_encode(typed).cast(ARROW_TYPES[ColumnType.CATEGORY])
        return typed


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_text(kind.value_type)
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def compatible(kind: pa.DataType, declared: ColumnType) -> bool:
    """Whether a typed (Parquet or frame) column can hold values of the declared type."""
    if _is_text(kind) or pa.types.is_null(kind):
        return True  # text is parsed like CSV cells; an all-null column is all empty cells
    if declared == ColumnType.INTEGER:
        return bool(pa.types.is_integer(kind))
    if declared == ColumnType.FLOAT:
        return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))
    if declared == ColumnType.BOOLEAN:
        return bool(pa.types.is_boolean(kind))
    if declared == ColumnType.DATE:
        return bool(pa.types.is_date(kind) or (pa.types.is_timestamp(kind) and kind.tz is None))
    return False


def _regex(values: pa.Array, pattern: str) -> pa.Array:
    return pc.match_substring_regex(values, pattern)


def _parse_integer(text: pa.Array) -> Parsed:
    unsigned = pc.replace_substring_regex(text, r"^\+", "")
    ok = _regex(text, r"^[+-]?[0-9]{1,18}$")
    typed = pc.cast(pc.if_else(ok, unsigned, "0"), pa.int64())
    long = pc.indices_nonzero(_regex(text, r"^[+-]?[0-9]{19,}$")).to_pylist()
    if long:  # 19+ digits: rare, so checked one by one against the 64-bit range
        ok_list, typed_list = ok.to_pylist(), typed.to_pylist()
        for index in long:
            number = int(text[index].as_py())
            if -INT64_MAX - 1 <= number <= INT64_MAX:
                ok_list[index], typed_list[index] = True, number
        ok, typed = pa.array(ok_list, pa.bool_()), pa.array(typed_list, pa.int64())
    return ok, pc.if_else(ok, typed, pa.scalar(None, pa.int64()))


def _parse_float(text: pa.Array) -> Parsed:
    ok = _regex(text, r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
    cleaned = pc.if_else(ok, pc.replace_substring_regex(text, r"^\+", ""), "0")
    typed = pc.cast(cleaned, pa.float64())
    ok = pc.and_(ok, pc.is_finite(typed))
    return ok, pc.if_else(ok, typed, pa.scalar(None, pa.float64()))


def _parse_boolean(text: pa.Array) -> Parsed:
    lower = pc.utf8_lower(text)
    true = pc.is_in(lower, value_set=TRUE_WORDS)
    ok = pc.or_(true, pc.is_in(lower, value_set=FALSE_WORDS))
    return ok, pc.if_else(ok, true, pa.scalar(None, pa.bool_()))


def _parse_date(text: pa.Array) -> Parsed:
    shaped = pc.and_(
        _regex(text, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), pc.invert(pc.starts_with(text, "0000"))
    )
    cleaned = pc.if_else(shaped, text, "1970-01-01")
    moments = pc.strptime(cleaned, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2023-02-30 over to 2023-03-02; formatting back catches that.
    same = pc.equal(pc.strftime(moments, format="%Y-%m-%d"), cleaned)
    ok = pc.and_(shaped, pc.fill_null(same, False))
    return ok, pc.if_else(ok, pc.cast(moments, pa.date32()), pa.scalar(None, pa.date32()))


PARSERS: dict[ColumnType, Callable[[pa.Array], Parsed]] = {
    ColumnType.INTEGER: _parse_integer,
    ColumnType.FLOAT: _parse_float,
    ColumnType.BOOLEAN: _parse_boolean,
    ColumnType.DATE: _parse_date,
}
