"""What an agreement asks of each person and of the project, read from the stored agreement:
the individual terms a person accepts (and their hash, so an amendment that changes them asks
everyone again), the project's ethics approvals (an agreement that requires one becomes active
only with one in force), and each person's attestations. The writes that recompute grants
(acceptance, approvals, attestations) are access/obligations.py.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.common import get_agreement
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.agreements.obligations_model import (
    Acceptance,
    Attestation,
    EthicsApproval,
)
from governance.audit.models import AuditType
from governance.identity.models import User
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import canonical_json

# The clauses that bind each authorised person (rather than the organisations): what each


# person is shown and accepts.


INDIVIDUAL_CLAUSES = (
    "scope.purpose",
    "scope.permitted_uses",
    "privacy.laws",
    "privacy.legal_basis",
    "privacy.required_training",
    "privacy.third_party_recipients",
    "privacy.no_identifiable_publication",
    "access.row_level_download",
    "retention.destruction_days",
    "personnel.attestation",
    "incidents.provider_notice",
)


LIVE_AGREEMENT = (AgreementStatus.APPROVED, AgreementStatus.EXECUTED, AgreementStatus.ACTIVE)


ENDED_AGREEMENT = (AgreementStatus.EXPIRED, AgreementStatus.TERMINATED, AgreementStatus.CLOSED)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day (31 January + 1 = 28 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def individual_terms(version: AgreementVersion) -> list[tuple[str, str, str]]:
    """The clauses that bind a person, as (clause id, label, value), in the agreement's order."""
    return [clause for clause in version.clauses() if clause[0] in INDIVIDUAL_CLAUSES]


def individual_terms_sha256(version: AgreementVersion) -> str:
    text = canonical_json([[cid, value] for cid, _label, value in individual_terms(version)])
    return hashlib.sha256(text.encode()).hexdigest()


def personnel_version(
    session: Session,
    agreement_id: int,
    by: User,
    event: AuditType,
    *,
    statuses: tuple[AgreementStatus, ...] = LIVE_AGREEMENT,
) -> tuple[Agreement, AgreementVersion]:
    """The version in force (or the last, for `statuses` past the end), when `by` is on its
    personnel list (else 403, recorded)."""
    agreement = get_agreement(session, agreement_id)
    version = agreement.current_version
    if version is None or agreement.status not in statuses or not version.is_personnel(by.id):
        raise PermissionDenied(
            "Only the authorised personnel of an agreement in force may do this.",
            clause="personnel",
            audit={
                "event_type": event,
                "agreement_id": agreement_id,
                "target_type": "agreement",
                "target_id": agreement_id,
            },
        )
    return agreement, version


def has_accepted(session: Session, version: AgreementVersion, user_id: int) -> bool:
    return (
        session.scalars(
            select(Acceptance.id).where(
                Acceptance.user_id == user_id,
                Acceptance.agreement_id == version.agreement_id,
                Acceptance.terms_sha256 == individual_terms_sha256(version),
            )
        ).first()
        is not None
    )


def activation_blocker(session: Session, version: AgreementVersion, now: dt.datetime) -> str | None:
    """Why an approved agreement cannot become active yet: a version that requires an ethics
    approval needs one in force (the scheduler activates it once one is recorded)."""
    if not version.ethics_required:
        return None
    today = now.date()
    in_force = session.scalars(
        select(EthicsApproval.id).where(
            EthicsApproval.agreement_id == version.agreement_id,
            EthicsApproval.approved_on <= today,
            EthicsApproval.expires_on >= today,
        )
    ).first()
    return (
        None
        if in_force is not None
        else (
            "The agreement requires an ethics approval in force (clause ethics.approval): it "
            "becomes active once a privacy officer records one."
        )
    )


def ethics_approvals(session: Session, agreement_id: int) -> list[EthicsApproval]:
    return list(
        session.scalars(
            select(EthicsApproval)
            .where(EthicsApproval.agreement_id == agreement_id)
            .order_by(EthicsApproval.id)
        )
    )


def latest_attestations(session: Session, agreement_id: int) -> dict[int, Attestation]:
    """Each person's latest attestation under the agreement (stewards see them in reviews)."""
    found: dict[int, Attestation] = {}
    for attestation in session.scalars(
        select(Attestation).where(Attestation.agreement_id == agreement_id).order_by(Attestation.id)
    ):
        found[attestation.user_id] = attestation
    return found


def latest_attestation(session: Session, *, user_id: int, agreement_id: int) -> Attestation | None:
    """The person's latest attestation under the agreement, or None if they never attested."""
    return session.scalars(
        select(Attestation)
        .where(Attestation.agreement_id == agreement_id, Attestation.user_id == user_id)
        .order_by(Attestation.attested_at.desc(), Attestation.id.desc())
        .limit(1)
    ).first()


def attestation_summary(attestation: Attestation | None) -> dict[str, str]:
    """An attestation as the access review shows it: the date, the answers and the copies
    held outside the service (empty strings when the person never attested)."""
    if attestation is None:
        return {
            "attested_on": "never",
            "still_needed": "",
            "kept_terms": "",
            "copies_outside": "",
        }
    return {
        "attested_on": f"{attestation.attested_at:%Y-%m-%d}",
        "still_needed": "yes" if attestation.still_needed else "no",
        "kept_terms": "yes" if attestation.kept_terms else "no",
        "copies_outside": "; ".join(attestation.copies_outside) or "none",
    }
