"""Filters on row views: parsed from the query string, typed by the dataset's schema.

A filter's column is part of the access decision like any shown column, so nobody can learn
about an ungranted column by filtering on it.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from governance.errors import ValidationFailed
from governance.models.dataset import ColumnType, Dataset

OPERATORS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥",
             "contains": "contains"}
COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
               "gt": operator.gt, "ge": operator.ge}
MAX_FILTERS = 10


@dataclass(frozen=True)
class RowFilter:
    column: str
    op: str
    value: str

    def describe(self) -> dict[str, str]:
        return {"column": self.column, "op": self.op, "value": self.value}


def parse_filters(raw: Sequence[str]) -> list[RowFilter]:
    """Filters written `column:op:value` (the value may contain colons)."""
    if len(raw) > MAX_FILTERS:
        raise ValidationFailed(f"At most {MAX_FILTERS} filters.")
    filters = []
    for text in raw:
        parts = text.split(":", 2)
        if len(parts) != 3 or parts[1] not in OPERATORS or not parts[0]:
            raise ValidationFailed("A filter is written column:operator:value, with operator "
                                   f"one of {', '.join(OPERATORS)}.", {"filter": text[:200]})
        filters.append(RowFilter(column=parts[0], op=parts[1], value=parts[2][:1000]))
    return filters


def _typed(value: str, column_type: ColumnType, column: str) -> Any:
    try:
        if column_type == ColumnType.INTEGER:
            return int(value)
        if column_type == ColumnType.FLOAT:
            return float(value)
        if column_type == ColumnType.DATE:
            return pd.Timestamp(dt.date.fromisoformat(value))
        if column_type == ColumnType.BOOLEAN:
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError) as exc:
        raise ValidationFailed(f"{value!r} is not a valid {column_type} for {column}.",
                               {"filter": column}) from exc
    return value


def apply_filters(frame: pd.DataFrame, filters: Sequence[RowFilter],
                  dataset: Dataset) -> pd.DataFrame:
    for row_filter in filters:
        declared = dataset.column(row_filter.column)
        if declared is None:  # the decision already refused unknown columns
            raise ValidationFailed(f"Unknown column {row_filter.column!r}.")
        series = frame[row_filter.column]
        if row_filter.op == "contains":
            mask = series.astype("string").str.contains(row_filter.value, regex=False,
                                                        case=False, na=False)
        else:
            value = _typed(row_filter.value, ColumnType(declared.type), row_filter.column)
            if declared.type == ColumnType.DATE:
                series = pd.to_datetime(series)
            mask = COMPARISONS[row_filter.op](series, value)
        frame = frame[mask.fillna(False).astype(bool)]
    return frame
