"""Data use agreements: drafting, review, amendment and the end of an agreement.

Each write takes the actor as `by=` and the moment it acts as `now=`, runs inside the caller's
transaction and never commits. Shape of every transition: permission (403, recorded as denied),
then the lifecycle table (409 naming the allowed actions), then separation of duties and the
terms (403 / 422), then the change, its audit event, and the listeners of
`agreement_events` — all in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.clauses import clause_diff
from governance.agreements.common import (
    actor_key,
    add_comment,
    add_contributor,
    available_actions,
    check_transition,
    current_version_of,
    get_agreement,
    move_agreement,
    record_agreement_event,
    required_text,
    start_transition,
    working_version_of,
)
from governance.agreements.endings import (
    certify_destruction,
    check_certify_destruction,
    close,
    expire,
    expiry_moment,
    terminate,
)
from governance.agreements.events import AgreementEvent, notify
from governance.agreements.execution import Countersignature, Execution, record_execution
from governance.agreements.impact import Impact, approved_digest, impact_now
from governance.agreements.law_fit import law_warnings
from governance.agreements.lifecycle import (
    EVENT_TYPES,
    VERSION_LIFECYCLE,
    Action,
    VersionAction,
    target_of,
)
from governance.agreements.models import (
    Agreement,
    AgreementStatus,
    AgreementVersion,
    VersionStatus,
)
from governance.agreements.obligations import activation_blocker
from governance.agreements.parts_model import CommentKind
from governance.agreements.terms import (
    TermsInput,
    check_terms,
    missing_for_submission,
    past_expiry,
    write_terms,
)
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.identity.actors import Actor
from governance.identity.organization_model import Organization, OrganizationKind
from governance.kernel.errors import InvalidTransition, ValidationFailed
from governance.kernel.text import clean_text

# The whole write API of agreements, importable from this one module.
__all__ = [
    "EVENT_TYPES",
    "Countersignature",
    "activate",
    "actor_key",
    "approval_gate",
    "approval_waiting",
    "approve",
    "available_actions",
    "certify_destruction",
    "check_approval",
    "check_certify_destruction",
    "check_transition",
    "close",
    "committee_return",
    "create_agreement",
    "discard_amendment",
    "execute",
    "expire",
    "expiry_moment",
    "get_agreement",
    "impact_approved",
    "impact_to_countersign",
    "on_version_submitted",
    "record_agreement_event",
    "return_to_draft",
    "start_amendment",
    "submit",
    "terminate",
    "update_draft",
]


#: Hooks the registry installs (committees sit above agreements and decide the approvals of
#: the agreements whose parties name one): called when a version is submitted (the committee
#: opens its case), and before a version is approved (a gate returns why the approval must
#: wait, None when it need not).
VersionSubmitted = Callable[[Session, Agreement, AgreementVersion, dt.datetime], None]
ApprovalGate = Callable[[Session, Agreement, AgreementVersion], "str | None"]
_on_submit: list[VersionSubmitted] = []
_approval_gates: list[ApprovalGate] = []


def on_version_submitted(hook: VersionSubmitted) -> VersionSubmitted:
    """Install a hook; installing it again has no effect."""
    if hook not in _on_submit:
        _on_submit.append(hook)
    return hook


def approval_gate(gate: ApprovalGate) -> ApprovalGate:
    """Install a gate; installing it again has no effect."""
    if gate not in _approval_gates:
        _approval_gates.append(gate)
    return gate


def approval_waiting(session: Session, agreement: Agreement) -> str | None:
    """What the submitted version's approval waits on (a committee's votes), for its page;
    None when nothing holds it (or no version is submitted)."""
    version = agreement.working_version
    if version is None or version.status != VersionStatus.SUBMITTED:
        return None
    for gate in _approval_gates:
        waiting = gate(session, agreement, version)
        if waiting is not None:
            return waiting
    return None


def _next_reference(session: Session, year: int) -> str:
    prefix = f"DUA-{year}-"
    numbers = session.scalars(
        select(Agreement.reference).where(Agreement.reference.like(f"{prefix}%"))
    ).all()
    highest = max(
        (int(ref[len(prefix) :]) for ref in numbers if ref[len(prefix) :].isdigit()), default=0
    )
    return f"{prefix}{highest + 1:03d}"


def create_agreement(
    session: Session,
    *,
    provider_id: int,
    recipient_id: int,
    terms: TermsInput,
    by: Actor,
    now: dt.datetime,
) -> Agreement:
    """Draft a new agreement (version 1) between a provider agency and a research
    organisation."""
    authz.require(
        by,
        Permission.AGREEMENT_DRAFT,
        audit={"event_type": AuditType.AGREEMENT_CREATE, "target_type": "agreement"},
    )
    errors: dict[str, str] = {}
    provider = session.get(Organization, provider_id)
    recipient = session.get(Organization, recipient_id)
    if provider is None or provider.kind != OrganizationKind.PROVIDER:
        errors["provider_id"] = "Choose a data-provider agency."
    if recipient is None or recipient.kind != OrganizationKind.RESEARCH:
        errors["recipient_id"] = "Choose a research organisation."
    if errors:
        raise ValidationFailed("The parties are not valid; nothing was saved.", errors)
    checked = check_terms(
        session,
        terms,
        provider_id=provider_id,
        recipient_id=recipient_id,
        today=now.astimezone(dt.UTC).date(),
    )
    for _attempt in range(5):
        agreement = Agreement(
            reference=_next_reference(session, now.year),
            provider_id=provider_id,
            recipient_id=recipient_id,
            provider=provider,
            recipient=recipient,
            status=AgreementStatus.DRAFT,
            created_by_id=by.id,
            working_version_number=1,
        )
        version = AgreementVersion(
            number=1,
            status=VersionStatus.DRAFT,
            contributors=[actor_key(by)],
            created_by_id=by.id,
            created_at=now,
            agreement=agreement,
        )
        write_terms(session, version, checked)
        try:
            with session.begin_nested():
                session.add(agreement)
                session.flush()
            break
        except IntegrityError:  # another transaction took the reference; take the next one
            continue
    else:
        raise ValidationFailed("Could not number the agreement; try again.")
    record_agreement_event(
        session,
        AuditType.AGREEMENT_CREATE,
        by=by,
        agreement=agreement,
        version=version,
        detail={
            "provider": agreement.provider.name,
            "recipient": agreement.recipient.name,
            "title": version.title,
            "clauses": {cid: value for cid, _l, value in version.clauses()},
        },
    )
    return agreement


def update_draft(
    session: Session, *, agreement_id: int, terms: TermsInput, by: Actor, now: dt.datetime
) -> AgreementVersion:
    """Change the draft (or the amendment being drafted); records what changed per clause."""
    agreement = start_transition(session, Action.EDIT, agreement_id, by)
    version = working_version_of(agreement)
    current = agreement.current_version
    if current is not None and terms.effective_date != current.effective_date:
        raise ValidationFailed(
            "An agreement in force keeps its effective date; nothing was saved.",
            {
                "effective_date": "An amendment cannot change the "
                f"effective date ({current.effective_date})."
            },
        )
    checked = check_terms(
        session,
        terms,
        provider_id=agreement.provider_id,
        recipient_id=agreement.recipient_id,
        today=now.astimezone(dt.UTC).date(),
    )
    before = version.clauses()
    write_terms(session, version, checked)
    add_contributor(version, by)
    session.flush()
    after = version.clauses()
    changes = [
        {"clause": cid, "label": label, "before": old, "after": new}
        for (cid, label, old), (_c, _l, new) in zip(before, after, strict=True)
        if old != new
    ]
    move_agreement(
        session, agreement, Action.EDIT, by=by, version=version, detail={"changes": changes}
    )
    return version


def submit(session: Session, *, agreement_id: int, by: Actor, now: dt.datetime) -> AgreementVersion:
    agreement = start_transition(session, Action.SUBMIT, agreement_id, by)
    version = working_version_of(agreement)
    missing = missing_for_submission(version)
    if past := past_expiry(version.expiry_date, now.astimezone(dt.UTC).date()):
        missing["expiry_date"] = past
    if missing:
        raise ValidationFailed(
            "The agreement is not complete enough to review; nothing was submitted.", missing
        )
    amendment = agreement.current_version is not None
    detail: dict[str, Any] = {"amendment": amendment}
    warnings = law_warnings(session, version)
    if warnings:
        detail["law_warnings"] = warnings
    if amendment:
        detail["changes"] = clause_diff(agreement.current_version, version)
    move_agreement(session, agreement, Action.SUBMIT, by=by, version=version, detail=detail)
    VERSION_LIFECYCLE.apply(session, version, VersionAction.SUBMIT, by=by)
    version.submitted_at = now
    version.submitted_by_id = by.id
    add_contributor(version, by)
    session.flush()
    for hook in _on_submit:
        hook(session, agreement, version, now)
    return version


def return_to_draft(
    session: Session, *, agreement_id: int, comment: str, by: Actor, now: dt.datetime
) -> AgreementVersion:
    """A reviewer sends the submitted version back with what to change."""
    agreement = start_transition(session, Action.RETURN, agreement_id, by)
    body = required_text(comment, "comment", "Say what should change")
    version = working_version_of(agreement)
    move_agreement(
        session, agreement, Action.RETURN, by=by, version=version, detail={"comment": body}
    )
    VERSION_LIFECYCLE.apply(session, version, VersionAction.RETURN, by=by)
    add_comment(version, CommentKind.RETURN, body, by, now)
    return version


def committee_return(
    session: Session,
    *,
    agreement_id: int,
    comment: str,
    detail: dict[str, Any],
    by: Actor,
    now: dt.datetime,
) -> AgreementVersion:
    """A committee rejected the submitted version: it goes back to draft with the decision as
    the return comment. `by` is the committee (a System actor): its case has checked the rule
    and who voted, and records the members' votes itself."""
    agreement = get_agreement(session, agreement_id)
    version = working_version_of(agreement)
    move_agreement(
        session,
        agreement,
        Action.RETURN,
        by=by,
        version=version,
        detail={"comment": comment, **detail},
    )
    VERSION_LIFECYCLE.apply(session, version, VersionAction.RETURN, by=by)
    add_comment(version, CommentKind.RETURN, comment, by, now)
    return version


def _independent_approver(agreement: Agreement, by: Actor) -> AgreementVersion:
    """The version to approve, unless `by` drafted, edited or submitted it (403, recorded)."""
    version = working_version_of(agreement)
    rules.require(
        rules.not_a_contributor,
        by,
        version,
        actor_key(by),
        message="You drafted, edited or submitted this version: another privacy officer must "
        "approve it (separation of duties).",
        audit={
            "event_type": AuditType.AGREEMENT_APPROVE,
            "target_type": "agreement",
            "target_id": agreement.id,
            "agreement_id": agreement.id,
            "agreement_version": version.number,
        },
    )
    return version


def check_approval(session: Session, agreement_id: int, by: Actor) -> None:
    """`check_transition` for an approval, with its separation of duties; changes nothing."""
    _independent_approver(check_transition(session, Action.APPROVE, agreement_id, by), by)


def approve(
    session: Session, *, agreement_id: int, comment: str = "", by: Actor, now: dt.datetime
) -> AgreementVersion:
    """Approve the submitted version. Either waits for the provider's countersignature
    (`execute`): a first version to become active, an amendment to replace the version in
    force, which governs until then."""
    agreement = start_transition(session, Action.APPROVE, agreement_id, by)
    version = _independent_approver(agreement, by)
    for gate in _approval_gates:
        waiting = gate(session, agreement, version)
        if waiting is not None:
            raise InvalidTransition(f"{waiting} Nothing was approved.", allowed=[Action.RETURN])
    if past := past_expiry(version.expiry_date, now.astimezone(dt.UTC).date()):
        raise ValidationFailed(
            "The expiry date has passed; return the agreement to change it. Nothing was approved.",
            {"expiry_date": past},
        )
    errors: dict[str, str] = {}
    body = clean_text(comment, "comment", errors, max_length=5000, required=False)
    if errors:
        raise ValidationFailed("The comment is not valid; nothing was approved.", errors)
    previous = agreement.current_version
    detail: dict[str, Any] = {"amendment": previous is not None, "comment": body}
    # Approving despite the warning that a cited law does not fit the data is recorded.
    warnings = law_warnings(session, version)
    if warnings:
        detail["law_warnings"] = warnings
    if previous is not None:
        detail.update(
            amends_version=previous.number,
            changes=clause_diff(previous, version),
            awaiting="the provider's countersignature",
        )
        # What the approval agreed the amendment would do, for the countersignature to compare.
        approved_impact = impact_now(session, agreement, version)
        if approved_impact is not None:
            detail["impact_digest"] = approved_impact.digest
    # The agreement moves first: its state is read from the working version changed below.
    move_agreement(session, agreement, Action.APPROVE, by=by, version=version, detail=detail)
    VERSION_LIFECYCLE.apply(
        session,
        version,
        VersionAction.APPROVE,
        by=by,
        target=VersionStatus.APPROVED if previous is None else VersionStatus.AWAITING_SIGNATURE,
    )
    version.approved_at = now
    version.approved_by_id = by.id
    version.approved_by_label = by.email
    if body:
        add_comment(version, CommentKind.APPROVAL, body, by, now)
    if previous is None:
        agreement.current_version_number = version.number
        agreement.working_version_number = None
    session.flush()
    return version


def execute(
    session: Session,
    *,
    agreement_id: int,
    signature: Countersignature,
    impact_digest: str | None = None,
    by: Actor,
    now: dt.datetime,
) -> Execution:
    """Record the provider's countersignature. A countersigned amendment replaces the version
    in force at once, applying exactly the impact shown (`impact_digest`, from
    `impact_to_countersign`: the listeners end or narrow the grants it no longer covers); a
    first version makes the agreement active at once if its effective date has come (and the
    ethics approval it requires, if any, is in force)."""
    execution = record_execution(
        session,
        agreement_id=agreement_id,
        signature=signature,
        impact_digest=impact_digest,
        by=by,
        now=now,
    )
    version = execution.version
    if execution.superseded is not None:
        notify(
            session,
            agreement=version.agreement,
            event=AgreementEvent.AMENDED,
            previous_version=execution.superseded,
            new_version=version,
            by=by,
            now=now,
        )
        return execution
    today = now.astimezone(dt.UTC).date()
    if version.effective_date <= today and not activation_blocker(session, version, now):
        activate(session, agreement=version.agreement, by=by, now=now)
    return execution


def impact_to_countersign(session: Session, agreement: Agreement) -> Impact | None:
    """The impact of the amendment awaiting the provider's countersignature, as it is now:
    what recording the countersignature would apply. None when no amendment awaits it."""
    version = agreement.version_to_countersign
    if version is None or version is not agreement.working_version:
        return None
    return impact_now(session, agreement, version)


def impact_approved(session: Session, agreement: Agreement) -> str | None:
    """The digest of the impact the awaiting amendment's approval agreed to, if recorded."""
    version = agreement.working_version
    return approved_digest(session, agreement, version) if version is not None else None


def activate(session: Session, *, agreement: Agreement, by: Actor, now: dt.datetime) -> None:
    """Put an approved agreement in force (from approval, or from the scheduler)."""
    target_of(agreement, Action.ACTIVATE)
    version = current_version_of(agreement)
    move_agreement(
        session,
        agreement,
        Action.ACTIVATE,
        by=by,
        version=version,
        detail={"effective_date": version.effective_date.isoformat(), "as_of": now.isoformat()},
    )
    notify(
        session,
        agreement=agreement,
        event=AgreementEvent.ACTIVATED,
        previous_version=None,
        new_version=version,
        by=by,
        now=now,
    )


def start_amendment(
    session: Session, *, agreement_id: int, reason: str, by: Actor, now: dt.datetime
) -> AgreementVersion:
    """Open an amendment: a copy of the version in force, which stays in force until the
    amendment is approved and countersigned by the provider."""
    agreement = start_transition(session, Action.AMEND, agreement_id, by)
    body = required_text(reason, "reason", "Give the reason for the amendment")
    current = current_version_of(agreement)
    number = max(v.number for v in agreement.versions) + 1
    checked = check_terms(
        session,
        TermsInput.from_version(current),
        provider_id=agreement.provider_id,
        recipient_id=agreement.recipient_id,
        today=now.astimezone(dt.UTC).date(),
    )
    version = AgreementVersion(
        number=number,
        status=VersionStatus.DRAFT,
        change_summary=body,
        contributors=[actor_key(by)],
        created_by_id=by.id,
        created_at=now,
    )
    agreement.versions.append(version)
    write_terms(session, version, checked)
    add_comment(version, CommentKind.AMENDMENT_REASON, body, by, now)
    session.flush()
    move_agreement(
        session,
        agreement,
        Action.AMEND,
        by=by,
        version=version,
        detail={"reason": body, "amends_version": current.number},
    )
    agreement.working_version_number = number
    return version


def discard_amendment(
    session: Session, *, agreement_id: int, by: Actor, now: dt.datetime
) -> AgreementVersion:
    """Withdraw the amendment being drafted, or one approved that the provider declined to
    sign; the version in force stays as it is."""
    agreement = start_transition(session, Action.DISCARD_AMENDMENT, agreement_id, by)
    version = working_version_of(agreement)
    move_agreement(
        session,
        agreement,
        Action.DISCARD_AMENDMENT,
        by=by,
        version=version,
        detail={"as_of": now.isoformat(), "version_status": str(version.status)},
    )
    VERSION_LIFECYCLE.apply(session, version, VersionAction.DISCARD, by=by)
    agreement.working_version_number = None
    return version
