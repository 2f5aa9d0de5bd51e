"""An agreement's attachments: the list of every version, the upload form, and each file
served to those who may see the agreement (every view and download recorded, refusals too).

Uploads are read whole up to the configured limit plus one byte, so a larger one is refused
(413) without reading further; the service checks name, type and content before any write.
Files are served with their stored type, `nosniff` and a sandboxing content policy, inline
only for PDFs and images and as a download otherwise.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Optional

from governance import authz
from governance.agreements import attachments
from governance.agreements.attachment_checks import FILE_TYPES, allowed_types
from governance.agreements.queries import get_visible
from governance.authz import Permission
from governance.datasets.attachment_model import AttachmentKind
from governance.identity.web_login import actor, login_required
from governance.kernel.errors import TooLarge, ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, committed, submitted

bp = Blueprint("attachments", __name__, url_prefix="/agreements")

INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg"}


class AttachmentForm(Form):
    kind = SelectField("Kind")
    title = StringField(
        "Title (a new upload under the same kind and title is a new version)",
        validators=[DataRequired()],
    )
    file_type = SelectField("File type")
    attesting_user_id = SelectField(
        "Recipient attesting (destruction attestations only)",
        coerce=lambda v: int(v) if v else None,
        validators=[Optional()],
        validate_choice=False,
    )


def _form(agreement_id: int) -> AttachmentForm:
    db = db_session()
    form = AttachmentForm()
    form.kind.choices = choices((k.value, k.label) for k in AttachmentKind)
    _max, accepted = attachments.limits(db)
    form.file_type.choices = choices((t.code, t.label) for t in allowed_types(accepted).values())
    agreement = get_visible(db, agreement_id, by=actor())
    people = sorted(
        {(p.user_id, p.user.name) for v in agreement.versions for p in v.personnel},
        key=lambda person: person[1],
    )
    form.attesting_user_id.choices = choices([("", "(none)"), *((str(i), n) for i, n in people)])
    return form


@bp.route("/<int:agreement_id>/attachments")
@login_required
def attachments_page(agreement_id: int) -> str:
    db = db_session()
    user = actor()
    agreement = get_visible(db, agreement_id, by=user)
    max_bytes, accepted = attachments.limits(db)
    return render_template(
        "agreements/attachments.html",
        agreement=agreement,
        attachments=attachments.listed(db, agreement_id=agreement.id, by=user),
        form=_form(agreement.id),
        can_upload=agreement.destruction_certified_at is None
        and (
            authz.can(user, Permission.AGREEMENT_DRAFT)
            or any(v.is_personnel(user.id) for v in agreement.versions)
        ),
        max_mb=max_bytes // attachments.MEGABYTE,
        types=[FILE_TYPES[c].label for c in allowed_types(accepted)],
    )


@bp.route("/<int:agreement_id>/attachments", methods=["POST"])
@login_required
def upload(agreement_id: int) -> BaseResponse:
    db = db_session()
    attachments.require_may_upload(db, agreement_id=agreement_id, by=actor())
    form = _form(agreement_id)
    submitted(form)
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise ValidationFailed("Choose the file to attach.", {"file": "Choose a file."})
    max_bytes, _accepted = attachments.limits(db)
    try:
        content = sent.stream.read(max_bytes + 1)
    finally:
        sent.close()  # a large upload is spooled to a temporary file: release it now
    if len(content) > max_bytes:
        raise TooLarge(f"Attachments are limited to {max_bytes:,} bytes; nothing was stored.")
    attachment = attachments.upload(
        db,
        agreement_id=agreement_id,
        kind=form.kind.data or "",
        title=form.title.data or "",
        filename=sent.filename,
        declared_type=form.file_type.data or "",
        content=content,
        attesting_user_id=form.attesting_user_id.data,
        by=actor(),
        now=utcnow(),
    )
    return committed(
        f"{attachment.title} version {attachment.version} is filed (SHA-256 "
        f"{attachment.sha256[:12]}...).",
        "attachments.attachments_page",
        agreement_id=agreement_id,
    )


@bp.route("/attachments/<int:attachment_id>")
@login_required
def file(attachment_id: int) -> Response:
    db = db_session()
    download = request.args.get("download") == "1"
    attachment, content = attachments.open_attachment(
        db, attachment_id=attachment_id, download=download, by=actor(), now=utcnow()
    )
    db.commit()  # the view or download is recorded before the first byte leaves
    inline = not download and attachment.content_type in INLINE_TYPES
    name = attachment.filename.encode("ascii", "replace").decode().replace('"', "'")
    return Response(
        content,
        mimetype=attachment.content_type,
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Content-SHA256": attachment.sha256,
            "Cache-Control": "no-store",
        },
    )
