"""Agreement pages: the list, one agreement with its versions, drafting, review, amendment,
ending an agreement, the PDF and the law catalogue. Views parse, call one service, commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from governance import authz
from governance.agreements import service
from governance.agreements.document import issue_pdf
from governance.agreements.impact import ImpactChanged
from governance.agreements.law_fit import law_warnings
from governance.agreements.laws import add_state_law, catalogue
from governance.agreements.lifecycle import Action, state_of, target_of
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.agreements.odrl_export import MEDIA_TYPE, export_policy
from governance.agreements.odrl_links import addresses
from governance.agreements.queries import EXPIRY_WINDOWS, get_visible_page, list_statement
from governance.agreements.terms import TermsInput
from governance.agreements.web_forms import (
    CommentForm,
    DestructionForm,
    ExecutionForm,
    NewAgreementForm,
    ReasonForm,
    StateLawForm,
    TermsForm,
    form_data,
    terms_from,
)
from governance.agreements.web_view import detail_context, form_context
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity import users
from governance.identity.organization_model import Organization, OrganizationKind
from governance.identity.web_login import actor, login_required, require_recent_auth
from governance.kernel.errors import ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.text import whole_number
from governance.kernel.types import utcnow
from governance.web.errors import record_refusal
from governance.web.forms import choices, sent_or_blank, submitted
from governance.web.paging import paginate

bp = Blueprint("agreements", __name__, url_prefix="/agreements")


def _organizations(kind: OrganizationKind) -> list[Organization]:
    return users.organizations(db_session(), kind=kind)


def _int_arg(name: str, allowed: tuple[int, ...] | None = None) -> int | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    number = whole_number(raw)
    if number is None or (allowed and number not in allowed):
        raise ValidationFailed(f"The {name} filter is not valid.", {name: "Choose from the list."})
    return number


@bp.route("/")
@login_required
def index() -> str:
    user = actor()
    status = request.args.get("status") or None
    if status and status not in {s.value for s in AgreementStatus}:
        raise ValidationFailed("Unknown status filter.", {"status": "Choose from the list."})
    statement = list_statement(
        user,
        status=status,
        provider_id=_int_arg("provider"),
        expiring_within=_int_arg("expiring", EXPIRY_WINDOWS),
        today=utcnow().date(),
    )
    sorts = {
        "reference": Agreement.reference,
        "title": AgreementVersion.title,
        "status": Agreement.status,
        "effective": AgreementVersion.effective_date,
        "expiry": AgreementVersion.expiry_date,
    }
    page = paginate(db_session(), statement, sorts=sorts, default_sort="reference", scalars=False)
    return render_template(
        "agreements/index.html",
        page=page,
        statuses=list(AgreementStatus),
        providers=_organizations(OrganizationKind.PROVIDER),
        windows=EXPIRY_WINDOWS,
        can_create=authz.can(user, Permission.AGREEMENT_DRAFT),
        today=utcnow().date(),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> BaseResponse | str | tuple[str, int]:
    user = actor()
    authz.require(
        user,
        Permission.AGREEMENT_DRAFT,
        audit={"event_type": AuditType.AGREEMENT_CREATE, "target_type": "agreement"},
    )
    db = db_session()
    form = NewAgreementForm()
    _set_choices(form)
    form.provider_id.choices = choices(
        (o.id, o.name) for o in _organizations(OrganizationKind.PROVIDER)
    )
    form.recipient_id.choices = choices(
        (o.id, o.name) for o in _organizations(OrganizationKind.RESEARCH)
    )
    if request.method == "GET":
        today = utcnow().date()
        form.effective_date.data = today
        form.expiry_date.data = today.replace(year=today.year + 1) - dt.timedelta(days=1)
    try:
        if submitted(form):
            agreement = service.create_agreement(
                db,
                provider_id=form.provider_id.data,
                recipient_id=form.recipient_id.data,
                terms=terms_from(form),
                by=user,
                now=utcnow(),
            )
            db.commit()
            flash(f"Draft {agreement.reference} saved.", "success")
            return redirect(url_for("agreements.detail", agreement_id=agreement.id))
    except ValidationFailed as refusal:
        db.rollback()
        return _form_page(form, None, refusal), 422
    return _form_page(form, None, None)


@bp.route("/<int:agreement_id>")
@login_required
def detail(agreement_id: int) -> str:
    return _detail_page(agreement_id, ExecutionForm(formdata=None))


def _detail_page(
    agreement_id: int, execution_form: ExecutionForm, impact_changed: bool = False
) -> str:
    user = actor()
    agreement = get_visible_page(db_session(), agreement_id, by=user)
    checked = agreement.working_version or agreement.display_version
    available = service.available_actions(agreement, user)
    can_execute = Action.EXECUTE in available
    to_countersign = service.impact_to_countersign(db_session(), agreement) if can_execute else None
    # The form confirms the impact this page shows, whatever an earlier form sent.
    execution_form.impact_digest.data = to_countersign.digest if to_countersign else ""
    return render_template(
        "agreements/detail.html",
        **detail_context(db_session(), agreement, user),
        state=state_of(agreement),
        can_edit=Action.EDIT in available,
        can_submit=Action.SUBMIT in available,
        can_review=Action.APPROVE in available,
        can_return=Action.RETURN in available,
        can_amend=Action.AMEND in available,
        can_discard=Action.DISCARD_AMENDMENT in available,
        can_terminate=Action.TERMINATE in available,
        can_certify=Action.CERTIFY_DESTRUCTION in available,
        can_execute=can_execute,
        countersignature_impact=to_countersign,
        impact_approved=service.impact_approved(db_session(), agreement)
        if to_countersign
        else None,
        impact_changed=impact_changed,
        # The close-out checklist is for those who close agreements or audit them.
        can_see_closeout=authz.can(user, Permission.AGREEMENT_CERTIFY_DESTRUCTION)
        or authz.can(user, Permission.AUDIT_READ),
        law_warnings=law_warnings(db_session(), checked),
        # A committee's votes the approval waits on ("waiting on committee X (1 of 3 votes")).
        approval_waiting=service.approval_waiting(db_session(), agreement),
        law_warnings_version=checked.number,
        execution_form=execution_form,
        comment_form=CommentForm(),
        # Amending and terminating both ask for a reason: the one sent keeps what was typed.
        amend_form=sent_or_blank(ReasonForm, "agreements.amend"),
        terminate_form=sent_or_blank(ReasonForm, "agreements.terminate"),
        destruction_form=DestructionForm(),
    )


@bp.route("/<int:agreement_id>/edit", methods=["GET", "POST"])
@login_required
def edit(agreement_id: int) -> BaseResponse | str | tuple[str, int]:
    user = actor()
    authz.require(
        user,
        Permission.AGREEMENT_DRAFT,
        audit={
            "event_type": AuditType.AGREEMENT_UPDATE,
            "target_type": "agreement",
            "target_id": agreement_id,
            "agreement_id": agreement_id,
        },
    )
    db = db_session()
    agreement = service.get_agreement(db, agreement_id)
    working = agreement.working_version
    form = TermsForm(
        data=form_data(TermsInput.from_version(working))
        if working and request.method == "GET"
        else None
    )
    _set_choices(form)
    try:
        if submitted(form):
            service.update_draft(
                db, agreement_id=agreement_id, terms=terms_from(form), by=user, now=utcnow()
            )
            db.commit()
            flash("Changes saved.", "success")
            return redirect(url_for("agreements.detail", agreement_id=agreement_id))
    except ValidationFailed as refusal:
        db.rollback()
        return _form_page(form, agreement.id, refusal), 422
    target_of(agreement, Action.EDIT)  # nothing being drafted: 409 naming what is possible
    return _form_page(form, agreement.id, None)


def _set_choices(form: TermsForm) -> None:
    form.laws.choices = choices((code, law.label) for code, law in catalogue(db_session()).items())


def _form_page(form: TermsForm, agreement_id: int | None, refusal: ValidationFailed | None) -> str:
    return render_template(
        "agreements/form.html", form=form, **form_context(db_session(), form, agreement_id, refusal)
    )


def _transition(agreement_id: int, message: str, call: Any) -> BaseResponse:
    db = db_session()
    call(db, actor(), utcnow())
    db.commit()
    flash(message, "success")
    return redirect(url_for("agreements.detail", agreement_id=agreement_id))


def _text(form_class: type[Any], field: str) -> str:
    form = form_class()
    submitted(form)
    value: str = getattr(form, field).data or ""
    return value


@bp.route("/<int:agreement_id>/submit", methods=["POST"])
@login_required
def submit(agreement_id: int) -> BaseResponse:
    return _transition(
        agreement_id,
        "Submitted for review.",
        lambda db, by, now: service.submit(db, agreement_id=agreement_id, by=by, now=now),
    )


@bp.route("/<int:agreement_id>/return", methods=["POST"])
@login_required
def return_to_draft(agreement_id: int) -> BaseResponse:
    comment = _text(CommentForm, "comment")
    return _transition(
        agreement_id,
        "Returned to the drafter with your comments.",
        lambda db, by, now: service.return_to_draft(
            db, agreement_id=agreement_id, comment=comment, by=by, now=now
        ),
    )


@bp.route("/<int:agreement_id>/approve", methods=["POST"])
@login_required
@require_recent_auth(
    back=lambda agreement_id: url_for("agreements.detail", agreement_id=agreement_id)
)
def approve(agreement_id: int) -> BaseResponse:
    comment = _text(CommentForm, "comment")
    return _transition(
        agreement_id,
        "Approved.",
        lambda db, by, now: service.approve(
            db, agreement_id=agreement_id, comment=comment, by=by, now=now
        ),
    )


@bp.route("/<int:agreement_id>/execute", methods=["POST"])
@login_required
def execute(agreement_id: int) -> BaseResponse | tuple[str, int]:
    """Record the provider's countersignature; errors come back on the form, as typed."""
    form = ExecutionForm()
    db = db_session()
    try:
        form.validate()
        service.execute(
            db,
            agreement_id=agreement_id,
            signature=service.Countersignature(
                name=form.name.data or "",
                title=form.title.data or "",
                organisation=form.organisation.data or "",
                signed_on=form.signed_on.data,
                signed_copy_reference=form.signed_copy_reference.data or "",
            ),
            impact_digest=form.impact_digest.data or None,
            by=actor(),
            now=utcnow(),
        )
    except ImpactChanged as refusal:
        # Recorded, then shown again with the impact as it is now, what was typed kept.
        record_refusal(refusal)
        return _detail_page(agreement_id, form, impact_changed=True), 409
    except ValidationFailed as refusal:
        db.rollback()
        for name, message in refusal.fields.items():
            field = getattr(form, name, None)
            if field is not None and message not in field.errors:
                field.errors = [*field.errors, message]
        return _detail_page(agreement_id, form), 422
    db.commit()
    flash("The provider's countersignature is recorded.", "success")
    return redirect(url_for("agreements.detail", agreement_id=agreement_id))


@bp.route("/<int:agreement_id>/amend", methods=["POST"])
@login_required
def amend(agreement_id: int) -> BaseResponse:
    reason = _text(ReasonForm, "reason")
    db = db_session()
    service.start_amendment(db, agreement_id=agreement_id, reason=reason, by=actor(), now=utcnow())
    db.commit()
    flash(
        "Amendment opened. The approved version stays in force until the amendment is approved.",
        "success",
    )
    return redirect(url_for("agreements.edit", agreement_id=agreement_id))


@bp.route("/<int:agreement_id>/discard-amendment", methods=["POST"])
@login_required
def discard_amendment(agreement_id: int) -> BaseResponse:
    return _transition(
        agreement_id,
        "Amendment discarded.",
        lambda db, by, now: service.discard_amendment(
            db, agreement_id=agreement_id, by=by, now=now
        ),
    )


@bp.route("/<int:agreement_id>/terminate", methods=["POST"])
@login_required
def terminate(agreement_id: int) -> BaseResponse:
    reason = _text(ReasonForm, "reason")
    return _transition(
        agreement_id,
        "Agreement terminated.",
        lambda db, by, now: service.terminate(
            db, agreement_id=agreement_id, reason=reason, by=by, now=now
        ),
    )


@bp.route("/<int:agreement_id>/certify-destruction", methods=["POST"])
@login_required
def certify_destruction(agreement_id: int) -> BaseResponse:
    statement = _text(DestructionForm, "statement")
    return _transition(
        agreement_id,
        "Destruction certified; close the agreement from its close-out checklist.",
        lambda db, by, now: service.certify_destruction(
            db, agreement_id=agreement_id, statement=statement, by=by, now=now
        ),
    )


@bp.route("/<int:agreement_id>/pdf")
@login_required
def pdf(agreement_id: int) -> Response:
    version = _int_arg("version")
    db = db_session()
    issued = issue_pdf(
        db,
        agreement_id=agreement_id,
        version_number=version,
        by=actor(),
        now=utcnow(),
        deadlines=current_app.config.get("BREACH_NOTICE_HOURS", {}),
    )
    db.commit()
    return Response(
        issued.content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{issued.filename}"',
            "X-Content-SHA256": issued.document.sha256,
        },
    )


@bp.route("/<int:agreement_id>/versions/<int:number>/odrl.jsonld")
@login_required
def odrl(agreement_id: int, number: int) -> Response:
    """The version as an ODRL 2.2 policy (JSON-LD); each export is recorded."""
    db = db_session()
    exported = export_policy(
        db, agreement_id=agreement_id, version_number=number, by=actor(), addresses=addresses
    )
    db.commit()
    return Response(
        exported.content,
        mimetype=MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{exported.filename}"'},
    )


@bp.route("/laws", methods=["GET", "POST"])
@login_required
def laws() -> BaseResponse | str:
    user = actor()
    db = db_session()
    form = StateLawForm()
    if submitted(form):
        law = add_state_law(db, name=form.name.data, requirements=form.requirements.data, by=user)
        db.commit()
        flash(f"{law.name} added to the catalogue.", "success")
        return redirect(url_for("agreements.laws"))
    return render_template(
        "agreements/laws.html",
        laws=catalogue(db).values(),
        form=form,
        can_add=authz.can(user, Permission.AGREEMENT_DRAFT),
    )
