"""The agreement as a PDF: every clause, the version, its approvals and dates.

Rendered with the reports toolkit (`governance.kernel.reports.pdf`): WeasyPrint with a URL fetcher
that refuses every scheme but `data:`, from an autoescaping template, so nothing is fetched
from the network or the file system and typed text never becomes markup. Each issued PDF's
SHA-256 is stored with the version (`AgreementDocument`) and the issue is recorded in the audit
trail, so a copy shown later can be checked against what the service issued.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from jinja2 import Environment, FileSystemLoader
from sqlalchemy.orm import Session

from governance.agreements.common import record_agreement_event
from governance.agreements.models import Agreement, AgreementVersion, VersionStatus
from governance.agreements.parts_model import AgreementDocument, CommentKind
from governance.agreements.queries import get_visible
from governance.audit.models import AuditType
from governance.identity.models import User
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.errors import NotFound
from governance.kernel.reports import pdf

TEMPLATE = "agreements/agreement.pdf.html"


@dataclass(frozen=True)
class IssuedPDF:
    content: bytes
    document: AgreementDocument
    filename: str


@functools.cache
def _environment() -> Environment:
    return pdf.report_environment(FileSystemLoader(PROJECT_ROOT / "templates"))


def render_agreement_html(agreement: Agreement, version: AgreementVersion) -> str:
    """The HTML the PDF is made from (also used to test the template without WeasyPrint)."""
    return _environment().get_template(TEMPLATE).render(**_context(agreement, version))


def _context(agreement: Agreement, version: AgreementVersion) -> dict[str, object]:
    in_force = version.status == VersionStatus.APPROVED
    state = {
        VersionStatus.DRAFT: "DRAFT: not in force",
        VersionStatus.SUBMITTED: "SUBMITTED FOR REVIEW: not in force",
        VersionStatus.SUPERSEDED: "SUPERSEDED by a later version",
        VersionStatus.DISCARDED: "DISCARDED amendment: never in force",
        VersionStatus.APPROVED: f"Approved; agreement {agreement.status}",
    }[VersionStatus(version.status)]
    return {
        "title": f"Data use agreement {agreement.reference}",
        "subtitle": version.title,
        "kicker": "Data use agreement",
        "description": f"{agreement.reference} version {version.number}",
        "facts": [
            ("Reference", agreement.reference),
            ("Version", str(version.number)),
            ("Status", state),
            ("Data provider", agreement.provider.name),
            ("Recipient", agreement.recipient.name),
            ("Effective date", version.effective_date.isoformat()),
            ("Expiry date", version.expiry_date.isoformat()),
        ],
        "footer_note": f"{agreement.reference} version {version.number}"
        + ("" if in_force else f" ({state})"),
        "agreement": agreement,
        "version": version,
        "clauses": version.clauses(),
        "history": [v for v in agreement.versions if v.number <= version.number],
        "approvals": [c for c in version.comments if c.kind == CommentKind.APPROVAL],
        "in_force": in_force,
        "state": state,
    }


def issue_pdf(
    session: Session, *, agreement_id: int, version_number: int | None, by: User, now: dt.datetime
) -> IssuedPDF:
    """Render a version (the one shown first if none is named) and record the issue."""
    agreement = get_visible(session, agreement_id, by=by)
    version = (
        agreement.version(version_number)
        if version_number is not None
        else agreement.display_version
    )
    if version is None:
        raise NotFound(f"Agreement {agreement.reference} has no version {version_number}.")
    rendered = pdf.render_pdf(
        _environment(),
        TEMPLATE,
        _context(agreement, version),
        stylesheet=pdf.load_stylesheet(_environment()),
    )
    document = AgreementDocument(
        version_id=version.id,
        sha256=rendered.sha256,
        byte_size=len(rendered.content),
        issued_by_id=by.id,
        issued_by_label=by.email,
        issued_at=now,
    )
    session.add(document)
    session.flush()
    record_agreement_event(
        session,
        AuditType.AGREEMENT_PDF,
        by=by,
        agreement=agreement,
        version=version,
        detail={
            "sha256": rendered.sha256,
            "bytes": len(rendered.content),
            "version_status": str(version.status),
        },
    )
    return IssuedPDF(
        content=rendered.content,
        document=document,
        filename=f"{agreement.reference}-v{version.number}.pdf",
    )
