"""People's own commitments under an agreement, and the project's ethics approvals, written.

- Acceptance: each authorised person accepts, with their password, the terms of the version
  that bind them personally; the acceptance records the hash of those terms, so an amendment
  that changes them asks everyone again and one that does not carries the acceptance over.
- Ethics approvals: recorded by a privacy officer from the board's letter, never edited.
- Attestation: every `attestation_months`, each person confirms they still need the access and
  kept the terms, and lists the copies they hold outside the service; reminded two weeks ahead.

Each write recomputes the affected grants' effective ends in the same transaction
(conditions.refresh), so a paused grant resumes at once and a lapse refuses the next read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access import conditions as grant_conditions
from governance.access.models import LIVE_GRANT_STATUSES, Grant
from governance.agreements.common import get_agreement
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.obligations import (
    ENDED_AGREEMENT,
    add_months,
    individual_terms_sha256,
    personnel_version,
)
from governance.agreements.obligations_model import (
    Acceptance,
    Attestation,
    AttestationReminder,
    EthicsApproval,
)
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.attachment_model import Attachment, AttachmentKind
from governance.identity import passwords
from governance.identity.actors import Actor, System
from governance.identity.models import User
from governance.kernel import notify
from governance.kernel.errors import InvalidTransition, PermissionDenied, ValidationFailed
from governance.kernel.text import clean_line, clean_lines, clean_text

# What an ethics approval may name as its approved protocol document.
PROTOCOL_KINDS = (AttachmentKind.PROTOCOL, AttachmentKind.ETHICS_LETTER)

# How long before an attestation falls due each person is reminded (once).
REMIND_BEFORE = dt.timedelta(days=14)


def _refresh(
    session: Session, *, by: Actor, now: dt.datetime, agreement_id: int, user_id: int | None = None
) -> None:
    query = select(Grant).where(
        Grant.agreement_id == agreement_id, Grant.status.in_(LIVE_GRANT_STATUSES)
    )
    if user_id is not None:
        query = query.where(Grant.user_id == user_id)
    grant_conditions.refresh(
        session, list(session.scalars(query.order_by(Grant.id))), by=by, now=now
    )


def accept_terms(
    session: Session,
    *,
    agreement_id: int,
    version_number: int,
    password: str,
    by: User,
    now: dt.datetime,
) -> Acceptance:
    """The person accepts the individual terms of the version in force, confirming with their
    password (someone at an unlocked screen cannot accept on their behalf)."""
    agreement, version = personnel_version(session, agreement_id, by, AuditType.AGREEMENT_ACCEPT)
    if version.number != version_number:
        raise ValidationFailed(
            f"Version {version_number} is not the version in force "
            f"(version {version.number}): reload the page.",
            {"version": "Not the version in force."},
        )
    if not passwords.verify_password(by.password_hash, password):
        raise PermissionDenied(
            "The password is not correct: the terms were not accepted.",
            audit={
                "event_type": AuditType.AGREEMENT_ACCEPT,
                "agreement_id": agreement.id,
                "agreement_version": version.number,
                "target_type": "agreement",
                "target_id": agreement.id,
                "detail": {"reason": "re-authentication failed"},
            },
        )
    sha = individual_terms_sha256(version)
    acceptance = Acceptance(
        agreement_id=agreement.id,
        version_number=version.number,
        user_id=by.id,
        terms_sha256=sha,
        accepted_at=now,
    )
    session.add(acceptance)
    session.flush()
    audit.record(
        session,
        AuditType.AGREEMENT_ACCEPT,
        by=by,
        agreement_id=agreement.id,
        agreement_version=version.number,
        target_type="agreement",
        target_id=agreement.id,
        clause="personnel.acceptance",
        detail={"terms_sha256": sha, "reference": agreement.reference},
        now=now,
    )
    _refresh(session, by=by, now=now, agreement_id=agreement.id, user_id=by.id)
    return acceptance


def record_ethics_approval(
    session: Session,
    *,
    agreement_id: int,
    board: str,
    reference: str,
    approved_on: dt.date,
    expires_on: dt.date,
    protocol: str = "",
    amends_id: int | None = None,
    protocol_attachment_id: int | None = None,
    by: Actor,
    now: dt.datetime,
) -> EthicsApproval:
    """Record a board's approval from its letter. It is in force from the moment it is
    recorded (or its approval date, if later): a late recording never covers earlier reads."""
    authz.require(
        by,
        Permission.ETHICS_RECORD,
        audit={
            "event_type": AuditType.ETHICS_RECORD,
            "agreement_id": agreement_id,
            "target_type": "agreement",
            "target_id": agreement_id,
        },
    )
    agreement = get_agreement(session, agreement_id)
    if agreement.status in ENDED_AGREEMENT:
        raise InvalidTransition(f"The agreement is {agreement.status}: no approval to record.")
    errors: dict[str, str] = {}
    board = clean_line(board, "board", errors, max_length=200)
    reference = clean_line(reference, "reference", errors, max_length=120)
    protocol = clean_text(protocol, "protocol", errors, max_length=20_000, required=False)
    if approved_on > now.date():
        errors["approved_on"] = "An approval cannot be dated in the future."
    if expires_on <= approved_on:
        errors["expires_on"] = "Must be after the approval date."
    elif expires_on < now.date():
        errors["expires_on"] = "This approval has already expired: record the renewal."
    if protocol_attachment_id is not None:
        document = session.get(Attachment, protocol_attachment_id)
        if (
            document is None
            or document.agreement_id != agreement.id
            or document.kind not in PROTOCOL_KINDS
        ):
            errors["protocol_attachment_id"] = (
                "Name an approved protocol or ethics letter filed with this agreement."
            )
    if amends_id is not None:
        amended = session.get(EthicsApproval, amends_id)
        if amended is None or amended.agreement_id != agreement.id:
            errors["amends_id"] = "Not an approval of this agreement."
    if errors:
        raise ValidationFailed("The ethics approval was not recorded.", errors)
    approval = EthicsApproval(
        agreement_id=agreement.id,
        board=board,
        reference=reference,
        approved_on=approved_on,
        expires_on=expires_on,
        protocol=protocol,
        amends_id=amends_id,
        protocol_attachment_id=protocol_attachment_id,
        recorded_by_id=by.id,
        recorded_by_label=by.email,
        recorded_at=now,
    )
    session.add(approval)
    session.flush()
    audit.record(
        session,
        AuditType.ETHICS_RECORD,
        by=by,
        agreement_id=agreement.id,
        target_type="ethics_approval",
        target_id=approval.id,
        clause="ethics.approval",
        detail={
            "board": board,
            "reference": reference,
            "approved_on": approved_on.isoformat(),
            "expires_on": expires_on.isoformat(),
            "amends_id": amends_id,
        },
        now=now,
    )
    _refresh(session, by=by, now=now, agreement_id=agreement.id)
    return approval


def record_attestation(
    session: Session,
    *,
    agreement_id: int,
    still_needed: bool,
    kept_terms: bool,
    copies_outside: str,
    by: User,
    now: dt.datetime,
) -> Attestation:
    """The person's periodic attestation; the next one falls due a period later."""
    agreement, version = personnel_version(session, agreement_id, by, AuditType.ATTESTATION_RECORD)
    errors: dict[str, str] = {}
    copies = clean_lines(copies_outside, "copies_outside", errors, max_length=500)
    if not version.attestation_months:
        errors["agreement"] = "This agreement asks for no attestation."
    if not still_needed:
        errors["still_needed"] = (
            "If you no longer need the access, ask the steward to end "
            "your grants instead of attesting."
        )
    if not kept_terms:
        errors["kept_terms"] = (
            "If you did not keep the terms, report an incident: the attestation cannot be recorded."
        )
    if copies and not version.allows_row_level_download:
        errors["copies_outside"] = (
            "The agreement does not allow row-level data outside the "
            "service: report these copies as an incident."
        )
    if errors:
        raise ValidationFailed("The attestation was not recorded.", errors)
    assert version.attestation_months is not None
    attestation = Attestation(
        agreement_id=agreement.id,
        user_id=by.id,
        attested_at=now,
        still_needed=True,
        kept_terms=True,
        copies_outside=copies,
        due_on=add_months(now.date(), version.attestation_months),
    )
    session.add(attestation)
    session.flush()
    audit.record(
        session,
        AuditType.ATTESTATION_RECORD,
        by=by,
        agreement_id=agreement.id,
        agreement_version=version.number,
        target_type="attestation",
        target_id=attestation.id,
        clause="personnel.attestation",
        detail={"copies_outside": copies, "due_on": attestation.due_on.isoformat()},
        now=now,
    )
    _refresh(session, by=by, now=now, agreement_id=agreement.id, user_id=by.id)
    return attestation


def attestation_due(
    session: Session,
    grants: Sequence[Grant],
    versions: Mapping[tuple[int, int], AgreementVersion],
) -> dict[tuple[int, int], dt.date]:
    """The day each holder's attestation falls due, by (user id, agreement id), for grants
    under versions that ask for one: the latest attestation's due date, else one period after
    the earliest of the person's grants began."""
    asked = [
        g
        for g in grants
        if (v := versions.get((g.agreement_id, g.agreement_version))) is not None
        and v.attestation_months
    ]
    if not asked:
        return {}
    attested: dict[tuple[int, int], dt.date] = {}
    for user_id, agreement_id, due_on in session.execute(
        select(Attestation.user_id, Attestation.agreement_id, Attestation.due_on).where(
            Attestation.user_id.in_({g.user_id for g in asked}),
            Attestation.agreement_id.in_({g.agreement_id for g in asked}),
        )
    ):
        key = (user_id, agreement_id)
        attested[key] = max(due_on, attested.get(key, due_on))
    due: dict[tuple[int, int], dt.date] = {}
    for grant in asked:
        key = (grant.user_id, grant.agreement_id)
        months = versions[(grant.agreement_id, grant.agreement_version)].attestation_months
        assert months is not None
        first = add_months(grant.valid_from.date(), months)
        due[key] = attested.get(key, min(first, due.get(key, first)))
    return due


def remind_attestations(session: Session, actor: System, now: dt.datetime) -> int:
    """Tell each person once, REMIND_BEFORE before it, that their attestation falls due."""
    grants = list(
        session.scalars(
            select(Grant).where(Grant.status.in_(LIVE_GRANT_STATUSES)).order_by(Grant.id)
        )
    )
    due = attestation_due(session, grants, grant_conditions.versions_of(session, grants))
    sent = {
        (r.user_id, r.agreement_id, r.due_on)
        for r in session.scalars(
            select(AttestationReminder).where(AttestationReminder.due_on >= now.date())
        )
    }
    count = 0
    for (user_id, agreement_id), due_on in sorted(due.items()):
        if (
            not now.date() <= due_on <= now.date() + REMIND_BEFORE
            or (user_id, agreement_id, due_on) in sent
        ):
            continue
        person, agreement = session.get(User, user_id), session.get(Agreement, agreement_id)
        if person is None or agreement is None or not person.active:
            continue
        session.add(
            AttestationReminder(
                user_id=user_id, agreement_id=agreement_id, due_on=due_on, sent_at=now
            )
        )
        notify.queue(
            session,
            to=[person.email],
            subject=f"{grant_conditions.SUBJECT_PREFIX} Your attestation under "
            f"{agreement.reference} is due on {due_on.isoformat()}",
            body="Confirm that you still need the access, that you have kept the "
            "terms, and list any copies held outside the service; your access "
            "pauses if the attestation is overdue.\n\n"
            + notify.link(session, f"/agreements/{agreement_id}/obligations"),
        )
        count += 1
    return count
