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
    page, size, sort, direction = page_arguments(default_sort, sorts, per_page, default_direction)
    column = sorts[sort]
    ordered = statement.order_by(column.desc() if direction == "desc" else column.asc())
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    query = ordered.limit(size).offset((page - 1) * size)
    # Typed as Any: mypy 2.4 crashes expanding SQLAlchemy 2.1's variadic Result generics.
    result: Any = session.scalars(query) if scalars else session.execute(query)
    items = list(result)
    return Page(
        items=items, page=page, per_page=size, total=total or 0, sort=sort, direction=direction
    )
