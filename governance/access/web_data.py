"""Viewing and downloading granted rows: every request goes through the data door."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request, stream_with_context
from werkzeug.wrappers import Response as BaseResponse

from governance.access import data_door as data_access
from governance.access import queries
from governance.access.row_filters import OPERATORS
from governance.identity.web_login import actor, login_required
from governance.kernel.errors import ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.reports.tabular import iter_csv
from governance.kernel.text import whole_number
from governance.kernel.types import MAX_ID, utcnow
from governance.web.paging import MAX_PAGE

bp = Blueprint("data", __name__, url_prefix="/data")


def _int_arg(name: str) -> int:
    """An id typed as text: ASCII digits only, from 1 to MAX_ID (`whole_number`, the one rule
    for ids typed as text: "+5", "1_000", "٣" and " 5" are not ids, though `int` reads them)."""
    raw = request.args.get(name, "")
    if not raw:
        raise ValidationFailed(f"Say which {name} to read (a number).", {name: "Required."})
    number = whole_number(raw)
    if number is None or number < 1:
        raise ValidationFailed(
            f"The {name} is given by its number: digits only, from 1 to {MAX_ID:,}.",
            {name: "Not a number."},
        )
    return number


def _scope() -> tuple[int, int, str, list[str]]:
    agreement_id, dataset_id = _int_arg("agreement"), _int_arg("dataset")
    purpose = data_access.known_purpose(request.args.get("purpose", ""))
    return agreement_id, dataset_id, purpose, request.args.getlist("columns")


def _granted_columns(agreement_id: int, dataset_id: int, purpose: str) -> list[str]:
    """Your own grants' columns for this purpose: the default view shows all of them."""
    return data_access.granted_columns(
        db_session(),
        user_id=actor().id,
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        purpose=purpose,
        now=utcnow(),
    )


@bp.route("/view")
@login_required
def view() -> str:
    agreement_id, dataset_id, purpose, columns = _scope()
    db = db_session()
    dataset = queries.dataset_named(db, dataset_id)
    granted = _granted_columns(agreement_id, dataset_id, purpose)
    # The columns named, or every column granted for the purpose. With none granted the door
    # refuses the read, recorded, saying why (no current grant, one ended, another purpose).
    shown = columns or [c for c in (dataset.column_names if dataset else []) if c in granted]
    try:
        page_number = max(1, int(request.args.get("page", "1")))
    except ValueError as exc:
        raise ValidationFailed("page must be a whole number.") from exc
    if page_number > MAX_PAGE:  # Fix (issue 9): an unbounded page overflowed the OFFSET.
        raise ValidationFailed(f"page must be from 1 to {MAX_PAGE:,}.")
    sort = request.args.get("sort") or None
    page = data_access.read_rows(
        db,
        by=actor(),
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        columns=shown,
        purpose=purpose,
        filters=request.args.getlist("filter"),
        sort=sort,
        descending=request.args.get("dir") == "desc",
        page=page_number,
        per_page=50,
        now=utcnow(),
    )
    db.commit()
    return render_template(
        "data/view.html",
        page=page,
        dataset=dataset,
        agreement_id=agreement_id,
        purpose=purpose,
        granted=granted,
        filters=request.args.getlist("filter"),
        sort=sort,
        direction=request.args.get("dir", "asc"),
        operators=OPERATORS,
    )


@bp.route("/download")
@login_required
def download() -> BaseResponse:
    agreement_id, dataset_id, purpose, columns = _scope()
    db = db_session()
    columns = columns or _granted_columns(agreement_id, dataset_id, purpose)
    header, rows, decision = data_access.download_rows(
        db,
        by=actor(),
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        columns=columns,
        purpose=purpose,
        now=utcnow(),
    )
    db.commit()  # the download is recorded before the first byte leaves
    body = iter_csv(
        rows,
        header=header,
        trailer=True,
        preamble=[
            f"dataset {dataset_id}, agreement {agreement_id}, "
            f"{decision.rule}, exported {utcnow().isoformat()}"
        ],
    )
    return Response(
        stream_with_context(body),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=dataset-{dataset_id}-rows.csv"},
    )
