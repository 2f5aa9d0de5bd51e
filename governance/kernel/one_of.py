"""`column IN (the values of one parameter)`, in the form each database answers cheapest.

A statement built once with `column.in_(bindparam(name, expanding=True))` is rendered again at
every execution with a placeholder per value: the audit search names a page's 30 to 75 people,
agreements and datasets, so on PostgreSQL SQLAlchemy wrote a new statement text of several kB
each time, psycopg split it into its own placeholders again (its cache keeps only shorter
texts) and, the text changing with the number of values, the server parsed and planned it
afresh instead of using a prepared statement. On PostgreSQL `one_of` is
`column = ANY(:name)` with the values as one array parameter: one text, split once, prepared
after its fifth use. Elsewhere (SQLite has no arrays) it is the expanding IN, as before. The
rows are the same: `x = ANY(array)` is true for exactly the x in the array, and neither form
matches a NULL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal

# A mapped attribute (`User.id`) or any column expression (`func.lower(User.email)`).
Column = ColumnElement[Any] | QueryableAttribute[Any]


class OneOf(ColumnElement[bool]):
    """`column IN (values)`, the values given at execution as the parameter `name` (a list)."""

    inherit_cache = True
    type = Boolean()
    # A comparison: in a WHERE clause it stands as it is (not as `(...) = 1` where the database
    # has no boolean type, which SQLite's planner would not match to an index).
    _is_implicitly_boolean = True
    _traverse_internals = [
        ("expanding", InternalTraversal.dp_clauseelement),
        ("array", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Column, name: str, item_type: TypeEngine[Any] | None) -> None:
        element = column.__clause_element__() if isinstance(column, QueryableAttribute) else column
        self.expanding = element.in_(bindparam(name, expanding=True))
        self.array = element == any_(bindparam(name, type_=ARRAY(item_type or element.type)))


def one_of(column: Column, name: str, item_type: TypeEngine[Any] | None = None) -> OneOf:
    """`column IN (:name)`; `item_type` where the column's own type is not known (a SQL
    function's result)."""
    return OneOf(column, name, item_type)


@compiles(OneOf)
def _expanding(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.expanding, **kw)


@compiles(OneOf, "postgresql")
def _array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.array, **kw)
