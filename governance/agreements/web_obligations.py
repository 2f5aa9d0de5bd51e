"""An agreement's obligations page: the terms that bind each person, their acceptance (with
their password), their attestation, and the project's ethics approvals. Views parse, call one
service, commit; refusals are answered and recorded by web/errors.py."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Optional

from governance import authz
from governance.agreements import obligations as service
from governance.agreements import progress
from governance.agreements.queries import get_visible
from governance.authz import Permission
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, submitted
from governance.web.login import actor, login_required

bp = Blueprint("obligations", __name__, url_prefix="/agreements")


class AcceptForm(Form):
    version = IntegerField("Version", validators=[InputRequired()])
    password = PasswordField("Your password, to confirm it is you",
                             validators=[DataRequired()])


class AttestForm(Form):
    still_needed = BooleanField("I still need this access for the project")
    kept_terms = BooleanField("I have kept the terms above")
    copies_outside = TextAreaField("Copies of the data I hold outside the service (one per "
                                   "line; leave empty if none)", validators=[Optional()])


class ProgressForm(Form):
    period_end = DateField("Period ending", validators=[InputRequired()])
    work_done = TextAreaField("What was done", validators=[DataRequired()])
    team_changes = TextAreaField("Changes in the team", validators=[Optional()])
    output_ids = SelectMultipleField("Outputs released in the period", coerce=int,
                                     validate_choice=False)


class DecisionForm(Form):
    comment = TextAreaField("Comment (required to return)", validators=[Optional()])


class EthicsForm(Form):
    board = StringField("Ethics board (IRB / REC)", validators=[DataRequired()])
    reference = StringField("Approval reference", validators=[DataRequired()])
    approved_on = DateField("Approved on", validators=[InputRequired()])
    expires_on = DateField("Expires on", validators=[InputRequired()])
    protocol = TextAreaField("Approved protocol (title, version)", validators=[Optional()])


@bp.route("/<int:agreement_id>/obligations")
@login_required
def obligations(agreement_id: int) -> str:
    user = actor()
    db = db_session()
    agreement = get_visible(db, agreement_id, by=user)
    version = agreement.current_version
    personnel = version is not None and version.is_personnel(user.id)
    return render_template(
        "agreements/obligations.html", agreement=agreement, version=version,
        terms=service.individual_terms(version) if version else [],
        accepted=personnel and version is not None and service.has_accepted(db, version, user.id),
        is_personnel=personnel, attestations=service.latest_attestations(db, agreement.id),
        approvals=service.ethics_approvals(db, agreement.id),
        reports=progress.reports(db, agreement.id),
        outstanding=progress.outstanding(db, agreement.id, utcnow()),
        can_decide_reports=authz.can(user, Permission.AGREEMENT_REVIEW),
        progress_form=_progress_form(agreement.id), decision_form=DecisionForm(),
        can_record_ethics=authz.can(user, Permission.ETHICS_RECORD),
        accept_form=AcceptForm(version=version.number if version else None),
        attest_form=AttestForm(), ethics_form=EthicsForm())


def _progress_form(agreement_id: int) -> ProgressForm:
    form = ProgressForm()
    form.output_ids.choices = choices(
        (o.id, f"#{o.id} {o.title}") for o in progress.reportable_outputs(db_session(),
                                                                        agreement_id))
    return form


def _done(agreement_id: int, message: str) -> BaseResponse:
    db_session().commit()
    flash(message, "success")
    return redirect(url_for("obligations.obligations", agreement_id=agreement_id))


@bp.route("/<int:agreement_id>/accept", methods=["POST"])
@login_required
def accept(agreement_id: int) -> BaseResponse:
    form = AcceptForm()
    submitted(form)
    service.accept_terms(db_session(), agreement_id=agreement_id, version_number=form.version.data,
                         password=form.password.data, by=actor(), now=utcnow())
    return _done(agreement_id, "You accepted the terms that bind you.")


@bp.route("/<int:agreement_id>/attest", methods=["POST"])
@login_required
def attest(agreement_id: int) -> BaseResponse:
    form = AttestForm()
    submitted(form)
    service.record_attestation(db_session(), agreement_id=agreement_id,
                               still_needed=bool(form.still_needed.data),
                               kept_terms=bool(form.kept_terms.data),
                               copies_outside=form.copies_outside.data or "", by=actor(),
                               now=utcnow())
    return _done(agreement_id, "Your attestation is recorded.")


@bp.route("/<int:agreement_id>/ethics", methods=["POST"])
@login_required
def record_ethics(agreement_id: int) -> BaseResponse:
    form = EthicsForm()
    submitted(form)
    approved_on: dt.date = form.approved_on.data
    expires_on: dt.date = form.expires_on.data
    service.record_ethics_approval(db_session(), agreement_id=agreement_id,
                                   board=form.board.data, reference=form.reference.data,
                                   approved_on=approved_on, expires_on=expires_on,
                                   protocol=form.protocol.data or "", by=actor(), now=utcnow())
    return _done(agreement_id, "The ethics approval is recorded.")


@bp.route("/<int:agreement_id>/progress", methods=["POST"])
@login_required
def submit_progress(agreement_id: int) -> BaseResponse:
    form = _progress_form(agreement_id)
    submitted(form)
    period_end: dt.date = form.period_end.data
    progress.submit_report(db_session(), agreement_id=agreement_id, period_end=period_end,
                           work_done=form.work_done.data,
                           team_changes=form.team_changes.data or "",
                           output_ids=form.output_ids.data or [], by=actor(), now=utcnow())
    return _done(agreement_id, "Your progress report is submitted to the privacy officer.")


@bp.route("/progress/<int:report_id>/<any(accept, return):decision>", methods=["POST"])
@login_required
def decide_progress(report_id: int, decision: str) -> BaseResponse:
    form = DecisionForm()
    submitted(form)
    report = progress.decide_report(db_session(), report_id=report_id,
                                    accept=decision == "accept",
                                    comment=form.comment.data or "", by=actor(), now=utcnow())
    return _done(report.agreement_id, f"The report is {report.status}.")
