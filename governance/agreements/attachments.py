"""Documents filed with an agreement: the signed agreement's scan, ethics letters and the
approved protocol, data management plans, and each recipient's destruction attestation.

Uploading checks the file before anything is written (attachment_checks.py: name, size,
declared type against content, PDFs open, DOCX bounded), then stores it encrypted beside the
datasets (datastore/documents.py) with its SHA-256 and the next version number of its kind and
title; earlier versions stay. Every view and download, allowed or refused, is an audit event.
Attachments are destroyed with the agreement's data (destruction_hooks.py) and listed on the
destruction certificate; their rows remain, so the close-out can still see who attested.

Who: a privacy officer files any attachment (`agreement:draft`); a person on the agreement's
personnel may file their own destruction attestation. Whoever may see the agreement may see
and download its attachments.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.attachment_checks import allowed_types, check_upload, clean_filename
from governance.agreements.common import get_agreement
from governance.agreements.models import Agreement, AgreementStatus
from governance.agreements.queries import can_view
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets import datastore
from governance.datasets.attachment_model import Attachment, AttachmentKind
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.errors import (
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from governance.kernel.text import clean_line

MEGABYTE = 1024 * 1024


def _settings(session: Session) -> dict[str, Any]:
    settings = session.info.get("settings")
    return settings if isinstance(settings, dict) else {}


def limits(session: Session) -> tuple[int, str]:
    """The largest attachment accepted (bytes) and the accepted types, from the configuration."""
    settings = _settings(session)
    return (
        int(settings.get("ATTACHMENT_MAX_MB", 20)) * MEGABYTE,
        str(settings.get("ATTACHMENT_TYPES", "pdf,png,jpeg,docx,txt")),
    )


def _refusal(event: AuditType, agreement_id: int, attachment_id: int | None) -> dict[str, Any]:
    return {
        "event_type": event,
        "agreement_id": agreement_id,
        "target_type": "attachment" if attachment_id else "agreement",
        "target_id": attachment_id or agreement_id,
    }


def _require_uploader(
    by: Actor, agreement: Agreement, kind: AttachmentKind, attesting_user_id: int | None
) -> None:
    if authz.can(by, Permission.AGREEMENT_DRAFT):
        return
    own_attestation = (
        kind == AttachmentKind.DESTRUCTION_ATTESTATION
        and by.id is not None
        and attesting_user_id == by.id
        and any(v.is_personnel(by.id) for v in agreement.versions)
    )
    if not own_attestation:
        raise PermissionDenied(
            "Only a privacy officer files attachments; a recipient may file their own "
            "destruction attestation.",
            audit=_refusal(AuditType.ATTACHMENT_UPLOAD, agreement.id, None),
        )


def require_may_upload(session: Session, *, agreement_id: int, by: Actor) -> None:
    """403 (recorded) unless `by` may file anything with the agreement: a privacy officer, or
    one of its personnel (who may file only their own destruction attestation)."""
    agreement = get_agreement(session, agreement_id)
    if authz.can(by, Permission.AGREEMENT_DRAFT):
        return
    if by.id is None or not any(v.is_personnel(by.id) for v in agreement.versions):
        raise PermissionDenied(
            "Only a privacy officer files attachments; a recipient may file their own "
            "destruction attestation.",
            audit=_refusal(AuditType.ATTACHMENT_UPLOAD, agreement.id, None),
        )


def upload(
    session: Session,
    *,
    agreement_id: int,
    kind: str,
    title: str,
    filename: str,
    declared_type: str,
    content: bytes,
    attesting_user_id: int | None = None,
    by: Actor,
    now: dt.datetime,
) -> Attachment:
    """File a document with the agreement as the next version of its kind and title."""
    agreement = get_agreement(session, agreement_id)
    try:
        chosen = AttachmentKind(kind)
    except ValueError:
        raise ValidationFailed(
            f"{kind!r} is not a kind of attachment.",
            {"kind": "Choose one of: " + ", ".join(k.label for k in AttachmentKind)},
        ) from None
    _require_uploader(by, agreement, chosen, attesting_user_id)
    if agreement.status == AgreementStatus.CLOSED or agreement.destruction_certified_at:
        # Filed after destruction, a document would outlive the data it belongs with.
        raise InvalidTransition(
            f"Agreement {agreement.reference}'s data was destroyed: nothing more can be filed."
        )
    errors: dict[str, str] = {}
    clean_title = clean_line(title, "title", errors, max_length=200)
    if chosen == AttachmentKind.DESTRUCTION_ATTESTATION:
        if attesting_user_id is None or not any(
            v.is_personnel(attesting_user_id) for v in agreement.versions
        ):
            errors["attesting_user_id"] = "Name the recipient on the personnel who attests."
    elif attesting_user_id is not None:
        errors["attesting_user_id"] = "Only a destruction attestation names a recipient."
    if errors:
        raise ValidationFailed("Check the attachment's details.", errors)
    max_bytes, accepted = limits(session)
    file_type = check_upload(
        filename=filename,
        declared=declared_type,
        content=content,
        max_bytes=max_bytes,
        accepted=allowed_types(accepted),
    )
    previous = session.scalar(
        select(func.max(Attachment.version)).where(
            Attachment.agreement_id == agreement.id,
            Attachment.kind == chosen,
            Attachment.title == clean_title,
        )
    )
    if by.id is None:
        raise PermissionDenied("Attachments are filed by a person.")
    attachment = Attachment(
        agreement_id=agreement.id,
        kind=chosen,
        title=clean_title,
        version=(previous or 0) + 1,
        filename=clean_filename(filename),
        content_type=file_type.content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        attesting_user_id=attesting_user_id,
        uploaded_by_id=by.id,
        uploaded_at=now,
    )
    datastore.store_document(session, attachment=attachment, content=content)
    audit.record(
        session,
        AuditType.ATTACHMENT_UPLOAD,
        by=by,
        agreement_id=agreement.id,
        target_type="attachment",
        target_id=attachment.id,
        now=now,
        detail={
            "kind": chosen.value,
            "title": clean_title,
            "version": attachment.version,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "sha256": attachment.sha256,
            "attesting_user_id": attesting_user_id,
        },
    )
    return attachment


def _require_reader(by: Actor, agreement: Agreement, event: AuditType, target: int | None) -> None:
    if not (isinstance(by, User) and can_view(by, agreement)):
        raise PermissionDenied(
            "Only those who may see the agreement may see its attachments.",
            audit=_refusal(event, agreement.id, target),
        )


def listed(session: Session, *, agreement_id: int, by: Actor) -> list[Attachment]:
    """Every version of every attachment of the agreement, newest version first per title."""
    agreement = get_agreement(session, agreement_id)
    _require_reader(by, agreement, AuditType.ATTACHMENT_VIEW, None)
    return of_agreement(session, agreement.id)


def of_agreement(session: Session, agreement_id: int) -> list[Attachment]:
    return list(
        session.scalars(
            select(Attachment)
            .where(Attachment.agreement_id == agreement_id)
            .order_by(Attachment.kind, Attachment.title, Attachment.version.desc())
        )
    )


def open_attachment(
    session: Session, *, attachment_id: int, download: bool, by: Actor, now: dt.datetime
) -> tuple[Attachment, bytes]:
    """The attachment and its content, recorded as a view (inline) or a download."""
    event = AuditType.ATTACHMENT_DOWNLOAD if download else AuditType.ATTACHMENT_VIEW
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(f"There is no attachment {attachment_id}.")
    agreement = get_agreement(session, attachment.agreement_id)
    _require_reader(by, agreement, event, attachment.id)
    if attachment.destroyed_at is not None:
        raise InvalidTransition(
            f"Attachment {attachment.id} was destroyed with the agreement's data on "
            f"{attachment.destroyed_at:%Y-%m-%d}."
        )
    content = datastore.read_document(attachment)
    audit.record(
        session,
        event,
        by=by,
        agreement_id=agreement.id,
        target_type="attachment",
        target_id=attachment.id,
        now=now,
        detail={
            "kind": attachment.kind,
            "title": attachment.title,
            "version": attachment.version,
            "sha256": attachment.sha256,
        },
    )
    return attachment, content


def live(session: Session, agreement_id: int) -> list[Attachment]:
    """The agreement's attachments not yet destroyed."""
    return list(
        session.scalars(
            select(Attachment)
            .where(Attachment.agreement_id == agreement_id, Attachment.destroyed_at.is_(None))
            .order_by(Attachment.id)
        )
    )


def destroy(
    session: Session,
    attachments: list[Attachment],
    *,
    certificate_id: int,
    by: Actor,
    now: dt.datetime,
) -> None:
    """Destroy each attachment (its key, then its file), each an audit event naming the
    certificate that lists it; called by the destruction that follows the agreement's end."""
    for attachment in attachments:
        fingerprint = datastore.attachment_key_fingerprint(attachment)
        removed = datastore.destroy_document(attachment, now=now)
        attachment.certificate_id = certificate_id
        audit.record(
            session,
            AuditType.ATTACHMENT_DESTROY,
            by=by,
            agreement_id=attachment.agreement_id,
            target_type="attachment",
            target_id=attachment.id,
            now=now,
            detail={
                "kind": attachment.kind,
                "title": attachment.title,
                "version": attachment.version,
                "sha256": attachment.sha256,
                "file_removed": removed,
                "key_fingerprint": fingerprint,
                "certificate_id": certificate_id,
            },
        )
