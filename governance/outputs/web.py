"""Output pages: the list, one output with its figures, checks and flags, and the forms that
check, flag, answer, accept, resolve, correct and publish. Views parse, call one service,
commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from governance import authz
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.models import User
from governance.identity.web_login import actor, login_required
from governance.kernel.errors import InvalidTransition, ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.outputs import files, preview, service
from governance.outputs.common import get_visible, refusal
from governance.outputs.content import table_view
from governance.outputs.models import AnswerKind, Output, OutputStatus
from governance.outputs.queries import abilities, list_statement
from governance.outputs.web_forms import (
    AnswerForm,
    CheckForm,
    CorrectForm,
    FlagForm,
    NoConcernsForm,
    ResolveForm,
    correction_files,
)
from governance.web.forms import choices, sent_or_blank, submitted
from governance.web.paging import paginate

bp = Blueprint("outputs", __name__, url_prefix="/outputs")


@bp.route("/")
@login_required
def index() -> str:
    status = request.args.get("status") or None
    if status and status not in {s.value for s in OutputStatus}:
        raise ValidationFailed("Unknown status filter.", {"status": "Choose from the list."})
    sorts = {
        "produced": Output.produced_at,
        "title": Output.title,
        "status": Output.status,
        "id": Output.id,
    }
    page = paginate(
        db_session(), list_statement(actor(), status=status), sorts=sorts, default_sort="produced"
    )
    return render_template("outputs/index.html", page=page, statuses=list(OutputStatus))


@bp.route("/<int:output_id>")
@login_required
def detail(output_id: int) -> str:
    user, db, now = actor(), db_session(), utcnow()
    output = get_visible(db, output_id, by=user)
    able = abilities(output, user, now)
    withheld = files.output_figures_withheld(db, user, output, now)
    db.commit()  # figures withheld are recorded
    flag_form = FlagForm()
    flag_form.part.choices = choices((p["id"], p["label"]) for p in output.parts)
    return render_template(
        "outputs/detail.html",
        output=output,
        able=able,
        summary=_agreement_line(output),
        withheld=withheld,
        tables=[]
        if withheld
        else [(table, *table_view(table)) for table in output.result["tables"]],
        flag_form=flag_form,
        no_concerns_form=NoConcernsForm(prefix="no_concerns"),
        answer_kinds=list(AnswerKind),
        check_form=CheckForm(),
        # One answer and one resolution form per flag: the one sent keeps what was typed.
        answer_forms={
            f: sent_or_blank(AnswerForm, "outputs.answer", flag_id=f) for f in able.answerable
        },
        resolve_forms={
            f: sent_or_blank(ResolveForm, "outputs.resolve", flag_id=f) for f in able.resolvable
        },
    )


def _agreement_line(output: Output) -> str:
    agreement = output.agreement
    return (
        f"{agreement.reference}: {agreement.provider.name} provides data to "
        f"{agreement.recipient.name} (version {output.agreement_version} of the terms)."
    )


def _act(output_id: int, message: str, call: Callable[[Session, User], Any]) -> BaseResponse:
    db = db_session()
    call(db, actor())
    db.commit()
    flash(message, "success")
    return redirect(url_for("outputs.detail", output_id=output_id))


@bp.route("/<int:output_id>/check", methods=["POST"])
@login_required
def check(output_id: int) -> BaseResponse:
    form = CheckForm()
    submitted(form)
    decision = form.decision.data
    if decision not in {"approve", "return"}:
        raise ValidationFailed(
            "Approve the output or return it with reasons.", {"decision": "approve or return"}
        )
    approve = decision == "approve"
    return _act(
        output_id,
        "Approved." if approve else "Returned to the analyst with reasons.",
        lambda db, by: service.check_output(
            db,
            output_id=output_id,
            approve=approve,
            reasons=form.reasons.data or "",
            by=by,
            now=utcnow(),
        ),
    )


@bp.route("/<int:output_id>/flags", methods=["POST"])
@login_required
def flag(output_id: int) -> BaseResponse:
    form = FlagForm()
    submitted(form)
    return _act(
        output_id,
        "Flag raised; the analyst has been told.",
        lambda db, by: preview.raise_flag(
            db,
            output_id=output_id,
            kind=form.kind.data or "",
            part=form.part.data or "",
            comment=form.comment.data or "",
            by=by,
            now=utcnow(),
        ),
    )


@bp.route("/<int:output_id>/flags/<int:flag_id>/answer", methods=["POST"])
@login_required
def answer(output_id: int, flag_id: int) -> BaseResponse:
    form = AnswerForm()
    submitted(form)
    return _act(
        output_id,
        "Answer saved; the partner reviewers have been told.",
        lambda db, by: preview.answer_flag(
            db,
            output_id=output_id,
            flag_id=flag_id,
            answer=form.answer.data or "",
            text=form.text.data or "",
            by=by,
            now=utcnow(),
        ),
    )


@bp.route("/<int:output_id>/flags/<int:flag_id>/accept", methods=["POST"])
@login_required
def accept(output_id: int, flag_id: int) -> BaseResponse:
    return _act(
        output_id,
        "Answer accepted.",
        lambda db, by: preview.accept_answer(
            db, output_id=output_id, flag_id=flag_id, by=by, now=utcnow()
        ),
    )


@bp.route("/<int:output_id>/no-concerns", methods=["POST"])
@login_required
def no_concerns(output_id: int) -> BaseResponse:
    """A partner reviewer of the provider has no concerns: the preview ends early and the
    output is released to the project team at once."""
    form = NoConcernsForm(prefix="no_concerns")
    submitted(form)
    return _act(
        output_id,
        "Thank you: no concerns recorded. The preview has ended and the output is released "
        "to the project team.",
        lambda db, by: preview.no_concerns(
            db, output_id=output_id, note=form.note.data or "", by=by, now=utcnow()
        ),
    )


@bp.route("/<int:output_id>/flags/<int:flag_id>/resolve", methods=["POST"])
@login_required
def resolve(output_id: int, flag_id: int) -> BaseResponse:
    form = ResolveForm()
    submitted(form)
    return _act(
        output_id,
        "Flag resolved.",
        lambda db, by: preview.resolve_flag(
            db, output_id=output_id, flag_id=flag_id, note=form.note.data or "", by=by, now=utcnow()
        ),
    )


@bp.route("/<int:output_id>/publish", methods=["GET"])
@login_required
def confirm_publish(output_id: int) -> str:
    """Publishing cannot be undone: the page says what becomes public and asks to confirm."""
    user = actor()
    output = get_visible(db_session(), output_id, by=user, event=AuditType.OUTPUT_PUBLISH)
    authz.require(
        user, Permission.OUTPUT_PUBLISH, audit=refusal(AuditType.OUTPUT_PUBLISH, output.id, output)
    )
    if not abilities(output, user, utcnow()).can_publish:
        raise InvalidTransition("This output cannot be published by you now.")
    return render_template(
        "outputs/confirm_publish.html", output=output, summary=_agreement_line(output)
    )


@bp.route("/<int:output_id>/publish", methods=["POST"])
@login_required
def publish(output_id: int) -> BaseResponse:
    return _act(
        output_id,
        "Published on the public page.",
        lambda db, by: service.publish_output(db, output_id=output_id, by=by, now=utcnow()),
    )


@bp.route("/<int:output_id>/correct", methods=["GET", "POST"])
@login_required
def correct(output_id: int) -> BaseResponse | str:
    user, db, now = actor(), db_session(), utcnow()
    output = get_visible(db, output_id, by=user, event=AuditType.OUTPUT_CORRECT)
    form = CorrectForm(data={"summary": output.summary} if request.method == "GET" else None)
    if not submitted(form):
        # The form's refusals are the correction's own: 403 (who), 409 (when).
        service.check_correction(db, output_id=output_id, by=user, now=now)
        # The summary quotes the figures: it is offered to edit only to who may read them.
        if request.method == "GET" and files.output_figures_withheld(db, user, output, now):
            form.summary.data = ""
        db.commit()  # figures withheld are recorded
        return render_template("outputs/correct.html", output=output, form=form)
    # Missing files reach the service as empty: it answers 403 and 409 before 422.
    service.correct_output(
        db,
        output_id=output_id,
        **correction_files(output),
        summary=form.summary.data or "",
        by=user,
        now=utcnow(),
    )
    db.commit()
    flash("Corrected: the new revision goes back to the output checkers.", "success")
    return redirect(url_for("outputs.detail", output_id=output_id))


@bp.route("/<int:output_id>/files/<kind>")
@login_required
def download(output_id: int, kind: str) -> Response:
    db = db_session()
    file = files.download(db, output_id=output_id, kind=kind, by=actor(), now=utcnow())
    db.commit()  # recorded before the first byte leaves
    return file_response(file)


def file_response(file: files.Download) -> Response:
    """An output's file as an attachment with its SHA-256, never cached: the one answer of
    every route that hands out an output's files (its page and API, the analysis run's)."""
    return Response(
        file.content,
        mimetype=file.mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "X-Content-SHA256": file.sha256,
            "Cache-Control": "no-store",
        },
    )
