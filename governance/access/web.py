"""Access request, review and grant pages (blueprint `access`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from governance import authz
from governance.access import data_use, nudges, queries, request_checks, requests, visibility
from governance.access import grants as grant_service
from governance.access import review_export as review_export_service
from governance.access import training_report as training
from governance.access.eligibility import person_blockers
from governance.access.models import (
    AccessRequest,
    ColumnForm,
    Grant,
    GrantStatus,
    RequestStatus,
)
from governance.access.review import (
    REVIEW_PERIOD,
    check_review,
    due_for_review,
    review_grant,
)
from governance.access.timeline import request_timeline
from governance.access.web_forms import (
    ApproveForm,
    CommentForm,
    GrantReviewForm,
    ReasonForm,
    RequestForm,
    ScopeForm,
    duo_form_data,
)
from governance.access.workflow import Action, allowed_actions
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.queries import in_force_version
from governance.authz import Permission, rules
from governance.datasets.data_use import described as dataset_data_use
from governance.datasets.models import Classification
from governance.identity.web_login import actor, ensure_recent_auth, login_required
from governance.kernel.errors import NotFound, ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import choices, submitted
from governance.web.paging import paginate

bp = Blueprint("access", __name__, url_prefix="/access")


@bp.route("/requests")
@login_required
def requests_list() -> str:
    user = actor()
    query = visibility.requests_visible_to(user)
    status = request.args.get("status") or None
    if status:
        if status not in {s.value for s in RequestStatus}:
            raise ValidationFailed(
                f"There is no request status {status[:40]!r}.", {"status": ", ".join(RequestStatus)}
            )
        query = query.where(AccessRequest.status == status)
    page = paginate(
        db_session(),
        query,
        default_sort="created",
        per_page=25,
        sorts={
            "created": AccessRequest.created_at,
            "status": AccessRequest.status,
            "id": AccessRequest.id,
        },
    )
    return render_template(
        "access/requests.html",
        page=page,
        status=status,
        statuses=list(RequestStatus),
        names=_names(page.items),
        can_request=authz.can(user, Permission.ACCESS_REQUEST_CREATE),
    )


bp.add_url_rule("/requests", endpoint="requests", view_func=requests_list)


def _names(items: Sequence[AccessRequest | Grant]) -> dict[str, dict[int, str]]:
    """People and datasets named in a listing, so tables show names rather than numbers."""
    return queries.names_in(db_session(), items)


@bp.route("/requests/new", methods=["GET", "POST"])
@login_required
def new_request() -> Response | str:
    user = actor()
    authz.require(user, Permission.ACCESS_REQUEST_CREATE)
    db = db_session()
    agreements = queries.agreements_for_requests(db, user)
    scope = ScopeForm(request.args, meta={"csrf": False})
    scope.agreement_id.choices = choices(
        (a.id, f"{a.reference} · {a.display_version.title}") for a in agreements
    )
    agreement = next((a for a in agreements if a.id == scope.agreement_id.data), None)
    version = in_force_version(db, agreement.id) if agreement else None
    datasets = queries.datasets_covered(db, version)
    scope.dataset_id.choices = choices((d.id, d.name) for d in datasets)
    dataset = next((d for d in datasets if d.id == scope.dataset_id.data), None)
    blockers = person_blockers(version, user, utcnow().date()) if version else []
    if version is None or dataset is None or blockers:
        return render_template(
            "access/request_scope.html",
            scope=scope,
            agreements=agreements,
            agreement=agreement,
            blockers=blockers,
        )
    form = RequestForm()
    form.columns.choices = choices(
        (c.name, f"{c.name} ({c.classification.replace('_', ' ')})")
        for c in dataset.columns
        if c.name in version.covered_columns(dataset.id)
    )
    form.purpose.choices = choices((use, AnalysisKind(use).label) for use in version.permitted_uses)
    form.offer_duo_terms()
    if submitted(form):
        created = requests.submit_request(
            db,
            agreement_id=version.agreement_id,
            dataset_id=dataset.id,
            columns=form.columns.data,
            purpose=form.purpose.data,
            justification=form.justification.data,
            end_date=form.end_date.data,
            download=form.download.data,
            by=user,
            now=utcnow(),
            data_use=form.duo_statement(),
        )
        db.commit()
        flash("Your request was sent to the dataset's steward.", "success")
        return redirect(url_for("access.request_detail", request_id=created.id))
    return render_template(
        "access/request_new.html",
        form=form,
        agreement=agreement,
        version=version,
        dataset=dataset,
        data_use=dataset_data_use(dataset),
    )


@bp.route("/requests/<int:request_id>")
@login_required
def request_detail(request_id: int) -> str:
    return _request_page(request_id, CommentForm(prefix="second", formdata=None))


def _request_page(request_id: int, second_form: CommentForm) -> str:
    user = actor()
    db = db_session()
    found = visibility.visible_request(db, request_id, user)
    dataset, agreement = queries.request_parts(db, found)
    actions = {a.value for a in allowed_actions(RequestStatus(found.status))}
    # The same named rules the services apply (authz.rules), so a button shows only when the
    # service would accept the action.
    is_steward_of = rules.steward_of_dataset(user, dataset) and rules.not_own_request(user, found)
    is_steward = is_steward_of and found.committee_id is None  # else a committee decides it
    can_second = authz.can(
        user, Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS
    ) and rules.second_approver(user, found)
    own = rules.own_request(user, found)
    waiting = nudges.waiting_on(db, found)
    approve_form = ApproveForm(prefix="approve")
    approve_form.columns.choices = choices((c, c) for c in found.requested_columns)
    if not approve_form.posted():  # shown again after a refusal: keep what was typed
        approve_form.columns.data = found.requested_columns
    return render_template(
        "access/request_detail.html",
        item=found,
        dataset=dataset,
        agreement=agreement,
        approve_form=approve_form,
        comment_form=second_form,
        timeline=request_timeline(db, found),
        standing=queries.request_standing(db, found),
        reason_form=ReasonForm(prefix="deny"),
        return_form=CommentForm(prefix="return"),
        can_review=is_steward and Action.APPROVE.value in actions,
        can_second=can_second and Action.APPROVE_IDENTIFIERS.value in actions,
        # Counts only, but for those who decide: the steward and a privacy officer.
        show_risk=queries.sees_risk_figures(db, found, user),
        privacy_officer_because=requests.privacy_officer_reasons(found),
        can_recompute=is_steward_of and authz.can(user, Permission.ACCESS_REQUEST_REVIEW),
        forms=[f.value for f in ColumnForm],
        can_withdraw=own and Action.WITHDRAW.value in actions,
        can_resubmit=own and Action.RESUBMIT.value in actions,
        waiting=waiting,
        **data_use.review_context(db, found),
        can_nudge=own and waiting is not None and waiting.may_nudge(utcnow()),
        # As the two-person rule sees them: recorded with the request, or identifiers now.
        identifiers={
            c.column_name
            for c in found.columns
            if c.classification == Classification.DIRECT_IDENTIFIER
        }
        | ({c.name for c in dataset.columns if c.is_direct_identifier} if dataset else set()),
    )


@bp.route("/requests/<int:request_id>/resubmit", methods=["GET", "POST"])
@login_required
def resubmit(request_id: int) -> Response | str:
    """The requester changes a returned request and sends it to the steward again."""
    user, db = actor(), db_session()
    found = queries.resubmission(db, request_id, user)
    item, version = found.request, found.version
    form = (
        RequestForm()
        if request.method == "POST"
        else RequestForm(
            data={
                "columns": item.requested_columns,
                "purpose": item.purpose,
                "justification": item.justification,
                "end_date": item.end_date,
                "download": item.download_requested,
                **duo_form_data(item.data_use),
            }
        )
    )
    form.columns.choices = choices(
        (c.name, f"{c.name} ({c.classification.replace('_', ' ')})")
        for c in found.dataset.columns
        if c.name in version.covered_columns(found.dataset.id)
    )
    form.purpose.choices = choices((use, AnalysisKind(use).label) for use in version.permitted_uses)
    form.offer_duo_terms()
    if submitted(form):
        requests.resubmit_request(
            db,
            request_id=item.id,
            columns=form.columns.data,
            purpose=form.purpose.data,
            justification=form.justification.data,
            end_date=form.end_date.data,
            download=form.download.data,
            by=user,
            now=utcnow(),
            data_use=form.duo_statement(),
        )
        db.commit()
        flash("Your changed request was sent to the dataset's steward again.", "success")
        return redirect(url_for("access.request_detail", request_id=item.id))
    return render_template(
        "access/request_new.html",
        form=form,
        agreement=found.agreement,
        version=version,
        dataset=found.dataset,
        resubmitting=item,
        data_use=dataset_data_use(found.dataset),
    )


@bp.route("/requests/<int:request_id>/<action>", methods=["POST"])
@login_required
def request_action(request_id: int, action: str) -> Response:
    user, db, now = actor(), db_session(), utcnow()
    if action == "nudge":
        told = nudges.nudge(db, request_id=request_id, by=user, now=now)
        db.commit()
        flash(f"A polite reminder was sent to {told} person(s) the request waits on.", "success")
        return redirect(url_for("access.request_detail", request_id=request_id))
    if action not in request_checks.STEPS:
        raise NotFound(f"There is no action {action!r} on requests.")
    # Who and when before what was sent: 404, 403 or 409 before the form is read.
    found = request_checks.check_step(db, action, request_id, user)
    if action == "approve":
        form = ApproveForm(prefix="approve")
        form.columns.choices = choices((c, c) for c in found.requested_columns)
        submitted(form)
        requests.steward_approve(
            db,
            request_id=request_id,
            columns=form.columns.data,
            comment=form.comment.data or "",
            # One choice per requested column: as stored (empty), coarsened, pseudonymised.
            forms={
                c: request.form.get(f"approve-form-{c}", "")
                for c in found.requested_columns
                if c in (form.columns.data or [])
            },
            by=user,
            now=now,
        )
    elif action == "risk":
        requests.recompute_risk(db, request_id=request_id, by=user, now=now)
    elif action == "approve-identifiers":
        ensure_recent_auth(back=url_for("access.request_detail", request_id=request_id))
        form_c = CommentForm(prefix="second")
        try:
            submitted(form_c)
            requests.privacy_approve(
                db, request_id=request_id, comment=form_c.comment.data or "", by=user, now=now
            )
        except ValidationFailed as refusal:
            # Back on the form, with the message and what was typed.
            db.rollback()
            for message in refusal.fields.values():
                form_c.comment.errors = [*form_c.comment.errors, message]
            return Response(_request_page(request_id, form_c), status=422, mimetype="text/html")
    elif action == "deny":
        form_r = ReasonForm(prefix="deny")
        submitted(form_r)
        requests.deny_request(
            db, request_id=request_id, reason=form_r.reason.data, by=user, now=now
        )
    elif action == "return":
        form_c = CommentForm(prefix="return")
        submitted(form_c)
        requests.return_request(
            db, request_id=request_id, comment=form_c.comment.data or "", by=user, now=now
        )
    elif action == "withdraw":
        requests.withdraw_request(db, request_id=request_id, by=user, now=now)
    else:  # resubmit has its own page (`resubmit`)
        raise NotFound(f"There is no action {action!r} on requests.")
    db.commit()
    # Say where the action left the request: an approval of identifier columns, say, still
    # waits on a privacy officer, which "Done." would hide.
    status = RequestStatus(request_checks.get_request(db, request_id).status)
    flash(f"Done: the request is now {status.label.lower()}.", "success")
    return redirect(url_for("access.request_detail", request_id=request_id))


@bp.route("/grants")
@login_required
def grants_list() -> str:
    user = actor()
    db = db_session()
    query = visibility.grants_visible_to(user)
    status = request.args.get("status", "active")
    if status in {s.value for s in GrantStatus}:
        query = query.where(Grant.status == status)
    overdue_only = request.args.get("review") == "overdue"
    if overdue_only:
        query = query.where(due_for_review(utcnow()))
    page = paginate(
        db,
        query,
        default_sort="created",
        sorts={"created": Grant.created_at, "until": Grant.valid_until, "id": Grant.id},
    )
    return render_template(
        "access/grants.html",
        page=page,
        status=status,
        names=_names(page.items),
        overdue_only=overdue_only,
        review_period=REVIEW_PERIOD,
    )


bp.add_url_rule("/grants", endpoint="grants", view_func=grants_list)


@bp.route("/grants/<int:grant_id>")
@login_required
def grant_detail(grant_id: int) -> str:
    user = actor()
    db = db_session()
    grant = visibility.visible_grant(db, grant_id, user)
    view = queries.grant_view(db, grant, user, now=utcnow())
    review_form = GrantReviewForm(prefix="review")
    review_form.keep.choices = choices((c, c) for c in grant.column_names)
    if not review_form.posted():  # shown again after a refusal: keep what was typed
        review_form.keep.data = grant.column_names
    return render_template(
        "access/grant_detail.html",
        grant=grant,
        dataset=view.dataset,
        agreement=view.agreement,
        usage=view.usage,
        reviews=view.reviews,
        review_form=review_form,
        revoke_form=ReasonForm(prefix="revoke"),
        can_revoke=view.can_revoke,
        can_review=view.can_review,
        attestation=view.attestation,
        stopped=view.stopped,
    )


@bp.route("/grants/<int:grant_id>/revoke", methods=["POST"])
@login_required
def revoke(grant_id: int) -> Response:
    db = db_session()
    grant_service.check_revoke(db, grant_id, actor())  # who and when before what was sent
    form = ReasonForm(prefix="revoke")
    submitted(form)
    grant_service.revoke_grant(
        db, grant_id=grant_id, reason=form.reason.data, by=actor(), now=utcnow()
    )
    db.commit()
    flash("The grant is revoked; it stopped working at once.", "success")
    return redirect(url_for("access.grant_detail", grant_id=grant_id))


@bp.route("/grants/<int:grant_id>/review", methods=["POST"])
@login_required
def review(grant_id: int) -> Response:
    db = db_session()
    grant = check_review(db, grant_id, actor())  # who and when before what was sent
    form = GrantReviewForm(prefix="review")
    form.keep.choices = choices((c, c) for c in grant.column_names)
    submitted(form)
    result = review_grant(
        db,
        grant_id=grant_id,
        keep=form.keep.data or [],
        comment=form.comment.data or "",
        by=actor(),
        now=utcnow(),
    )
    db.commit()
    flash(f"Review recorded: {result.decision}.", "success")
    return redirect(url_for("access.grant_detail", grant_id=grant_id))


def _period() -> tuple[dt.datetime, dt.datetime]:
    """?since=YYYY-MM-DD&until=YYYY-MM-DD (until exclusive); the last 90 days by default."""
    today = utcnow().date()
    try:
        since = dt.date.fromisoformat(
            request.args.get("since") or (today - REVIEW_PERIOD).isoformat()
        )
        until = dt.date.fromisoformat(
            request.args.get("until") or (today + dt.timedelta(days=1)).isoformat()
        )
    except ValueError as exc:
        raise ValidationFailed("Dates are written YYYY-MM-DD.", {"since": "YYYY-MM-DD"}) from exc
    return (
        dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC),
        dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC),
    )


@bp.route("/reviews.<fmt>")
@login_required
def review_export(fmt: str) -> Response:
    if fmt not in {"csv", "pdf"}:
        raise NotFound("Access reviews export as csv or pdf.")
    since, until = _period()
    db = db_session()
    record = review_export_service.build(
        db, since=since, until=until, fmt=fmt, by=actor(), now=utcnow()
    )
    db.commit()
    name = f"access-review-{since.date()}-{until.date()}.{fmt}"
    if fmt == "pdf":
        return Response(
            review_export_service.render_review_pdf(record),
            mimetype="application/pdf",
            headers={"Content-Disposition": f"attachment; filename={name}"},
        )
    return Response(
        review_export_service.iter_review_csv(record),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


@bp.route("/training-report.csv")
@login_required
def training_report() -> Response:
    db = db_session()
    chunks = list(training.export_training_report(db, by=actor(), now=utcnow()))
    db.commit()
    return Response(
        iter(chunks),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="training-report-{utcnow():%Y%m%d}.csv"',
            "Cache-Control": "no-store",
        },
    )
