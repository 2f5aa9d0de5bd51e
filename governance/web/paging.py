"""Server-side paging and sorting for every table, so pages stay fast on large tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from governance.kernel.errors import ValidationFailed

T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]
MAX_PER_PAGE = 200
#: Fix (issue 9, tests/reliability/test_hostile_input.py): an unbounded ?page overflowed the
#: database's OFFSET (SQLite: OverflowError; PostgreSQL: bigint out of range), a 500. The
#: bound is the API's own (`page` is 1..1,000,000 there).
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    per_page: int
    total: int
    sort: str
    direction: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_arguments(
    default_sort: str, sorts: Mapping[str, Any], per_page: int = 25, default_direction: str = "asc"
) -> tuple[int, int, str, str]:
    """Read ?page, ?per_page, ?sort and ?dir, refusing values the table does not offer."""
    try:
        page = max(1, int(request.args.get("page", "1")))
        size = min(MAX_PER_PAGE, max(1, int(request.args.get("per_page", str(per_page)))))
    except ValueError as exc:
        raise ValidationFailed("page and per_page must be whole numbers.") from exc
    if page > MAX_PAGE:
        raise ValidationFailed(
            f"page must be from 1 to {MAX_PAGE:,}.", {"page": f"At most {MAX_PAGE:,}."}
        )
    sort = request.args.get("sort", default_sort)
    if sort not in sorts:
        raise ValidationFailed(
            f"Cannot sort by {sort!r}.", {"sort": f"One of: {', '.join(sorts)}."}
        )
    direction = request.args.get("dir", default_direction)
    if direction not in {"asc", "desc"}:
        raise ValidationFailed("dir must be asc or desc.")
    return page, size, sort, direction


# Every row the statement keeps, whichever page is shown (paginate).
_TOTAL = func.count().over().label("rows_in_all")


def paginate(
    session: Session,
    statement: AnySelect,
    *,
    sorts: Mapping[str, Any],
    default_sort: str,
    per_page: int = 25,
    scalars: bool = True,
    default_direction: str = "asc",
) -> Page[Any]:
    """One page of `statement`'s rows (its first column's values when `scalars`, else each
    row's columns as a tuple), with how many rows there are in all.

    The total comes with the page, from `count(*) OVER ()` in the same statement: a window
    over every row the filter keeps, counted before LIMIT and OFFSET (after any GROUP BY; a
    DISTINCT statement would be counted before its DISTINCT, and no listing is one). Every
    listing is viewed far more often than it changes, and a statement saved is a round trip
    and, on PostgreSQL, a parse and plan less per view. Only a page past the end, which has no
    row to carry the total, asks for the count on its own."""
    page, size, sort, direction = page_arguments(default_sort, sorts, per_page, default_direction)
    column = sorts[sort]
    ordered = statement.order_by(column.desc() if direction == "desc" else column.asc())
    query = ordered.add_columns(_TOTAL).limit(size).offset((page - 1) * size)
    rows = session.execute(query).all()
    if rows:
        total = rows[0][-1]
    elif page == 1:
        total = 0
    else:
        counted = select(func.count()).select_from(statement.order_by(None).subquery())
        total = session.scalar(counted) or 0
    items = [row[0] for row in rows] if scalars else [row[:-1] for row in rows]
    return Page(items=items, page=page, per_page=size, total=total, sort=sort, direction=direction)
