"""The governance metrics page and its CSV: parse the filters, read the figures, render."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.metrics import figures
from governance.metrics.charts import pictures

bp = Blueprint("metrics", __name__, url_prefix="/governance-metrics")


@bp.route("/")
@login_required
def index() -> str:
    session = db_session()
    found = figures.read_figures(
        session, filters=figures.parse_filters(request.args), by=actor(), now=utcnow()
    )
    datasets, organizations = figures.filter_choices(session)
    return render_template(
        "metrics/index.html",
        figures=found,
        charts=pictures(found),
        datasets=datasets,
        organizations=organizations,
        horizon=figures.EXPIRY_HORIZON_DAYS,
    )


@bp.route("/export.csv")
@login_required
def csv() -> Response:
    found = figures.read_figures(
        db_session(), filters=figures.parse_filters(request.args), by=actor(), now=utcnow()
    )
    return Response(
        figures.csv_export(found),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="governance-metrics-{found.today}.csv"',
            "Cache-Control": "no-store",
        },
    )
