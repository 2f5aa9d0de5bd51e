"""The agreement as a PDF: every clause, the version, its approvals and dates, the clauses a
regulator reads first (breach notification, ethics approval, governing law), and a signature
block per party that can be signed on paper, filled in once the agreement is executed.

Rendered with the reports toolkit (`governance.kernel.reports.pdf`): WeasyPrint with a URL fetcher
that refuses every scheme but `data:`, from an autoescaping template, so nothing is fetched
from the network or the file system and typed text never becomes markup. Each issued PDF's
SHA-256 is stored with the version (`AgreementDocument`) and the issue is recorded in the audit
trail, so a copy shown later can be checked against what the service issued.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from jinja2 import Environment, FileSystemLoader
from sqlalchemy.orm import Session

from governance.agreements.common import record_agreement_event
from governance.agreements.law_model import breach_notice_of
from governance.agreements.models import Agreement, AgreementVersion, VersionStatus
from governance.agreements.parts_model import AgreementDocument, CommentKind
from governance.agreements.queries import get_visible_version
from governance.audit.models import AuditType
from governance.identity.models import User
from governance.kernel.config import PROJECT_ROOT
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


@dataclass(frozen=True)
class Notice:
    """One breach notification the agreement obliges the recipient to give."""

    source: str
    recipient: str
    hours: int
    rule: str

    @property
    def deadline(self) -> str:
        days, hours = divmod(self.hours, 24)
        if hours == 0 and days:
            return f"{days} day{'s' if days > 1 else ''} ({self.hours} hours)"
        return f"{self.hours} hours"


@dataclass(frozen=True)
class SignatureBlock:
    """One party's signature: blank lines to sign on paper until the signature is recorded."""

    party: str
    organisation: str
    name: str
    title: str
    signed: str  # what is on the signature line once signed, else ""
    date: str  # the date signed, else ""


def breach_notices(version: AgreementVersion, deadlines: Mapping[str, int]) -> list[Notice]:
    """The notifications the agreement's laws and its own notice clause require, with the
    deadlines incidents are held to (a deployment's BREACH_NOTICE_HOURS override a law's)."""
    notices = []
    for law in version.laws:
        notice = breach_notice_of(law)
        if notice is not None:
            hours = int(deadlines.get(str(law["code"]), notice.hours))
            notices.append(Notice(str(law["label"]), notice.recipient, hours, notice.rule))
    if version.provider_notice_hours:
        notices.append(
            Notice(
                "This agreement (incidents.provider_notice)",
                version.agreement.provider.name,
                version.provider_notice_hours,
                "The agreement's notice period to the provider",
            )
        )
    return notices


def governing_law(agreement: Agreement, version: AgreementVersion) -> str:
    cited = "; ".join(str(law["label"]) for law in version.laws)
    return (
        f"This agreement is governed by the laws and policies it cites ({cited}) and, for "
        f"everything they do not address, by the law of the jurisdiction of the data "
        f"provider, {agreement.provider.name}, whose courts decide any dispute arising under it. "
        "Nothing in this agreement permits a use or disclosure those laws forbid."
    )


def signature_blocks(agreement: Agreement, version: AgreementVersion) -> list[SignatureBlock]:
    """The provider's block is filled from the recorded countersignature, the recipient's from
    the internal approval; until then each named signatory has blank lines to sign."""
    blocks = []
    if version.executed_on is not None:
        blocks.append(
            SignatureBlock(
                "Data provider",
                version.provider_signatory_organisation or agreement.provider.name,
                version.provider_signatory_name or "",
                version.provider_signatory_title or "",
                f"Signed (signed copy {version.signed_copy_reference})",
                version.executed_on.isoformat(),
            )
        )
    for signatory in version.signatories:
        provider = signatory["party"] == "provider"
        if provider and version.executed_on is not None:
            continue
        approved = not provider and version.approved_at is not None
        blocks.append(
            SignatureBlock(
                "Data provider" if provider else "Recipient",
                agreement.provider.name if provider else agreement.recipient.name,
                signatory["name"],
                signatory.get("title", ""),
                f"Approved for the recipient by {version.approved_by_label}" if approved else "",
                version.approved_at.strftime("%Y-%m-%d")
                if approved and version.approved_at
                else "",
            )
        )
    return blocks


def render_agreement_html(
    agreement: Agreement, version: AgreementVersion, deadlines: Mapping[str, int] | None = None
) -> str:
    """The HTML the PDF is made from (also used to test the template without WeasyPrint)."""
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(**_context(agreement, version, deadlines or {}))
    )


def _context(
    agreement: Agreement, version: AgreementVersion, deadlines: Mapping[str, int]
) -> dict[str, object]:
    in_force = version.status == VersionStatus.APPROVED
    state = {
        VersionStatus.DRAFT: "DRAFT: not in force",
        VersionStatus.SUBMITTED: "SUBMITTED FOR REVIEW: not in force",
        VersionStatus.AWAITING_SIGNATURE: (
            "APPROVED AMENDMENT awaiting the provider's countersignature: not in force"
        ),
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
        "notices": breach_notices(version, deadlines),
        "ethics_approvals": agreement.ethics_approvals,
        "governing_law": governing_law(agreement, version),
        "signatures": signature_blocks(agreement, version),
    }


def issue_pdf(
    session: Session,
    *,
    agreement_id: int,
    version_number: int | None,
    by: User,
    now: dt.datetime,
    deadlines: Mapping[str, int] | None = None,
) -> IssuedPDF:
    """Render a version (the one shown first if none is named) and record the issue."""
    agreement, version = get_visible_version(session, agreement_id, version_number, by=by)
    rendered = pdf.render_pdf(
        _environment(),
        TEMPLATE,
        _context(agreement, version, deadlines or {}),
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
