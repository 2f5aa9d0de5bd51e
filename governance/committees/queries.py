"""What the committee's pages, the dashboard and the requester read about committee cases."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.models import AccessRequest, RequestStatus
from governance.access.queries import CommitteeWait
from governance.agreements.clauses import clause_diff, render_clauses
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.queries import in_force_version
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.committees import conditions as terms
from governance.committees.cases import Subject, get_case, is_open, parts, tally, voters
from governance.committees.decision import Tally
from governance.committees.models import (
    Committee,
    CommitteeCase,
    CommitteeMember,
    MemberRole,
)
from governance.datasets.models import Dataset
from governance.identity.actors import Actor
from governance.identity.models import TrainingRecord, User
from governance.kernel.errors import PermissionDenied
from governance.kernel.tasks import Task, guarded

RULE_WORDS = {
    "all": "every member approves",
    "majority": "majority",
    "quorum": "quorum of {quorum}, then majority",
    "any_no_blocks": "any rejection blocks",
}
# The clauses a case relies on: what the agreement covers and on what terms access is given.
CASE_CLAUSES = ("scope.", "access.", "privacy.", "personnel")


def rule_words(committee: Committee) -> str:
    return RULE_WORDS[str(committee.rule)].format(quorum=committee.quorum)


def can_see_cases(user: Actor, committee: Committee) -> bool:
    return committee.role_of(user.id) is not None or authz.can(user, Permission.COMMITTEE_MANAGE)


# Built once: every dashboard (every role's) asks it, and building it cost more CPU than
# SQLite's answer to it.
_OPEN_CASES = (
    select(CommitteeCase, Committee)
    .join(Committee, Committee.id == CommitteeCase.committee_id)
    .join(CommitteeMember, CommitteeMember.committee_id == Committee.id)
    .where(CommitteeMember.user_id == bindparam("user_id"), CommitteeCase.decision.is_(None))
    .order_by(CommitteeCase.deadline)
)


def _member(_session: Session, user: User) -> dict[str, object]:
    return {"user_id": user.id}


def _open_cases_for(session: Session, user: User) -> list[tuple[CommitteeCase, Committee, Subject]]:
    rows = session.execute(_OPEN_CASES, _member(session, user)).all()
    found = []
    for case, committee in rows:
        _, subject = parts(session, case)
        if is_open(case, subject):
            found.append((case, committee, subject))
    return found


@guarded(_OPEN_CASES, _member)
def votes_waiting(session: Session, user: User) -> list[Task]:
    """Cases on which this person may vote and has not: due on the case's deadline.

    Registered for every role: a committee member may hold any role (a steward, an analyst
    from a partner, a privacy officer); the provider finds the person's own committees."""
    tasks = []
    for case, committee, subject in _open_cases_for(session, user):
        chair = session.get(User, committee.chair_id) if committee.chair_id else None
        if user.id not in voters(committee, case, subject):
            continue
        if any(v.voter_id == user.id for v in case.current_votes):
            continue
        tasks.append(
            Task(
                title=f"Vote on {subject.label} ({committee.name})",
                kind="Vote waiting",
                endpoint="committees.case_page",
                params={"case_id": case.id},
                due=case.deadline.date(),
                detail=f"Decision rule: {rule_words(committee)}",
                # Overdue votes go to the chair, who may decide alone after the deadline.
                escalate_to=(chair.email,) if chair else (),
                key=f"committee-vote|case={case.id}",
            )
        )
    return tasks


def chaired_by(session: Session, user: Actor) -> list[Committee]:
    """The committees this person chairs (they may read the governance metrics)."""
    if user.id is None:
        return []
    return list(
        session.scalars(
            select(Committee)
            .join(CommitteeMember, CommitteeMember.committee_id == Committee.id)
            .where(CommitteeMember.user_id == user.id, CommitteeMember.role == MemberRole.CHAIR)
        )
    )


def case_for_request(session: Session, request: AccessRequest) -> CommitteeCase | None:
    return session.scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))


def decides_request(session: Session, request: AccessRequest, user: User) -> bool:
    """Whether the person sits on the committee that decides this request."""
    if request.committee_id is None:
        return False
    committee = session.get(Committee, request.committee_id)
    return committee is not None and committee.role_of(user.id) is not None


def request_standing(session: Session, request: AccessRequest) -> str | None:
    """Where a request stands before its committee, for the requester: how many votes are in
    and the rule, never who voted what (members vote freely; the audit trail keeps names)."""
    if request.committee_id is None:
        return None
    case = case_for_request(session, request)
    if case is None:
        return None
    committee, subject = parts(session, case)
    if case.decision is not None:
        alone = " (the chair decided alone after the deadline)" if case.decided_alone else ""
        return f"Decided by {committee.name}: {case.decision}{alone}."
    if not is_open(case, subject):
        return None
    counted = tally(committee, case, subject)
    return (
        f"Waiting on the committee {committee.name}: {counted.cast} of {counted.eligible} "
        f"votes, decision rule {rule_words(committee)}; deadline "
        f"{case.deadline:%Y-%m-%d}."
    )


def request_committee(session: Session, request: AccessRequest) -> CommitteeWait | None:
    """The committee an open request waits on, with counts of votes (access's hook)."""
    if request.committee_id is None:
        return None
    case = case_for_request(session, request)
    if case is None:
        return None
    committee, subject = parts(session, case)
    if not is_open(case, subject):
        return None
    counted = tally(committee, case, subject)
    cast = {v.voter_id for v in case.current_votes}
    return CommitteeWait(
        committee_id=committee.id,
        case_id=case.id,
        name=committee.name,
        votes_cast=counted.cast,
        voters=counted.eligible,
        rule=rule_words(committee),
        opened_at=case.opened_at,
        deadline=case.deadline,
        to_vote=tuple(uid for uid in voters(committee, case, subject) if uid not in cast),
    )


@dataclass(frozen=True)
class VoteRow:
    member: str
    role: str
    vote: str
    comment: str
    conditions: list[str]
    cast_at: dt.datetime | None
    changed: bool
    recused: str | None


@dataclass(frozen=True)
class SimilarDecision:
    request_id: int
    status: str
    columns: list[str]
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class CaseView:
    case: CommitteeCase
    committee: Committee
    # An access request's case: the request, its requester and dataset.
    request: AccessRequest | None
    requester: User | None
    dataset: Dataset | None
    agreement: Agreement
    # An agreement approval's case: the version submitted and the clauses it changes.
    version: AgreementVersion | None
    changes: list[dict[str, str]]
    label: str
    clauses: list[tuple[str, str, str]]
    training: list[TrainingRecord]
    history: list[AccessRequest]
    similar: list[SimilarDecision]
    votes: list[VoteRow]
    tally: Tally
    rule: str
    open: bool
    can_vote: bool
    is_chair: bool
    your_vote: str | None
    conditions: list[str] = field(default_factory=list)


def case_view(session: Session, *, case_id: int, by: User) -> CaseView:
    case = get_case(session, case_id)
    committee, subject = parts(session, case)
    request, agreement = subject.request, subject.agreement
    if not can_see_cases(by, committee):
        raise PermissionDenied(
            "Only the committee's members see its cases.",
            audit={
                "event_type": AuditType.COMMITTEE_READ,
                "target_type": "committee_case",
                "target_id": case.id,
                "agreement_id": agreement.id,
                "dataset_id": subject.dataset_id,
            },
        )
    requester = dataset = None
    training: list[TrainingRecord] = []
    history: list[AccessRequest] = []
    similar: list[SimilarDecision] = []
    changes: list[dict[str, str]] = []
    if request is None:
        # The version itself is what the committee decides: every clause, and what changed
        # from the version in force (an amendment).
        assert subject.version is not None
        clauses = render_clauses(subject.version)
        changes = clause_diff(agreement.current_version, subject.version)
    else:
        requester = session.get(User, request.requester_id)
        dataset = session.get(Dataset, request.dataset_id)
        assert requester
        assert dataset
        training = list(requester.training)
        version = in_force_version(session, agreement.id)
        clauses = (
            [c for c in render_clauses(version) if c[0].startswith(CASE_CLAUSES)] if version else []
        )
        history, similar = _requester_history(session, request)
    names = {
        u.id: u.email
        for u in session.scalars(
            select(User).where(
                User.id.in_(
                    [m.user_id for m in committee.members] + [v.voter_id for v in case.votes]
                )
            )
        )
    }
    recusals = {r.user_id: r.reason for r in case.recusals}
    rows = []
    for member in committee.members:
        current = next((v for v in case.current_votes if v.voter_id == member.user_id), None)
        history_count = sum(1 for v in case.votes if v.voter_id == member.user_id)
        rows.append(
            VoteRow(
                member=names.get(member.user_id, str(member.user_id)),
                role=str(member.role),
                vote=str(current.vote) if current else "",
                comment=current.comment if current else "",
                conditions=_described(current.conditions, subject) if current else [],
                cast_at=current.cast_at if current else None,
                changed=history_count > 1,
                recused=recusals.get(member.user_id),
            )
        )
    mine = next((v for v in case.current_votes if v.voter_id == by.id), None)
    return CaseView(
        case=case,
        committee=committee,
        request=request,
        requester=requester,
        dataset=dataset,
        agreement=agreement,
        version=subject.version,
        changes=changes,
        label=subject.label,
        clauses=clauses,
        training=training,
        history=history,
        similar=similar,
        votes=rows,
        tally=tally(committee, case, subject),
        rule=rule_words(committee),
        open=is_open(case, subject),
        can_vote=by.id in voters(committee, case, subject),
        is_chair=committee.role_of(by.id) == MemberRole.CHAIR,
        your_vote=str(mine.vote) if mine else None,
        conditions=_described(case.conditions, subject),
    )


def _described(raw: dict[str, Any], subject: Subject) -> list[str]:
    """Conditions in words: a grant's terms, or an agreement version's."""
    if subject.version is not None:
        return terms.version_from_json(raw).describe()
    return terms.from_json(raw).describe()


def open_cases(session: Session, committee: Committee) -> list[tuple[CommitteeCase, str]]:
    """The committee's open cases, each with what it decides in words."""
    found = []
    for case in session.scalars(
        select(CommitteeCase)
        .where(CommitteeCase.committee_id == committee.id, CommitteeCase.decision.is_(None))
        .order_by(CommitteeCase.deadline)
    ):
        _, subject = parts(session, case)
        if is_open(case, subject):
            found.append((case, subject.label))
    return found


def _requester_history(
    session: Session, request: AccessRequest
) -> tuple[list[AccessRequest], list[SimilarDecision]]:
    """The requester's other requests, and decided requests on the same columns."""
    history = list(
        session.scalars(
            select(AccessRequest)
            .where(
                AccessRequest.requester_id == request.requester_id,
                AccessRequest.id != request.id,
            )
            .order_by(AccessRequest.id.desc())
            .limit(20)
        )
    )
    wanted = set(request.requested_columns)
    similar = [
        SimilarDecision(
            r.id, RequestStatus(r.status).label, r.requested_columns, r.steward_decided_at
        )
        for r in session.scalars(
            select(AccessRequest)
            .where(
                AccessRequest.dataset_id == request.dataset_id,
                AccessRequest.id != request.id,
                AccessRequest.status.in_([RequestStatus.APPROVED, RequestStatus.DENIED]),
            )
            .order_by(AccessRequest.id.desc())
            .limit(50)
        )
        if wanted & set(r.requested_columns)
    ][:10]
    return history, similar
