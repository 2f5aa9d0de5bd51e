"""The public data-use register and the latest witnessed audit head, without login.

Like the published outputs page, reading it is not recorded in the audit trail (anyone may,
and recording it would let anyone flood the trail). The CSV goes through the reports
toolkit's writer, so a value that starts like a formula reaches a spreadsheet as text.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, url_for

from governance.audit import witness, witnessed
from governance.identity.web_login import public
from governance.kernel.extensions import db_session
from governance.kernel.reports.tabular import iter_csv
from governance.register.queries import FIELDS, entries

bp = Blueprint("register", __name__, url_prefix="/register")

PUBLIC_CACHE = "public, max-age=300"


def _witnessed() -> dict[str, object] | None:
    """The latest witnessed head with its token and what checking it showed (the words of
    `governance audit verify`), or the fault it shows; None before any head was witnessed."""
    session = db_session()
    try:
        checked = witnessed.latest_checked(session)
    except witness.WitnessError as error:
        row = witnessed.latest(session)
        return {"seq": None if row is None else row.seq, "fault": f"{error}."}
    if checked is None:
        return None
    row, shown = checked
    kept = witness.Witness(seq=row.seq, head_hash=row.head_hash, token=row.token)
    return {
        **kept.to_json(),
        "authority": row.authority,
        "signature_checked": shown.signatures_checked,
        "statement": shown.statement(),
    }


@bp.route("/")
@public
def index() -> str:
    listed = entries(db_session())
    return render_template("register/index.html", entries=listed, witnessed=_witnessed())


@bp.route("/register.json")
@public
def as_json() -> Response:
    response = jsonify(
        {
            "register": [
                {
                    **entry.as_json(),
                    "outputs_url": [
                        url_for("public.output", output_id=o.output_id, _external=True)
                        for o in entry.outputs
                    ],
                }
                for entry in entries(db_session())
            ],
            "witnessed_head": _witnessed(),
        }
    )
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@bp.route("/register.csv")
@public
def as_csv() -> Response:
    rows = [entry.as_row() for entry in entries(db_session())]
    return Response(
        b"".join(iter_csv(rows, header=FIELDS)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="data-use-register.csv"',
            "Cache-Control": PUBLIC_CACHE,
        },
    )


@bp.route("/witness.json")
@public
def witness_json() -> Response:
    """The latest witnessed head with its token, for a provider to keep and later pass to
    `governance audit verify --witness FILE`; 404 until a head has been witnessed."""
    witnessed = _witnessed()
    if witnessed is None:
        return Response(
            "No audit head has been witnessed by a time-stamping authority yet.\n",
            status=404,
            mimetype="text/plain",
        )
    if "fault" in witnessed:
        return Response(
            f"The latest time-stamp token does not check: {witnessed['fault']}\n",
            status=409,
            mimetype="text/plain",
        )
    response = jsonify(witnessed)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="audit-witness-{witnessed["seq"]}.json"'
    )
    return response
