"""Stable JSON shapes shared by the endpoints: times, paged lists, and values read from data.

Times are ISO 8601 in UTC with a `Z`; dates are `YYYY-MM-DD`; enums are their string values.
Lists come in one of two shapes, each declared once in the document: `Page` (`items`, `page`,
`per_page`, `pages`, `total`) for tables sorted on the server, and `CursorPage` (`items`,
`next`) for the audit trail, which is paged by keyset because it grows without end.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from governance.api.schema import Schema, integer, shape
from governance.web.paging import Page

T = TypeVar("T")


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def page_body(page: Page[Any], items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {
        "items": list(items),
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
        "total": page.total,
    }


def paged(page: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return page_body(page, (render(item) for item in page.items))


def page_schema(item: Schema) -> Schema:
    return shape(
        {
            "items": {"type": "array", "items": item},
            "page": integer(1),
            "per_page": integer(1),
            "pages": integer(1),
            "total": integer(0),
        }
    )


#: Cell types JSON carries as they are (exact types: a numpy integer or a bool subclass is not).
_AS_THEY_ARE = frozenset({str, int, bool, type(None)})


def json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of data as JSON (`json_value` of each cell): only the columns holding some value
    JSON cannot carry as it is (a date, a float that may be NaN) are converted, so a page of
    text and integers goes out as it was read, without a new dict and a call per cell."""
    if not rows:
        return rows
    converted = [
        name for name in rows[0] if any(type(row[name]) not in _AS_THEY_ARE for row in rows)
    ]
    if not converted:
        return rows
    return [row | {name: json_value(row[name]) for name in converted} for row in rows]


def json_value(value: Any) -> Any:
    """A cell of dataset rows as JSON: dates as ISO text, numbers as numbers, gaps as null."""
    if value is None:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return iso(value) if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return str(value.isoformat())
    if hasattr(value, "item"):  # numpy scalars
        return json_value(value.item())
    return str(value)
