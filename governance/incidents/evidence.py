"""Evidence-pack sections for obligations over time: each incident under the agreement with its
notification clocks and the audit segment around it (from a day before it was reported to its
closure), and the personal acceptances, attestations and ethics approvals recorded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.obligations_model import Acceptance, Attestation, EthicsApproval
from governance.audit.evidence import ROW_LIMIT, EvidenceSection
from governance.audit.models import AuditEvent
from governance.identity.models import User
from governance.incidents.models import Incident, IncidentAgreement
from governance.kernel.types import utcnow

# How far before a report the audit segment starts: what led to the incident.
SEGMENT_BEFORE = dt.timedelta(days=1)


def _moment(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def incidents_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    found = session.scalars(
        select(Incident)
        .join(IncidentAgreement, IncidentAgreement.incident_id == Incident.id)
        .where(IncidentAgreement.agreement_id == agreement_id)
        .order_by(Incident.id)
    ).all()
    sections = [
        EvidenceSection(
            title="Incidents",
            columns=(
                "Incident",
                "Kind",
                "Reported",
                "By",
                "Frozen",
                "Closed",
                "Root cause",
                "Actions taken",
            ),
            rows=[
                (
                    f"#{i.id}",
                    i.kind_label,
                    _moment(i.reported_at),
                    i.reported_by_label,
                    _moment(i.frozen_at),
                    _moment(i.closed_at),
                    i.root_cause,
                    i.actions_taken,
                )
                for i in found
            ],
            summary=f"{len(found)} incidents involving the agreement.",
        )
    ]
    for incident in found:
        sections.append(
            EvidenceSection(
                title=f"Incident #{incident.id}: notification deadlines",
                columns=("To", "Rule", "Due", "Sent", "Acknowledged"),
                rows=[
                    (
                        c.recipient,
                        c.rule,
                        _moment(c.due_at),
                        _moment(c.sent_at),
                        _moment(c.acknowledged_at),
                    )
                    for c in incident.clocks
                    if c.agreement_id == agreement_id
                ],
                summary="Late: "
                + (
                    ", ".join(
                        c.recipient for c in incident.clocks if c.sent_at and c.sent_at > c.due_at
                    )
                    or "none"
                ),
            )
        )
        until = incident.closed_at or utcnow()
        events = session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.agreement_id == agreement_id,
                AuditEvent.occurred_at >= incident.reported_at - SEGMENT_BEFORE,
                AuditEvent.occurred_at <= until,
            )
            .order_by(AuditEvent.seq)
            .limit(ROW_LIMIT + 1)
        ).all()
        sections.append(
            EvidenceSection(
                title=f"Incident #{incident.id}: the audit trail around it",
                columns=("Seq", "Time", "Event", "Outcome", "Actor", "Clause"),
                rows=[
                    (
                        e.seq,
                        _moment(e.occurred_at),
                        e.event_type,
                        e.outcome,
                        e.actor_email or "",
                        e.clause or "",
                    )
                    for e in events[:ROW_LIMIT]
                ],
                total=len(events) if len(events) > ROW_LIMIT else None,
                summary="From a day before the report to the closure; the hash chain of these "
                "events is verified with the whole trail.",
            )
        )
    return sections


def obligations_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    emails = dict(session.execute(select(User.id, User.email)).all())
    acceptances = session.scalars(
        select(Acceptance).where(Acceptance.agreement_id == agreement_id).order_by(Acceptance.id)
    ).all()
    attestations = session.scalars(
        select(Attestation).where(Attestation.agreement_id == agreement_id).order_by(Attestation.id)
    ).all()
    approvals = session.scalars(
        select(EthicsApproval)
        .where(EthicsApproval.agreement_id == agreement_id)
        .order_by(EthicsApproval.id)
    ).all()
    return [
        EvidenceSection(
            title="Ethics approvals",
            columns=("Board", "Reference", "Approved", "Expires", "Recorded", "By"),
            rows=[
                (
                    a.board,
                    a.reference,
                    a.approved_on.isoformat(),
                    a.expires_on.isoformat(),
                    _moment(a.recorded_at),
                    a.recorded_by_label,
                )
                for a in approvals
            ],
            summary=f"{len(approvals)} approvals recorded.",
        ),
        EvidenceSection(
            title="Personal acceptance of the terms",
            columns=("Person", "Version", "Terms SHA-256", "Accepted"),
            rows=[
                (
                    emails.get(a.user_id, a.user_id),
                    a.version_number,
                    a.terms_sha256[:16],
                    _moment(a.accepted_at),
                )
                for a in acceptances
            ][:ROW_LIMIT],
            summary=f"{len(acceptances)} acceptances, each confirmed with a password.",
        ),
        EvidenceSection(
            title="Attestations",
            columns=("Person", "Attested", "Next due", "Copies outside the service"),
            rows=[
                (
                    emails.get(a.user_id, a.user_id),
                    _moment(a.attested_at),
                    a.due_on.isoformat(),
                    ", ".join(a.copies_outside) or "None",
                )
                for a in attestations
            ][:ROW_LIMIT],
            summary=f"{len(attestations)} attestations.",
        ),
    ]
