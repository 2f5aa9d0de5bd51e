"""An operation's query strings, typed once and kept (api/operations.py `KeptQueries`): the same
query string gives the same values every time, a refused one is refused every time, and what
one request does with its values never reaches the next."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from governance.api import schema as s
from governance.api.operations import KeptQueries, Param
from governance.kernel.errors import ValidationFailed

PARAMS = (
    Param("columns", s.array(s.text(10, min_length=1)), many=True),
    Param("page", s.integer(1, 10)),
    Param("since", s.date()),
)


def _read(app: Flask, queries: KeptQueries, query: str) -> dict[str, object]:
    with app.test_request_context(f"/?{query}"):
        return queries.read()


def test_the_same_query_string_gives_the_same_values_whatever_a_request_did_with_them(
    app: Flask,
) -> None:
    queries = KeptQueries(PARAMS)
    first = _read(app, queries, "columns=sex&columns=age&page=2&since=2026-01-31")
    assert first == {"columns": ["sex", "age"], "page": 2, "since": dt.date(2026, 1, 31)}
    first["columns"].append("name")  # type: ignore[attr-defined]
    first["page"] = 3
    again = _read(app, queries, "columns=sex&columns=age&page=2&since=2026-01-31")
    assert again == {"columns": ["sex", "age"], "page": 2, "since": dt.date(2026, 1, 31)}
    assert _read(app, queries, "columns=age&page=2") == {"columns": ["age"], "page": 2}


def test_a_refused_query_string_is_refused_every_time(app: Flask) -> None:
    queries = KeptQueries(PARAMS)
    for _ in range(2):
        with pytest.raises(ValidationFailed) as refused:
            _read(app, queries, "page=0&colour=red")
        assert set(refused.value.fields) == {"page", "colour"}
    assert _read(app, queries, "page=1") == {"page": 1}


def test_only_so_many_query_strings_are_kept(app: Flask) -> None:
    queries = KeptQueries(PARAMS, size=3)
    for page in range(1, 8):
        assert _read(app, queries, f"page={page}") == {"page": page}
    assert len(queries._kept) == 3
