"""An agreement's progress reports: the schedule, the reports with their outputs, the form the
personnel submit and a privacy officer's accept or return. Views parse, call one service,
commit; refusals are answered and recorded by web/errors.py."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, DateField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Optional

from governance import authz
from governance.agreements.queries import get_visible
from governance.authz import Permission
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.outputs import progress_reports as progress
from governance.web.forms import Form, choices, committed, submitted

bp = Blueprint("progress", __name__, url_prefix="/agreements")


class ProgressForm(Form):
    period_end = DateField("Period ending", validators=[InputRequired()])
    work_done = TextAreaField("What was done", validators=[DataRequired()])
    team_changes = TextAreaField("Changes in the team", validators=[Optional()])
    output_ids = SelectMultipleField(
        "Outputs released in the period", coerce=int, validate_choice=False
    )
    final = BooleanField("This is the final report (the whole agreement, every output)")


class DecisionForm(Form):
    comment = TextAreaField("Comment (required to return)", validators=[Optional()])


def _progress_form(agreement_id: int) -> ProgressForm:
    form = ProgressForm()
    form.output_ids.choices = choices(
        (o.id, f"#{o.id} {o.title}")
        for o in progress.reportable_outputs(db_session(), agreement_id)
    )
    return form


@bp.route("/<int:agreement_id>/progress")
@login_required
def reports(agreement_id: int) -> str:
    user = actor()
    db = db_session()
    agreement = get_visible(db, agreement_id, by=user)
    version = agreement.current_version
    return render_template(
        "agreements/progress.html",
        agreement=agreement,
        version=version,
        reports=progress.reports(db, agreement.id),
        outstanding=progress.outstanding(db, agreement.id, utcnow()),
        is_personnel=version is not None
        and version.is_personnel(user.id)
        and agreement.status in progress.CAN_REPORT,
        can_decide_reports=authz.can(user, Permission.AGREEMENT_REVIEW),
        progress_form=_progress_form(agreement.id),
        decision_form=DecisionForm(),
    )


@bp.route("/<int:agreement_id>/progress", methods=["POST"])
@login_required
def submit_progress(agreement_id: int) -> BaseResponse:
    form = _progress_form(agreement_id)
    submitted(form)
    period_end: dt.date = form.period_end.data
    progress.submit_report(
        db_session(),
        agreement_id=agreement_id,
        period_end=period_end,
        work_done=form.work_done.data,
        team_changes=form.team_changes.data or "",
        output_ids=form.output_ids.data or [],
        by=actor(),
        now=utcnow(),
        final=bool(form.final.data),
    )
    return committed(
        "Your progress report is submitted to the privacy officer.",
        "progress.reports",
        agreement_id=agreement_id,
    )


@bp.route("/progress/<int:report_id>/<any(accept, return):decision>", methods=["POST"])
@login_required
def decide_progress(report_id: int, decision: str) -> BaseResponse:
    form = DecisionForm()
    submitted(form)
    report = progress.decide_report(
        db_session(),
        report_id=report_id,
        accept=decision == "accept",
        comment=form.comment.data or "",
        by=actor(),
        now=utcnow(),
    )
    return committed(
        f"The report is {report.status}.", "progress.reports", agreement_id=report.agreement_id
    )
