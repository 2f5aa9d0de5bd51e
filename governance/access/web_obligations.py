"""An agreement's obligations page: the terms that bind each person, their acceptance (with
their password), their attestation, and the project's ethics approvals. Views parse, call one
service, commit; refusals are answered and recorded by web/errors.py."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Optional

from governance import authz
from governance.access import obligations as service
from governance.agreements import obligations as terms_of
from governance.agreements.queries import get_visible
from governance.authz import Permission
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, committed, submitted

bp = Blueprint("obligations", __name__, url_prefix="/agreements")


class AcceptForm(Form):
    version = IntegerField("Version", validators=[InputRequired()])
    password = PasswordField("Your password, to confirm it is you", validators=[DataRequired()])


class AttestForm(Form):
    still_needed = BooleanField("I still need this access for the project")
    kept_terms = BooleanField("I have kept the terms above")
    copies_outside = TextAreaField(
        "Copies of the data I hold outside the service (one per line; leave empty if none)",
        validators=[Optional()],
    )


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
        "agreements/obligations.html",
        agreement=agreement,
        version=version,
        terms=terms_of.individual_terms(version) if version else [],
        accepted=personnel and version is not None and terms_of.has_accepted(db, version, user.id),
        is_personnel=personnel,
        attestations=terms_of.latest_attestations(db, agreement.id),
        approvals=terms_of.ethics_approvals(db, agreement.id),
        can_record_ethics=authz.can(user, Permission.ETHICS_RECORD),
        accept_form=AcceptForm(version=version.number if version else None),
        attest_form=AttestForm(),
        ethics_form=EthicsForm(),
    )


@bp.route("/<int:agreement_id>/accept", methods=["POST"])
@login_required
def accept(agreement_id: int) -> BaseResponse:
    form = AcceptForm()
    submitted(form)
    service.accept_terms(
        db_session(),
        agreement_id=agreement_id,
        version_number=form.version.data,
        password=form.password.data,
        by=actor(),
        now=utcnow(),
    )
    return committed(
        "You accepted the terms that bind you.",
        "obligations.obligations",
        agreement_id=agreement_id,
    )


@bp.route("/<int:agreement_id>/attest", methods=["POST"])
@login_required
def attest(agreement_id: int) -> BaseResponse:
    form = AttestForm()
    submitted(form)
    service.record_attestation(
        db_session(),
        agreement_id=agreement_id,
        still_needed=bool(form.still_needed.data),
        kept_terms=bool(form.kept_terms.data),
        copies_outside=form.copies_outside.data or "",
        by=actor(),
        now=utcnow(),
    )
    return committed(
        "Your attestation is recorded.", "obligations.obligations", agreement_id=agreement_id
    )


@bp.route("/<int:agreement_id>/ethics", methods=["POST"])
@login_required
def record_ethics(agreement_id: int) -> BaseResponse:
    form = EthicsForm()
    submitted(form)
    approved_on: dt.date = form.approved_on.data
    expires_on: dt.date = form.expires_on.data
    service.record_ethics_approval(
        db_session(),
        agreement_id=agreement_id,
        board=form.board.data,
        reference=form.reference.data,
        approved_on=approved_on,
        expires_on=expires_on,
        protocol=form.protocol.data or "",
        by=actor(),
        now=utcnow(),
    )
    return committed(
        "The ethics approval is recorded.", "obligations.obligations", agreement_id=agreement_id
    )
