"""Administering committees: create one, add and remove members, set its rule, and name the
committee that decides for an agreement, a dataset or an organisation. Each change is
audited in its transaction; the caller commits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.committees.models import (
    Committee,
    CommitteeAssignment,
    CommitteeMember,
    DecisionRule,
    MemberRole,
    SubjectType,
)
from governance.datasets.models import Dataset
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.identity.organization_model import Organization
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed

MAX_DECISION_DAYS = 365


def get_committee(session: Session, committee_id: int) -> Committee:
    committee = session.get(Committee, committee_id)
    if committee is None:
        raise NotFound(f"There is no committee {committee_id}.")
    return committee


def list_committees(session: Session) -> list[Committee]:
    return list(session.scalars(select(Committee).order_by(Committee.name)))


def _require_manage(by: Actor, event: AuditType, committee_id: int | None = None) -> None:
    authz.require(
        by,
        Permission.COMMITTEE_MANAGE,
        audit={"event_type": event, "target_type": "committee", "target_id": committee_id},
    )


def _check_rule(rule: str, quorum: int | None, decision_days: int) -> DecisionRule:
    try:
        chosen = DecisionRule(rule)
    except ValueError:
        raise ValidationFailed("Unknown decision rule.", {"rule": rule}) from None
    if chosen == DecisionRule.QUORUM and (quorum is None or quorum < 1):
        raise ValidationFailed("A quorum rule needs a quorum of at least 1.", {"quorum": "≥ 1"})
    if not 1 <= decision_days <= MAX_DECISION_DAYS:
        raise ValidationFailed(
            f"Decision days are from 1 to {MAX_DECISION_DAYS}.", {"decision_days": "Out of range."}
        )
    return chosen


def _rule_detail(committee: Committee) -> dict[str, Any]:
    return {
        "rule": str(committee.rule),
        "quorum": committee.quorum,
        "chair_casting_vote": committee.chair_casting_vote,
        "decision_days": committee.decision_days,
    }


def create_committee(
    session: Session,
    *,
    name: str,
    organization_id: int,
    rule: str,
    quorum: int | None,
    chair_casting_vote: bool,
    decision_days: int,
    by: Actor,
    now: dt.datetime,
) -> Committee:
    _require_manage(by, AuditType.COMMITTEE_CREATE)
    clean = name.strip()
    if not clean or len(clean) > 200:
        raise ValidationFailed("A committee needs a name (200 characters at most).", {"name": ""})
    if session.get(Organization, organization_id) is None:
        raise ValidationFailed("Unknown organisation.", {"organization_id": "Unknown."})
    if session.scalar(select(Committee.id).where(Committee.name == clean)) is not None:
        raise ValidationFailed("A committee of that name exists.", {"name": "Already used."})
    chosen = _check_rule(rule, quorum, decision_days)
    committee = Committee(
        name=clean,
        organization_id=organization_id,
        rule=chosen,
        quorum=quorum if chosen == DecisionRule.QUORUM else None,
        chair_casting_vote=chair_casting_vote,
        decision_days=decision_days,
    )
    session.add(committee)
    session.flush()
    audit.record(
        session,
        AuditType.COMMITTEE_CREATE,
        by=by,
        target_type="committee",
        target_id=committee.id,
        detail={"name": clean, "organization_id": organization_id, **_rule_detail(committee)},
        now=now,
    )
    return committee


def set_rule(
    session: Session,
    *,
    committee_id: int,
    rule: str,
    quorum: int | None,
    chair_casting_vote: bool,
    decision_days: int,
    by: Actor,
    now: dt.datetime,
) -> Committee:
    """Change the rule; open cases are decided under it from their next vote."""
    _require_manage(by, AuditType.COMMITTEE_RULE, committee_id)
    committee = get_committee(session, committee_id)
    chosen = _check_rule(rule, quorum, decision_days)
    before = _rule_detail(committee)
    committee.rule = chosen
    committee.quorum = quorum if chosen == DecisionRule.QUORUM else None
    committee.chair_casting_vote = chair_casting_vote
    committee.decision_days = decision_days
    audit.record(
        session,
        AuditType.COMMITTEE_RULE,
        by=by,
        target_type="committee",
        target_id=committee.id,
        detail={"before": before, "after": _rule_detail(committee)},
        now=now,
    )
    return committee


def add_member(
    session: Session, *, committee_id: int, user_id: int, role: str, by: Actor, now: dt.datetime
) -> CommitteeMember:
    _require_manage(by, AuditType.COMMITTEE_MEMBER_ADD, committee_id)
    committee = get_committee(session, committee_id)
    try:
        chosen = MemberRole(role)
    except ValueError:
        raise ValidationFailed(
            "A member is a chair, a member or an observer.", {"role": role}
        ) from None
    person = session.get(User, user_id)
    if person is None or not person.is_active:
        raise ValidationFailed("Unknown or inactive person.", {"user_id": "Unknown."})
    if committee.role_of(user_id) is not None:
        raise InvalidTransition(f"{person.email} is already a member of {committee.name}.")
    if chosen == MemberRole.CHAIR and committee.chair_id is not None:
        raise InvalidTransition(
            f"{committee.name} already has a chair: remove them first.", allowed=[]
        )
    member = CommitteeMember(committee_id=committee.id, user_id=user_id, role=chosen)
    committee.members.append(member)
    session.flush()
    audit.record(
        session,
        AuditType.COMMITTEE_MEMBER_ADD,
        by=by,
        target_type="committee",
        target_id=committee.id,
        detail={"member": person.email, "role": str(chosen)},
        now=now,
    )
    return member


def remove_member(
    session: Session, *, committee_id: int, user_id: int, by: Actor, now: dt.datetime
) -> None:
    _require_manage(by, AuditType.COMMITTEE_MEMBER_REMOVE, committee_id)
    committee = get_committee(session, committee_id)
    member = next((m for m in committee.members if m.user_id == user_id), None)
    if member is None:
        raise NotFound(f"Person {user_id} is not a member of {committee.name}.")
    person = session.get(User, user_id)
    committee.members.remove(member)
    audit.record(
        session,
        AuditType.COMMITTEE_MEMBER_REMOVE,
        by=by,
        target_type="committee",
        target_id=committee.id,
        detail={"member": person.email if person else user_id, "role": str(member.role)},
        now=now,
    )


_SUBJECT_MODELS: dict[SubjectType, type[Any]] = {
    SubjectType.AGREEMENT: Agreement,
    SubjectType.DATASET: Dataset,
    SubjectType.ORGANIZATION: Organization,
}


def assign(
    session: Session,
    *,
    committee_id: int | None,
    subject_type: str,
    subject_id: int,
    by: Actor,
    now: dt.datetime,
) -> CommitteeAssignment | None:
    """Name the committee that decides the requests of an agreement, a dataset or an
    organisation (None: nobody named, the stewards decide). Requests already submitted stay
    with whoever was deciding them."""
    _require_manage(by, AuditType.COMMITTEE_ASSIGN, committee_id)
    try:
        kind = SubjectType(subject_type)
    except ValueError:
        raise ValidationFailed(
            "A committee decides for an agreement, a dataset or an organisation.",
            {"subject_type": subject_type},
        ) from None
    if session.get(_SUBJECT_MODELS[kind], subject_id) is None:
        raise ValidationFailed(f"There is no {kind} {subject_id}.", {"subject_id": "Unknown."})
    committee = get_committee(session, committee_id) if committee_id is not None else None
    found = session.scalar(
        select(CommitteeAssignment).where(
            CommitteeAssignment.subject_type == kind, CommitteeAssignment.subject_id == subject_id
        )
    )
    before = found.committee_id if found else None
    if committee is None:
        if found is not None:
            session.delete(found)
    elif found is None:
        found = CommitteeAssignment(
            committee_id=committee.id, subject_type=kind, subject_id=subject_id
        )
        session.add(found)
    else:
        found.committee_id = committee.id
    session.flush()
    audit.record(
        session,
        AuditType.COMMITTEE_ASSIGN,
        by=by,
        target_type="committee",
        target_id=committee_id,
        agreement_id=subject_id if kind == SubjectType.AGREEMENT else None,
        dataset_id=subject_id if kind == SubjectType.DATASET else None,
        detail={
            "subject_type": str(kind),
            "subject_id": subject_id,
            "before": before,
            "committee": committee.name if committee else None,
        },
        now=now,
    )
    return found if committee is not None else None


def assignments_of(session: Session, committee_id: int) -> list[CommitteeAssignment]:
    return list(
        session.scalars(
            select(CommitteeAssignment)
            .where(CommitteeAssignment.committee_id == committee_id)
            .order_by(CommitteeAssignment.subject_type, CommitteeAssignment.subject_id)
        )
    )


def require_manage_view(by: Actor) -> None:
    """Listing every committee is for those who administer them."""
    authz.require(
        by,
        Permission.COMMITTEE_MANAGE,
        audit={"event_type": AuditType.COMMITTEE_READ, "target_type": "committee"},
    )


def people(session: Session) -> list[User]:
    """The people who can be made members (active accounts), by e-mail."""
    return list(session.scalars(select(User).where(User.active).order_by(User.email)))


def names(session: Session, user_ids: list[int]) -> dict[int, str]:
    return {u.id: u.email for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
