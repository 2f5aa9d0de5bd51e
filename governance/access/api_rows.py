"""Reading the granted columns of a dataset's rows through the API: the one data door
(`data_access.read_rows`), with its row filters, under the datasets' address
/datasets/<id>/rows. It is access's because the door decides who may read which column; the
answer's shape (`Rows`) is declared with the datasets' shapes (datasets/api.py)."""

from __future__ import annotations

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
#: Under this name a page's rows are kept as JSON text (`RowPage.derived`).
ITEMS_JSON = "api.items_json"


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
    """The answer as Flask writes JSON (keys sorted, compact, also in debug mode), its rows
    taken as JSON text from the page when an earlier read of the same page wrote them: the
    door keeps them with the page's rows (`RowPage.derived`), and for 50 rows their encoding
    cost more than the rest of the answer."""
    provider, compact = current_app.json, (",", ":")
    items = page.derived.get(ITEMS_JSON)
    if not isinstance(items, str):
        items = provider.dumps(json_rows(page.rows), separators=compact)
        page.derived[ITEMS_JSON] = items
    # Keys in order, as sorted keys give them: "columns", "items", then the rest.
    columns = provider.dumps({"columns": page.columns}, separators=compact)
    rest = provider.dumps(
        {
            "page": page.page,
            "per_page": page.per_page,
            "pages": page.pages,
            "total": page.total,
            "version": page.version,
            "rules": list(page.decision.rules),
        },
        separators=compact,
    )
    return current_app.response_class(
        f'{columns[:-1]},"items":{items},{rest[1:]}\n', mimetype="application/json"
    )
