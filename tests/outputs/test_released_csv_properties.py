"""Properties of the comparison of an uploaded CSV with the released figures (hypothesis):
however the released CSV is written it passes, any one changed cell is refused and named, and
whatever else an uploader sends either is refused or carries exactly the released figures."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from governance.kernel.errors import ValidationFailed
from governance.outputs.content import VALUE_KEYS, check_result
from governance.outputs.released_csv import check_csv_upload, csv_of

DIMENSIONS = ("group", "sex", "age band")
# Labels as spreadsheets meet them: separators, quotes, line breaks, formula prefixes, a BOM.
AWKWARD = ("=1+1", "-5 to 0", "a,b", 'say "hi"', "x\r\ny", "\ufeffx", " padded ", "")
LABELS = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=10))
# Changed numbers as an uploader might smuggle them: smaller, with units, separators, formulas.
SMUGGLED = (
    "1",
    "9",
    "1 person",
    "4,800",
    " 120",
    "+120",
    "=120",
    "120\ufeff",
    "1e1",
    "nan",
    "inf",
    "0x78",
    "",
)


@st.composite
def results(draw: st.DrawFn) -> dict[str, Any]:
    dimensions = draw(st.lists(st.sampled_from(DIMENSIONS), max_size=3, unique=True))
    tables = []
    for t in range(draw(st.integers(1, 3))):
        cells = []
        for c in range(draw(st.integers(1, 4))):
            suppressed = draw(st.booleans())
            values: dict[str, Any] = {"count": None}
            if not suppressed:
                count = draw(st.integers(20, 10**9))
                values = {"count": count}
                if draw(st.booleans()):
                    events = draw(st.integers(10, count - 10))
                    values.update(events=events, rate=events / count)
                if draw(st.booleans()):
                    values["mean"] = draw(st.floats(-1e9, 1e9, allow_nan=False))
            cells.append(
                {
                    "id": f"t{t}/{c}",
                    "labels": {d: draw(LABELS) for d in dimensions},
                    "suppressed": suppressed,
                    "values": values,
                }
            )
        tables.append(
            {"id": f"t{t}", "title": "T", "dimensions": dimensions, "measure": "n", "cells": cells}
        )
    result = {"tables": tables}
    check_result(result, min_cell_size=10)
    return result


def rows_of(result: dict[str, Any]) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_of(result).decode(), newline="")))


def written(rows: list[list[str]], *, terminator: str = "\r\n", quote_all: bool = False) -> str:
    out = io.StringIO()
    # Python's writer leaves a lone CR unquoted when the line ends in LF: quote such files whole.
    breaks = any("\r" in field or "\n" in field for row in rows for field in row)
    quoting = csv.QUOTE_ALL if quote_all or breaks else csv.QUOTE_MINIMAL
    csv.writer(out, lineterminator=terminator, quoting=quoting).writerows(rows)
    return out.getvalue()


def numeric_columns(header: list[str]) -> range:
    return range(len(header) - 1 - len(VALUE_KEYS), len(header) - 1)


def refusal(data: bytes, result: dict[str, Any]) -> str | None:
    try:
        check_csv_upload(data, result)
    except ValidationFailed as refused:
        fields = refused.fields
    else:
        return None
    assert set(fields) == {"csv"}
    return fields["csv"]


@given(
    result=results(),
    terminator=st.sampled_from(["\r\n", "\n", "\r"]),
    quote_all=st.booleans(),
    bom=st.booleans(),
)
def test_the_released_csv_passes_however_it_is_written(
    result: dict[str, Any], terminator: str, quote_all: bool, bom: bool
) -> None:
    text = written(rows_of(result), terminator=terminator, quote_all=quote_all)
    assert refusal((("\ufeff" if bom else "") + text).encode(), result) is None


def respelled(value: str, how: int) -> str:
    """The same number in other plain notation: as is, in E notation, with a leading zero, or
    with a trailing zero."""
    sign, digits = ("-", value[1:]) if value.startswith("-") else ("", value)
    longer = value if "e" in value.lower() else value + ("0" if "." in value else ".0")
    return [value, f"{Decimal(value):E}", f"{sign}0{digits}", longer][how]


@given(result=results(), how=st.integers(0, 3))
def test_numbers_equal_as_numbers_pass(result: dict[str, Any], how: int) -> None:
    rows = rows_of(result)
    numeric = numeric_columns(rows[0])
    for row in rows[1:]:
        for column in numeric:
            if row[column]:
                row[column] = respelled(row[column], how)
    assert refusal(written(rows).encode(), result) is None


@given(result=results(), data=st.data())
def test_any_changed_cell_is_refused_and_named(result: dict[str, Any], data: st.DataObject) -> None:
    rows = rows_of(result)
    header = list(rows[0])
    line = data.draw(st.integers(1, len(rows)), label="line")
    column = data.draw(st.integers(1, len(rows[0])), label="column")
    old = rows[line - 1][column - 1]
    if line > 1 and column - 1 in numeric_columns(rows[0]):
        new = data.draw(
            st.one_of(st.sampled_from(SMUGGLED), st.integers(0, 10**9).map(str)), label="new"
        )
        assume(new != old)
        assume(not (old and new.strip() == new and _equal(new, old)))
    else:
        new = data.draw(st.one_of(st.sampled_from(AWKWARD), st.text(max_size=10)), label="new")
        assume(new != old)
    assume(not (line == 1 and column == 1 and new == "\ufeff" + old))
    rows[line - 1][column - 1] = new
    message = refusal(written(rows).encode(), result)
    assert message is not None
    assert message.startswith(f"CSV line {line}, column {column} ({header[column - 1]})")


def _equal(new: str, old: str) -> bool:
    try:
        return Decimal(new) == Decimal(old)
    except ArithmeticError:
        return False


@settings(max_examples=300)
@given(
    result=results(), edits=st.lists(st.tuples(st.integers(0), st.binary(max_size=3)), max_size=4)
)
def test_whatever_is_sent_is_refused_or_carries_exactly_the_figures(
    result: dict[str, Any], edits: list[tuple[int, bytes]]
) -> None:
    """Random byte edits of the released CSV: an edit that passes changed only its spelling
    (read back independently, every value is the released one)."""
    data = bytearray(csv_of(result))
    for position, replacement in edits:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    if refusal(bytes(data), result) is not None:
        return
    text = bytes(data).decode("utf-8").removeprefix("\ufeff")
    found = list(csv.DictReader(io.StringIO(text, newline="")))
    cells = [(t["id"], c) for t in result["tables"] for c in t["cells"]]
    assert len(found) == len(cells)
    for row, (table, cell) in zip(found, cells, strict=True):
        assert (row["table"], row["cell"]) == (table, cell["id"])
        assert row["suppressed"] == ("yes" if cell["suppressed"] else "no")
        for key in VALUE_KEYS:
            value = cell["values"].get(key)
            assert (row[key] == "") if value is None else float(row[key]) == value


@given(st.binary(max_size=300), results())
def test_arbitrary_bytes_are_refused_with_a_reason(data: bytes, result: dict[str, Any]) -> None:
    message = refusal(data, result)
    assert message is not None
    assert message
