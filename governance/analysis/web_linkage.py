"""Probabilistic linkage pages (blueprint `linkage`): a run's linkage report, and the clerical
review queue of the pairs between the analysis' thresholds.

The report holds counts and weights only and is shown to whoever may see the run. The queue
shows both sides' identifiers, so the service reads them through the data door: a person
without the identifier columns' grant is refused (403) and the refusal recorded.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectField

from governance.analysis import linkage_review
from governance.analysis import runs as analyses
from governance.analysis.linkage_model import ReviewDecision
from governance.identity.web_login import actor, login_required
from governance.kernel.errors import NotFound
from governance.kernel.extensions import db_session
from governance.kernel.reports import charts
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, submitted

bp = Blueprint("linkage", __name__, url_prefix="/analyses")


class ReviewDecisionForm(Form):
    decision = SelectField(
        "Decision",
        choices=choices((d.value, d.label) for d in ReviewDecision),
        validate_choice=True,
    )


def weight_chart(report: dict[str, object]) -> Markup:
    bins = report.get("weight_distribution") or []
    data = [
        (f"{b['from']:g} to {b['to']:g}", float(b["rows"]))
        for b in bins  # type: ignore[attr-defined]
    ]
    return charts.bar_chart(
        data,
        title="Best match weight per cohort row",
        value_label="Cohort rows",
        horizontal=False,
    )


@bp.route("/<int:run_id>/linkage")
@login_required
def report(run_id: int) -> str:
    db = db_session()
    run = analyses.visible_run(db, run_id, actor())
    found = linkage_review.report_of(db, run.id)
    db.commit()  # a refused view above is recorded by the error handler
    if found is None:
        raise NotFound(f"Analysis {run_id} has no probabilistic linkage.")
    return render_template(
        "analyses/linkage.html", run=run, report=found, chart=weight_chart(found)
    )


@bp.route("/<int:run_id>/linkage/review")
@login_required
def review(run_id: int) -> str:
    db = db_session()
    rows = linkage_review.open_queue(db, run_id=run_id, by=actor(), now=utcnow())
    db.commit()  # the reads are recorded before anything is shown
    return render_template(
        "analyses/linkage_review.html", run_id=run_id, rows=rows, form=ReviewDecisionForm()
    )


@bp.route("/<int:run_id>/linkage/review/<int:pair_id>", methods=["POST"])
@login_required
def decide(run_id: int, pair_id: int) -> BaseResponse:
    form = ReviewDecisionForm()
    submitted(form)
    db = db_session()
    pair = linkage_review.decide(
        db, pair_id=pair_id, decision=str(form.decision.data), by=actor(), now=utcnow()
    )
    db.commit()
    flash(f"Recorded: {ReviewDecision(str(pair.decision)).label.lower()}.", "success")
    return redirect(url_for("linkage.review", run_id=run_id))
