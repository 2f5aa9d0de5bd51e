"""Reading the granted columns of a dataset's rows through the API: the one data door
(`data_access.read_rows`), with its row filters, under the datasets' address
/datasets/<id>/rows. It is access's because the door decides who may read which column; the
answer's shape (`Rows`) is declared with the datasets' shapes (datasets/api.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, current_app
from flask.typing import ResponseReturnValue

from governance.access import data_door as data_access
from governance.access.row_filters import MAX_FILTERS
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import json_rows
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow

# The datasets' tag: in the API's description the read sits with the datasets it reads.
TAG = "Datasets"
#: Under this name a page's answer is kept as bytes around its rules (`RowPage.derived`).
ANSWER_PARTS = "api.answer_parts"


@operation(
    "GET",
    "/datasets/<int:dataset_id>/rows",
    tag=TAG,
    summary="Rows of the columns you were granted",
    query=(
        Param("agreement", s.identifier(), "The agreement you read under.", required=True),
        Param("purpose", s.enum(AnalysisKind), "The purpose you were granted.", required=True),
        Param(
            "columns",
            s.array(s.text(120, min_length=1)),
            "Columns to show; default: every column granted to you for this purpose.",
            many=True,
        ),
        Param(
            "filter",
            s.array(s.text(1200, min_length=1), max_items=MAX_FILTERS),
            "column:op:value with op one of eq, ne, lt, le, gt, ge, contains.",
            many=True,
        ),
        Param("sort", s.text(120, min_length=1), "A column to sort by."),
        Param("dir", s.enum(("asc", "desc"))),
        Param("page", s.integer(1, 1_000_000)),
        Param("per_page", s.integer(1, data_access.MAX_PAGE_SIZE)),
    ),
    errors=(403,),
    answer=Answer(200, "One page of rows.", s.ref("Rows")),
)
def read_rows(dataset_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Every column shown, filtered on or sorted by must be granted to you for this agreement
    and purpose, or nothing is read (403, recorded). Each read is recorded in the audit trail
    with the columns, filters and row count."""
    db, user, now = db_session(), caller(), utcnow()
    purpose = query["purpose"]
    columns = query.get("columns") or data_access.granted_columns(
        db,
        user_id=user.id,
        agreement_id=query["agreement"],
        dataset_id=dataset_id,
        purpose=purpose,
        now=now,
    )
    page = data_access.read_rows(
        db,
        by=user,
        agreement_id=query["agreement"],
        dataset_id=dataset_id,
        columns=list(dict.fromkeys(columns)),
        purpose=purpose,
        filters=query.get("filter", []),
        sort=query.get("sort"),
        descending=query.get("dir") == "desc",
        page=query.get("page", 1),
        per_page=query.get("per_page", 50),
        now=now,
    )
    db.commit()
    return _answer(page)


def _answer(page: data_access.RowPage) -> Response:
    """The answer as Flask writes JSON (keys sorted, compact, ASCII, also in debug mode).

    Everything in it but the allowing rules is a function of the page (its columns, rows,
    position, total and version), so it is written once per kept page, as the bytes before
    and after the rules, and kept with the page's rows (`RowPage.derived`: the door keeps
    them with the rows, dropped with them). Each read writes only its own rules into it: the
    rules come from this read's decision, never from an earlier one. For 50 rows the rows'
    encoding cost more than the rest of the answer, and the three small encodings more than
    the bytes' joining."""
    head = (tuple(page.columns), page.page, page.per_page, page.total, page.version)
    kept = page.derived.get(ANSWER_PARTS)
    if not (isinstance(kept, _Parts) and kept.head == head):
        kept = _parts(page, head)
        page.derived[ANSWER_PARTS] = kept
    rules = current_app.json.dumps(list(page.decision.rules), separators=_COMPACT)
    return current_app.response_class(
        b"".join((kept.before, rules.encode(), kept.after)),
        content_type="application/json",
    )


_COMPACT = (",", ":")


@dataclass(frozen=True)
class _Parts:
    """The answer's bytes before and after the rules, for the page described by `head`."""

    head: tuple[Any, ...]
    before: bytes
    after: bytes


def _parts(page: data_access.RowPage, head: tuple[Any, ...]) -> _Parts:
    dumps = current_app.json.dumps
    columns = dumps({"columns": page.columns}, separators=_COMPACT)
    items = dumps(json_rows(page.rows), separators=_COMPACT)
    # Sorted keys put them in this order: columns, items, page, pages, per_page, rules, total,
    # version; `json.dumps` of each part with the same settings writes the same bytes.
    before = dumps(
        {"page": page.page, "pages": page.pages, "per_page": page.per_page},
        separators=_COMPACT,
    )
    after = dumps({"total": page.total, "version": page.version}, separators=_COMPACT)
    return _Parts(
        head,
        f'{columns[:-1]},"items":{items},{before[1:-1]},"rules":'.encode(),
        f",{after[1:]}\n".encode(),
    )
