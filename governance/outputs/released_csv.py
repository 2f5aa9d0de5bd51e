"""The CSV released with an output: made from its checked result, one row per cell, and the
comparison that refuses an uploaded CSV saying anything else.

The released CSV is never an upload. A CSV sent with a correction is compared with the one made
from the result and is then discarded; it is refused (422) at the first line or cell that
differs, so whoever sent it learns that what they meant to release is not what would be.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from decimal import Decimal
from itertools import zip_longest
from typing import Any

from governance.kernel.reports.tabular import iter_csv
from governance.outputs.content import VALUE_KEYS, refuse

# A number as an uploaded CSV may write it: plain decimal notation, as `csv_of` does. No plus
# sign, unit, thousands separator, space or formula: each of those is a way to smuggle a figure
# past a comparison that reads numbers leniently.
PLAIN_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
# Where the value columns (VALUE_KEYS) sit in `csv_of`: before the final "suppressed".
_VALUE_COLUMNS = slice(-1 - len(VALUE_KEYS), -1)


def csv_of(result: Mapping[str, Any]) -> bytes:
    """The released figures as one long CSV (a suppressed figure is blank, marked so): the only
    CSV an output carries."""
    dimensions = list(dict.fromkeys(d for t in result["tables"] for d in t["dimensions"]))
    header = ["table", "cell", *dimensions, *VALUE_KEYS, "suppressed"]
    rows = [
        [
            t["id"],
            c["id"],
            *[c["labels"].get(d, "") for d in dimensions],
            *[c["values"].get(k) for k in VALUE_KEYS],
            "yes" if c["suppressed"] else "no",
        ]
        for t in result["tables"]
        for c in t["cells"]
    ]
    return b"".join(iter_csv(rows, header=header))


def check_csv_upload(data: bytes, result: Mapping[str, Any]) -> None:
    """Refuse an uploaded CSV unless it says exactly what `csv_of(result)` says: the same
    header, the same rows in the same order, the value columns equal as numbers (a suppressed
    or absent value blank), every other column equal as text. The upload is never stored (the
    released CSV is made from the result); refusing a different one tells its sender that what
    they meant to release is not what would be released. Names the first difference."""
    header, *expected = _rows(csv_of(result).decode("utf-8"))
    found = _uploaded_rows(data)
    numeric = set(range(*_VALUE_COLUMNS.indices(len(header))))
    if found[0] != header:
        _refuse_difference(1, header, found[0], header, numeric=set(), where="the header")
    for line, (want, got) in enumerate(zip_longest(expected, found[1:]), start=2):
        if got is None:
            raise refuse(
                "csv",
                f"the CSV ends at line {line - 1}, but the result has {len(expected)} cells: "
                f"line {line} should be cell {want[1]}.",
            )
        if want is None:
            raise refuse(
                "csv",
                f"CSV line {line} is not one of the released figures: the result has "
                f"{len(expected)} cells, so the CSV has {len(expected) + 1} lines.",
            )
        _refuse_difference(line, want, got, header, numeric=numeric, where=f"cell {want[1]}")


def _refuse_difference(
    line: int, want: list[str], got: list[str], header: list[str], *, numeric: set[int], where: str
) -> None:
    if len(got) != len(want):
        raise refuse(
            "csv",
            f"CSV line {line} ({where}) has {len(got)} columns; the released figures have "
            f"{len(want)}: {', '.join(header)}.",
        )
    for column, (expected, value) in enumerate(zip(want, got, strict=True)):
        same = _same_number(expected, value) if column in numeric else value == expected
        if not same:
            raise refuse(
                "csv",
                f"CSV line {line}, column {column + 1} ({header[column]}) of {where}: "
                f"expected {_shown(expected)}, found {_shown(value)}.",
            )


def _same_number(expected: str, value: str) -> bool:
    if expected == "":
        return value == ""
    return PLAIN_NUMBER.fullmatch(value) is not None and Decimal(value) == Decimal(expected)


def _shown(value: str) -> str:
    if value == "":
        return "a blank"
    return repr(value[:60]) + ("…" if len(value) > 60 else "")


def _rows(data: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data, newline=""), strict=True))


def _uploaded_rows(data: bytes) -> list[list[str]]:
    if not isinstance(data, bytes) or not data:
        raise refuse("csv", "the CSV file is empty.")
    try:
        # A spreadsheet's UTF-8 byte-order mark is not part of the first column's name.
        text = data.decode("utf-8").removeprefix("\ufeff")
        rows = _rows(text)
    except UnicodeDecodeError as exc:
        raise refuse("csv", "the CSV file is not UTF-8 text.") from exc
    except csv.Error as exc:
        raise refuse("csv", f"the CSV file is not well-formed CSV ({exc}).") from exc
    if not rows:
        raise refuse("csv", "the CSV file has no header.")
    return rows
