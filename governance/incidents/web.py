"""Incident pages: report one (anyone), the list, and the case with its notification clocks,
freeze, notifications and closure (privacy officers). Views parse, call one service, commit."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired

from governance import authz
from governance.agreements.queries import get_visible
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.web_login import actor, login_required
from governance.incidents import service
from governance.incidents.models import IncidentKind
from governance.kernel.errors import PermissionDenied
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, committed, submitted

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


class ReportForm(Form):
    kind = SelectField("What happened", choices=choices((k.value, k.label) for k in IncidentKind))
    agreement_ids = SelectMultipleField(
        "Agreements involved", coerce=int, validators=[DataRequired()]
    )
    description = TextAreaField(
        "Describe it: what, when, who, which data", validators=[DataRequired()]
    )


class CloseForm(Form):
    root_cause = TextAreaField("Root cause", validators=[DataRequired()])
    actions_taken = TextAreaField("Actions taken", validators=[DataRequired()])


def _report_form() -> ReportForm:
    from governance.agreements.queries import visible_agreements

    form = ReportForm()
    visible = visible_agreements(db_session(), actor(), today=utcnow().date())
    form.agreement_ids.choices = choices((a.id, a.reference) for a in visible)
    return form


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> BaseResponse | str:
    user = actor()
    db = db_session()
    form = _report_form()
    if submitted(form):
        for agreement_id in form.agreement_ids.data:
            get_visible(db, agreement_id, by=user)
        incident = service.report_incident(
            db,
            kind=form.kind.data,
            description=form.description.data,
            agreement_ids=form.agreement_ids.data,
            by=user,
            now=utcnow(),
            deadlines=current_app.config.get("BREACH_NOTICE_HOURS", {}),
        )
        db.commit()
        flash("Incident reported: the privacy officers are told.", "success")
        return redirect(url_for("incidents.detail", incident_id=incident.id))
    return render_template(
        "incidents/index.html", form=form, incidents=service.list_incidents(db, by=user)
    )


@bp.route("/<int:incident_id>")
@login_required
def detail(incident_id: int) -> str:
    user = actor()
    incident = service.get_incident(db_session(), incident_id)
    can_manage = authz.can(user, Permission.INCIDENT_MANAGE)
    if not can_manage and incident.reported_by_id != user.id:
        raise PermissionDenied(
            "Incidents are visible to privacy officers and to the person who reported them.",
            audit={
                "event_type": AuditType.INCIDENT_REPORT,
                "target_type": "incident",
                "target_id": incident_id,
            },
        )
    return render_template(
        "incidents/detail.html",
        incident=incident,
        can_manage=can_manage,
        now=utcnow(),
        close_form=CloseForm(),
    )


@bp.route("/<int:incident_id>/freeze", methods=["POST"])
@login_required
def freeze(incident_id: int) -> BaseResponse:
    service.freeze(db_session(), incident_id=incident_id, by=actor(), now=utcnow())
    return committed(
        "Frozen: every grant under the agreements involved is paused.",
        "incidents.detail",
        incident_id=incident_id,
    )


@bp.route("/<int:incident_id>/unfreeze", methods=["POST"])
@login_required
def unfreeze(incident_id: int) -> BaseResponse:
    service.unfreeze(db_session(), incident_id=incident_id, by=actor(), now=utcnow())
    return committed("The freeze is lifted.", "incidents.detail", incident_id=incident_id)


@bp.route("/<int:incident_id>/clocks/<int:clock_id>/sent", methods=["POST"])
@login_required
def sent(incident_id: int, clock_id: int) -> BaseResponse:
    service.record_notification(
        db_session(), incident_id=incident_id, clock_id=clock_id, by=actor(), now=utcnow()
    )
    return committed(
        "The notification is recorded as sent.", "incidents.detail", incident_id=incident_id
    )


@bp.route("/<int:incident_id>/clocks/<int:clock_id>/acknowledged", methods=["POST"])
@login_required
def acknowledged(incident_id: int, clock_id: int) -> BaseResponse:
    service.record_notification(
        db_session(),
        incident_id=incident_id,
        clock_id=clock_id,
        by=actor(),
        now=utcnow(),
        acknowledged=True,
    )
    return committed(
        "The acknowledgement is recorded.", "incidents.detail", incident_id=incident_id
    )


@bp.route("/<int:incident_id>/close", methods=["POST"])
@login_required
def close(incident_id: int) -> BaseResponse:
    form = CloseForm()
    submitted(form)
    service.close(
        db_session(),
        incident_id=incident_id,
        root_cause=form.root_cause.data,
        actions_taken=form.actions_taken.data,
        by=actor(),
        now=utcnow(),
    )
    return committed("The incident is closed.", "incidents.detail", incident_id=incident_id)
