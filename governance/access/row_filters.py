"""Filters on row views: parsed from the query string, typed by the dataset's schema.

A filter's column is part of the access decision like any shown column, so nobody can learn
about an ungranted column by filtering on it. Once the decision allowed the columns, each
filter is checked against its column's declared type before any data is read: an operator the
type does not support (ordering a category or text, a substring of a number) or a value that is
not of the column's type is refused (422) and the refusal recorded, never left to fail inside
pandas after the read.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from governance.datasets.models import ColumnType
from governance.kernel.errors import ValidationFailed

OPERATORS = {
    "eq": "=",
    "ne": "≠",
    "lt": "<",
    "le": "≤",
    "gt": ">",
    "ge": "≥",
    "contains": "contains",
}
COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
MAX_FILTERS = 10
EQUALITY = ("eq", "ne")
ORDERING = ("lt", "le", "gt", "ge")
# Which operators mean something for each declared type. Text and categories have no order a
# reader could rely on (a category's levels are names), so they are matched, not ordered.
OPERATORS_BY_TYPE: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.STRING: (*EQUALITY, "contains"),
    ColumnType.CATEGORY: (*EQUALITY, "contains"),
    ColumnType.BOOLEAN: EQUALITY,
    ColumnType.INTEGER: (*EQUALITY, *ORDERING),
    ColumnType.FLOAT: (*EQUALITY, *ORDERING),
    ColumnType.DATE: (*EQUALITY, *ORDERING),
}
VALUE_HINTS = {
    ColumnType.INTEGER: "a whole number",
    ColumnType.FLOAT: "a number",
    ColumnType.DATE: "a date written YYYY-MM-DD",
    ColumnType.BOOLEAN: "true or false",
}


@dataclass(frozen=True)
class RowFilter:
    column: str
    op: str
    value: str

    def describe(self) -> dict[str, str]:
        return {"column": self.column, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class CheckedFilter:
    """A filter whose operator suits its column's type, with its value of that type."""

    column: str
    op: str
    value: Any
    column_type: ColumnType


def parse_filters(raw: Sequence[str]) -> list[RowFilter]:
    """Filters written `column:op:value` (the value may contain colons)."""
    if len(raw) > MAX_FILTERS:
        raise ValidationFailed(f"At most {MAX_FILTERS} filters.", {"filter": "Too many."})
    filters = []
    for text in raw:
        parts = text.split(":", 2)
        if len(parts) != 3 or parts[1] not in OPERATORS or not parts[0]:
            raise ValidationFailed(
                "A filter is written column:operator:value, with operator "
                f"one of {', '.join(OPERATORS)}.",
                {"filter": text[:200]},
            )
        filters.append(RowFilter(column=parts[0], op=parts[1], value=parts[2][:1000]))
    return filters


class _Declared(Protocol):
    @property
    def type(self) -> str: ...


class DeclaredColumns(Protocol):
    """A dataset's declared columns by name (the door's `DoorDataset`)."""

    def column(self, name: str) -> _Declared | None: ...


def check_filters(filters: Sequence[RowFilter], dataset: DeclaredColumns) -> list[CheckedFilter]:
    """Each filter against its column's declared type; 422 naming every filter that does not
    fit. Runs after the access decision (which refused ungranted and unknown columns)."""
    checked: list[CheckedFilter] = []
    problems: dict[str, str] = {}
    for row_filter in filters:
        declared = dataset.column(row_filter.column)
        if declared is None:
            problems[row_filter.column] = "not a column of this dataset"
            continue
        column_type = ColumnType(declared.type)
        allowed = OPERATORS_BY_TYPE[column_type]
        if row_filter.op not in allowed:
            problems[row_filter.column] = (
                f"{row_filter.column} is a {column_type} column: filter it with "
                f"{', '.join(allowed)}, not {row_filter.op}"
            )
            continue
        try:
            value = (
                row_filter.value
                if row_filter.op == "contains"
                else _typed(row_filter.value, column_type)
            )
        except (ValueError, KeyError, OverflowError):
            problems[row_filter.column] = (
                f"{row_filter.value[:100]!r} is not {VALUE_HINTS[column_type]}, which "
                f"{row_filter.column} ({column_type}) needs"
            )
            continue
        checked.append(CheckedFilter(row_filter.column, row_filter.op, value, column_type))
    if problems:
        raise ValidationFailed(
            "Some filters do not fit their columns; nothing was read: "
            + "; ".join(problems.values())
            + ".",
            problems,
        )
    return checked


def _typed(value: str, column_type: ColumnType) -> Any:
    if column_type == ColumnType.INTEGER:
        return int(value)
    if column_type == ColumnType.FLOAT:
        return float(value)
    if column_type == ColumnType.DATE:
        return pd.Timestamp(dt.date.fromisoformat(value))
    if column_type == ColumnType.BOOLEAN:
        return {"true": True, "false": False}[value.strip().lower()]
    return value


def apply_filters(frame: pd.DataFrame, filters: Sequence[CheckedFilter]) -> pd.DataFrame:
    for checked in filters:
        series = frame[checked.column]
        if checked.op == "contains":
            mask = series.astype("string").str.contains(
                checked.value, regex=False, case=False, na=False
            )
        else:
            if checked.column_type == ColumnType.DATE:
                series = pd.to_datetime(series, errors="coerce")
            elif checked.column_type == ColumnType.CATEGORY:
                series = series.astype("string")
            mask = COMPARISONS[checked.op](series, checked.value)
            if checked.column_type == ColumnType.INTEGER and checked.op == "ne":
                # An integer column with gaps is pandas' nullable type, whose comparisons
                # give NA for a gap; a gap is "not equal" to the value, as it always was
                # (and is for numbers, dates and booleans).
                mask = mask.fillna(True)
        frame = frame[mask.fillna(False).astype(bool)]
    return frame
