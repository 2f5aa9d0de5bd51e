"""The close-out of an agreement: the checklist the service walks through once the agreement
has ended, each item computed from the live records, and the close it allows.

1. the final report: a progress report marked final, accepted;
2. outputs listed: every output of the agreement released to the team or published appears
   in an accepted progress report;
3. every grant ended (none active or paused);
4. downloads destroyed: each person who downloaded rows under the agreement has filed a
   destruction attestation (an attachment naming them);
5. stored data destroyed: destruction certified, and no dataset version the agreement alone
   covered, no cohort file and no attachment of it remains readable;
6. the destruction certificate issued.

The close is the agreement lifecycle's `close` transition (expired or terminated to closed):
refused with 409 naming the unmet items until all hold. It lives with the outputs because it
reads grants, outputs and reports, which the agreements package below it cannot see.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.models import LIVE_GRANT_STATUSES, Grant
from governance.agreements import service as agreements
from governance.agreements.common import get_agreement
from governance.agreements.destruction_hooks import still_covered
from governance.agreements.destruction_model import DestructionCertificate
from governance.agreements.models import Agreement, AgreementStatus
from governance.agreements.progress_model import ProgressReport, ReportStatus
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, Outcome, of_type
from governance.authz import Permission
from governance.datasets.attachment_model import Attachment, AttachmentKind
from governance.datasets.cohort_model import CohortFile
from governance.datasets.models import DatasetVersion
from governance.identity.actors import Actor
from governance.kernel.errors import PermissionDenied
from governance.outputs.models import Output
from governance.outputs.progress_reports import REPORTABLE_OUTPUTS

ENDED = (AgreementStatus.EXPIRED, AgreementStatus.TERMINATED)
CHECKLIST = (
    "final_report",
    "outputs_listed",
    "grants_ended",
    "downloads_attested",
    "data_destroyed",
    "certificate",
)


@dataclass(frozen=True)
class Item:
    """One line of the checklist: whether it holds and what the records say."""

    key: str
    label: str
    met: bool
    detail: str


def checklist(session: Session, agreement: Agreement) -> list[Item]:
    """Every close-out item of the agreement, computed now from the live records."""
    return [
        _final_report(session, agreement),
        _outputs_listed(session, agreement),
        _grants_ended(session, agreement),
        _downloads_attested(session, agreement),
        _data_destroyed(session, agreement),
        _certificate(session, agreement),
    ]


def unmet(session: Session, agreement: Agreement) -> list[str]:
    return [
        f"{item.label}: {item.detail}" for item in checklist(session, agreement) if not item.met
    ]


def _accepted_reports(session: Session, agreement_id: int) -> list[ProgressReport]:
    return list(
        session.scalars(
            select(ProgressReport).where(
                ProgressReport.agreement_id == agreement_id,
                ProgressReport.status == ReportStatus.ACCEPTED,
            )
        )
    )


def _final_report(session: Session, agreement: Agreement) -> Item:
    final = [r for r in _accepted_reports(session, agreement.id) if r.final]
    label = "Final report accepted"
    if final:
        return Item("final_report", label, True, f"accepted on {final[0].decided_at:%Y-%m-%d}")
    return Item("final_report", label, False, "no final progress report has been accepted")


def _outputs_listed(session: Session, agreement: Agreement) -> Item:
    listed = {i for r in _accepted_reports(session, agreement.id) for i in r.output_ids}
    produced = list(
        session.scalars(
            select(Output.id).where(
                Output.agreement_id == agreement.id, Output.status.in_(REPORTABLE_OUTPUTS)
            )
        )
    )
    missing = sorted(set(produced) - listed)
    label = "Outputs listed"
    if missing:
        return Item(
            "outputs_listed",
            label,
            False,
            "released outputs not in an accepted report: " + ", ".join(f"#{i}" for i in missing),
        )
    return Item("outputs_listed", label, True, f"{len(produced)} released output(s), all listed")


def _grants_ended(session: Session, agreement: Agreement) -> Item:
    live = list(
        session.scalars(
            select(Grant.id).where(
                Grant.agreement_id == agreement.id, Grant.status.in_(LIVE_GRANT_STATUSES)
            )
        )
    )
    label = "All grants ended"
    if live:
        return Item(
            "grants_ended", label, False, "still in force: " + ", ".join(f"#{i}" for i in live)
        )
    return Item("grants_ended", label, True, "no grant is active or paused")


def downloaders(session: Session, agreement_id: int) -> dict[int, str]:
    """Who downloaded rows under the agreement (from the audit trail): id to e-mail."""
    return {
        actor_id: email or ""
        for actor_id, email in session.execute(
            select(AuditEvent.actor_id, func.max(AuditEvent.actor_email))
            .where(
                of_type(AuditType.DATASET_DOWNLOAD),
                AuditEvent.outcome == Outcome.ALLOWED,
                AuditEvent.agreement_id == agreement_id,
                AuditEvent.actor_id.is_not(None),
            )
            .group_by(AuditEvent.actor_id)
        )
        if actor_id is not None
    }


def _downloads_attested(session: Session, agreement: Agreement) -> Item:
    recipients = downloaders(session, agreement.id)
    attested = set(
        session.scalars(
            select(Attachment.attesting_user_id).where(
                Attachment.agreement_id == agreement.id,
                Attachment.kind == AttachmentKind.DESTRUCTION_ATTESTATION,
            )
        )
    )
    missing = sorted(email for uid, email in recipients.items() if uid not in attested)
    label = "Downloads destroyed, attested by each recipient"
    if missing:
        return Item(
            "downloads_attested",
            label,
            False,
            "no destruction attestation from " + ", ".join(missing),
        )
    return Item(
        "downloads_attested",
        label,
        True,
        f"{len(recipients)} recipient(s) downloaded rows; each attested"
        if recipients
        else "nobody downloaded rows",
    )


def _data_destroyed(session: Session, agreement: Agreement) -> Item:
    label = "Stored data destroyed"
    if agreement.destruction_certified_at is None:
        return Item("data_destroyed", label, False, "the destruction has not been certified")
    version = agreement.current_version
    uncovered = (
        set(version.covered_dataset_ids) - still_covered(session, excluding=agreement.id)
        if version
        else set()
    )
    versions = session.scalar(
        select(func.count(DatasetVersion.id)).where(
            DatasetVersion.dataset_id.in_(uncovered or {-1}), DatasetVersion.destroyed_at.is_(None)
        )
    )
    cohorts = session.scalar(
        select(func.count(CohortFile.id)).where(
            CohortFile.agreement_id == agreement.id, CohortFile.destroyed_at.is_(None)
        )
    )
    documents = session.scalar(
        select(func.count(Attachment.id)).where(
            Attachment.agreement_id == agreement.id, Attachment.destroyed_at.is_(None)
        )
    )
    left = [
        f"{n} {what}"
        for n, what in (
            (versions, "dataset version(s)"),
            (cohorts, "cohort file(s)"),
            (documents, "attachment(s)"),
        )
        if n
    ]
    if left:
        return Item("data_destroyed", label, False, "still stored: " + ", ".join(left))
    return Item(
        "data_destroyed",
        label,
        True,
        f"certified on {agreement.destruction_certified_at:%Y-%m-%d}; nothing left readable",
    )


def _certificate(session: Session, agreement: Agreement) -> Item:
    issued = session.scalars(
        select(DestructionCertificate)
        .where(DestructionCertificate.agreement_id == agreement.id)
        .order_by(DestructionCertificate.id)
    ).first()
    label = "Destruction certificate issued"
    if issued is None:
        return Item("certificate", label, False, "no certificate has been issued")
    return Item(
        "certificate", label, True, f"certificate {issued.id} of {issued.certified_at:%Y-%m-%d}"
    )


def view_checklist(
    session: Session, *, agreement_id: int, by: Actor, now: dt.datetime
) -> tuple[Agreement, list[Item]]:
    """The checklist for those who close agreements or audit them; each view is recorded."""
    agreement = get_agreement(session, agreement_id)
    if not (
        authz.can(by, Permission.AGREEMENT_CERTIFY_DESTRUCTION)
        or authz.can(by, Permission.AUDIT_READ)
    ):
        raise PermissionDenied(
            "The close-out is for privacy officers and auditors.",
            audit={
                "event_type": AuditType.AGREEMENT_CLOSEOUT_VIEW,
                "agreement_id": agreement_id,
                "target_type": "agreement",
                "target_id": agreement_id,
            },
        )
    items = checklist(session, agreement)
    audit.record(
        session,
        AuditType.AGREEMENT_CLOSEOUT_VIEW,
        by=by,
        agreement_id=agreement.id,
        target_type="agreement",
        target_id=agreement.id,
        now=now,
        detail={"unmet": [i.key for i in items if not i.met]},
    )
    return agreement, items


def close_agreement(
    session: Session, *, agreement_id: int, by: Actor, now: dt.datetime
) -> Agreement:
    """Close the ended agreement: 403 without the permission, 409 if its state does not allow
    it or any close-out item does not hold (naming them)."""
    return agreements.close(
        session,
        agreement_id=agreement_id,
        unmet=lambda agreement: unmet(session, agreement),
        checked=CHECKLIST,
        by=by,
        now=now,
    )
