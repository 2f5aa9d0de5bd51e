"""A committee's case: members vote, recuse themselves, and the rule decides.

A case decides an access request or a submitted agreement version (`Subject`); the votes,
recusals and rule are the same for both. Who may vote: a chair or member of the committee (not
an observer), who has not declared a conflict of interest on the case and who did not make the
request, or draft, edit or submit the version (403, recorded under the rule's name). While the
case is open a voter may change their vote (the earlier vote stays as history); the same vote
twice is refused (409). Each vote is tallied under the committee's rule (decision.py) in the
same transaction, and the moment the rule is met the request is approved (with the approvals'
conditions as grant terms) or rejected through access's own workflow. After the case's deadline
the chair may decide alone, which is recorded as such; before it, the chair has one vote like
everybody else. Any action on a decided case is refused (409).

An agreement version's case decides whether the privacy officer may approve it: approved, the
approval may go ahead (agreements asks through the gate the registry installs); rejected, the
version goes back to draft with the decision as the return comment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.access import column_forms
from governance.access import requests as access_requests
from governance.access.models import AccessRequest, RequestStatus
from governance.agreements import service as agreements_service
from governance.agreements.models import Agreement, AgreementVersion, VersionStatus
from governance.agreements.queries import derived_forms_in_force
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import rules
from governance.committees import conditions as terms
from governance.committees.decision import APPROVING, Outcome, Tally, chair_may_decide_alone, decide
from governance.committees.models import (
    Committee,
    CommitteeCase,
    CommitteeRecusal,
    CommitteeVote,
    Vote,
)
from governance.identity.actors import Actor, System
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed

MAX_TEXT = 4000


def get_case(session: Session, case_id: int) -> CommitteeCase:
    case = session.get(CommitteeCase, case_id)
    if case is None:
        raise NotFound(f"There is no committee case {case_id}.")
    return case


def _for_change(session: Session, case_id: int) -> CommitteeCase:
    """The case, its row locked (after the audit head: one lock order) so that two votes at
    once are tallied one after the other."""
    audit.take_writer_lock(session)
    case = session.get(CommitteeCase, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise NotFound(f"There is no committee case {case_id}.")
    return case


@dataclass(frozen=True)
class Subject:
    """What a case decides: an access request, or an agreement's submitted version."""

    agreement: Agreement
    request: AccessRequest | None = None
    version: AgreementVersion | None = None

    @property
    def dataset_id(self) -> int | None:
        return self.request.dataset_id if self.request is not None else None

    @property
    def excluded(self) -> frozenset[int]:
        """Who may not vote on it: the requester, or whoever drafted, edited or submitted the
        version (separation of duties: a drafter is treated like a requester)."""
        if self.request is not None:
            return frozenset({self.request.requester_id})
        assert self.version is not None
        return frozenset(
            int(key.removeprefix("user:"))
            for key in self.version.contributors
            if key.startswith("user:")
        )

    @property
    def label(self) -> str:
        if self.request is not None:
            return f"access request #{self.request.id}"
        assert self.version is not None
        return f"approval of agreement {self.agreement.reference} version {self.version.number}"


def parts(session: Session, case: CommitteeCase) -> tuple[Committee, Subject]:
    committee = session.get(Committee, case.committee_id)
    assert committee is not None
    if case.request_id is not None:
        request = session.get(AccessRequest, case.request_id)
        assert request is not None
        agreement = session.get(Agreement, request.agreement_id)
        assert agreement is not None
        return committee, Subject(agreement, request=request)
    agreement = session.get(Agreement, case.agreement_id)
    assert agreement is not None
    version = agreement.version(case.version_number)
    assert version is not None
    return committee, Subject(agreement, version=version)


def voters(committee: Committee, case: CommitteeCase, subject: Subject) -> list[int]:
    """Who may vote: chairs and members, less the recused and the requester or drafters."""
    excluded = subject.excluded
    return [uid for uid in committee.voter_ids if uid not in case.recused_ids | excluded]


def tally(committee: Committee, case: CommitteeCase, subject: Subject) -> Tally:
    return decide(
        committee.rule,
        voters=voters(committee, case, subject),
        votes={v.voter_id: Vote(v.vote) for v in case.current_votes},
        chair_id=committee.chair_id,
        casting_vote=committee.chair_casting_vote,
        quorum=committee.quorum,
    )


def is_open(case: CommitteeCase, subject: Subject) -> bool:
    if case.decision is not None:
        return False
    if subject.request is not None:
        return (
            subject.request.status == RequestStatus.SUBMITTED
            and subject.request.committee_id == case.committee_id
        )
    assert subject.version is not None
    return (
        subject.version.status == VersionStatus.SUBMITTED
        and subject.agreement.working_version_number == subject.version.number
    )


def _fields(case: CommitteeCase, subject: Subject) -> dict[str, Any]:
    return {
        "target_type": "committee_case",
        "target_id": case.id,
        "agreement_id": subject.agreement.id,
        "agreement_version": subject.version.number if subject.version is not None else None,
        "dataset_id": subject.dataset_id,
    }


def _subject_detail(subject: Subject) -> dict[str, Any]:
    if subject.request is not None:
        return {"request_id": subject.request.id}
    assert subject.version is not None
    return {"agreement": subject.agreement.reference, "version": subject.version.number}


def _check_open(case: CommitteeCase, subject: Subject) -> None:
    if is_open(case, subject):
        return
    if subject.request is not None:
        state = case.decision or RequestStatus(subject.request.status).label.lower()
        raise InvalidTransition(f"This case is closed: the request is {state}.", allowed=[])
    assert subject.version is not None
    state = case.decision or str(subject.version.status)
    raise InvalidTransition(f"This case is closed: the version is {state}.", allowed=[])


def _require_not_own(
    by: Actor, subject: Subject, refusal: dict[str, Any], *, verb: str = "votes on"
) -> None:
    if subject.request is not None:
        rules.require(
            rules.not_own_request,
            by,
            subject.request,
            message=f"Nobody {verb} their own request.",
            audit=refusal,
        )
        return
    rules.require(
        rules.not_a_contributor,
        by,
        subject.version,
        agreements_service.actor_key(by),
        message=f"You drafted, edited or submitted this version: nobody {verb} their own "
        "version (separation of duties).",
        audit=refusal,
    )


def _require_voter(
    committee: Committee,
    case: CommitteeCase,
    subject: Subject,
    by: Actor,
    event: AuditType,
) -> None:
    refusal = {"event_type": event, **_fields(case, subject)}
    rules.require(
        rules.committee_voter,
        by,
        committee,
        message="Only the committee's chair and members vote; observers follow the case.",
        audit=refusal,
    )
    _require_not_own(by, subject, refusal)
    rules.require(
        rules.not_recused,
        by,
        case,
        message="You declared a conflict of interest on this case: you cannot vote on it.",
        audit=refusal,
    )


def _text(value: str, field: str) -> str:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"The {field} is too long.", {field: f"At most {MAX_TEXT}."})
    return text


def _request_conditions(
    session: Session,
    case: CommitteeCase,
    subject: Subject,
    conditions: dict[str, Any] | None,
    *,
    by: Actor,
    event: AuditType,
) -> dict[str, Any]:
    """A request's conditions, checked against it, the agreement in force (the column forms
    it allows) and the other approvals' (grant terms)."""
    request = subject.request
    assert request is not None
    given = terms.parse(
        conditions or {}, requested=request.requested_columns, end_date=request.end_date
    )
    if given.empty:
        raise ValidationFailed(
            "Name the conditions, or approve without them.", {"conditions": "Required."}
        )
    column_forms.refuse_unless_allowed(
        given.forms,
        derived_forms_in_force(session, request.agreement_id),
        field="conditions",
        audit={"event_type": event, **_fields(case, subject), "detail": _subject_detail(subject)},
    )
    others = [terms.from_json(v.conditions) for v in case.current_votes if v.voter_id != by.id]
    if terms.strictest([*others, given]).columns == frozenset():
        raise ValidationFailed(
            "With the other approvals' conditions no column would be left.",
            {"conditions": "Allow a column another approval allows."},
        )
    return given.as_json()


def cast_vote(
    session: Session,
    *,
    case_id: int,
    vote: str,
    comment: str,
    conditions: dict[str, Any] | None,
    by: Actor,
    now: dt.datetime,
) -> CommitteeCase:
    """Vote, or change one's vote; decides the case when the rule is met."""
    case = _for_change(session, case_id)
    committee, subject = parts(session, case)
    previous = next((v for v in case.current_votes if v.voter_id == by.id), None)
    event = AuditType.COMMITTEE_VOTE_CHANGE if previous else AuditType.COMMITTEE_VOTE
    _require_voter(committee, case, subject, by, event)
    _check_open(case, subject)
    try:
        chosen = Vote(vote)
    except ValueError:
        raise ValidationFailed("Unknown vote.", {"vote": vote}) from None
    text = _text(comment, "comment")
    if chosen == Vote.APPROVE_WITH_CONDITIONS:
        request = subject.request
        if request is None:
            assert subject.version is not None
            on_version = terms.parse_version(conditions or {}, version=subject.version)
            if on_version.empty:
                raise ValidationFailed(
                    "Name the conditions, or approve without them.", {"conditions": "Required."}
                )
            stored = on_version.as_json()
        else:
            stored = _request_conditions(session, case, subject, conditions, by=by, event=event)
    else:
        stored = {}
    if (
        previous is not None
        and previous.vote == chosen
        and previous.conditions == stored
        and previous.comment == text
    ):
        raise InvalidTransition("You already voted this way on this case.", allowed=[])
    if previous is not None:
        previous.superseded_at = now
    ballot = CommitteeVote(
        case_id=case.id, voter_id=by.id, vote=chosen, comment=text, conditions=stored, cast_at=now
    )
    case.votes.append(ballot)
    session.flush()
    audit.record(
        session,
        event,
        by=by,
        **_fields(case, subject),
        detail={
            "committee": committee.name,
            **_subject_detail(subject),
            "vote": str(chosen),
            "previous": str(previous.vote) if previous else None,
            "comment": text,
            "conditions": stored,
        },
        now=now,
    )
    _decide_if_rule_met(session, committee, case, subject, by=by, now=now)
    return case


def recuse(
    session: Session, *, case_id: int, reason: str, by: Actor, now: dt.datetime
) -> CommitteeCase:
    """Declare a conflict of interest: one's vote (if any) no longer counts, and the case is
    tallied again without one (which may decide it)."""
    case = _for_change(session, case_id)
    committee, subject = parts(session, case)
    refusal = {"event_type": AuditType.COMMITTEE_RECUSE, **_fields(case, subject)}
    rules.require(
        rules.committee_voter,
        by,
        committee,
        message="Only the committee's chair and members declare conflicts on its cases.",
        audit=refusal,
    )
    _check_open(case, subject)
    if by.id in case.recused_ids:
        raise InvalidTransition("You already declared a conflict on this case.", allowed=[])
    text = _text(reason, "reason")
    if not text:
        raise ValidationFailed("Say what the conflict of interest is.", {"reason": "Required."})
    withdrawn = None
    for ballot in case.current_votes:
        if ballot.voter_id == by.id:
            ballot.superseded_at = now
            withdrawn = str(ballot.vote)
    assert by.id is not None  # committee_voter holds only for a person
    case.recusals.append(
        CommitteeRecusal(case_id=case.id, user_id=by.id, reason=text, declared_at=now)
    )
    session.flush()
    audit.record(
        session,
        AuditType.COMMITTEE_RECUSE,
        by=by,
        **_fields(case, subject),
        detail={"committee": committee.name, "reason": text, "vote_withdrawn": withdrawn},
        now=now,
    )
    _decide_if_rule_met(session, committee, case, subject, by=by, now=now)
    return case


def decide_alone(
    session: Session, *, case_id: int, approve: bool, reason: str, by: Actor, now: dt.datetime
) -> CommitteeCase:
    """The chair decides after the deadline without the rule being met."""
    case = _for_change(session, case_id)
    committee, subject = parts(session, case)
    refusal = {"event_type": AuditType.COMMITTEE_DECIDE_ALONE, **_fields(case, subject)}
    rules.require(
        rules.committee_chair,
        by,
        committee,
        message="Only the committee's chair decides alone after the deadline.",
        audit=refusal,
    )
    _require_not_own(by, subject, refusal, verb="decides")
    _check_open(case, subject)
    if not chair_may_decide_alone(deadline=case.deadline, now=now):
        raise InvalidTransition(
            f"The chair decides alone only after the deadline ({case.deadline:%Y-%m-%d %H:%M} "
            "UTC); until then the committee's rule decides.",
            allowed=[],
        )
    text = _text(reason, "reason")
    if not text:
        raise ValidationFailed("Say why you decide alone.", {"reason": "Required."})
    case.decided_alone = True
    outcome = Outcome.APPROVED if approve else Outcome.REJECTED
    _decide(session, committee, case, subject, outcome, text, by=by, now=now)
    return case


def _decide_if_rule_met(
    session: Session,
    committee: Committee,
    case: CommitteeCase,
    subject: Subject,
    *,
    by: Actor,
    now: dt.datetime,
) -> None:
    """Tally again after a vote or a recusal; decide the moment the rule is met."""
    result = tally(committee, case, subject)
    if result.outcome != Outcome.PENDING:
        _decide(session, committee, case, subject, result.outcome, result.reason, by=by, now=now)


def _decide(
    session: Session,
    committee: Committee,
    case: CommitteeCase,
    subject: Subject,
    outcome: Outcome,
    reason: str,
    *,
    by: Actor,
    now: dt.datetime,
) -> None:
    approve = outcome == Outcome.APPROVED
    counted_approvals = [
        v.conditions
        for v in case.current_votes
        if Vote(v.vote) in APPROVING and v.voter_id in voters(committee, case, subject)
    ]
    agreed = terms.strictest(terms.from_json(c) for c in counted_approvals)
    case.decision = str(outcome)
    case.decided_at = now
    case.decided_by_id = by.id
    case.decision_reason = reason
    case.conditions = agreed.as_json() if approve else {}
    applied: dict[str, list[Any]] = {}
    if subject.version is not None:
        # An agreement version's conditions are its own terms, written with the decision.
        on_version = terms.strictest_version(terms.version_from_json(c) for c in counted_approvals)
        case.conditions = on_version.as_json() if approve else {}
        if approve:
            applied = terms.apply_to_version(on_version, subject.version)
    counted = tally(committee, case, subject)
    detail = {
        "committee": committee.name,
        "case_id": case.id,
        "rule": str(committee.rule),
        "decided_alone": case.decided_alone,
        "votes": {
            "approve": counted.approvals,
            "reject": counted.rejections,
            "abstain": counted.abstentions,
            "eligible": counted.eligible,
        },
        "conditions": case.conditions,
        **({"terms_changed": applied} if applied else {}),
    }
    audit.record(
        session,
        AuditType.COMMITTEE_DECIDE_ALONE if case.decided_alone else AuditType.COMMITTEE_DECIDE,
        by=by,
        **_fields(case, subject),
        detail={"decision": case.decision, "reason": reason, **detail},
        now=now,
    )
    comment = f"{committee.name}: {reason}"
    if subject.request is None:
        _decide_version(session, committee, subject, approve, comment, detail, now=now)
        return
    if agreed.describe() and approve:
        comment += " (conditions: " + "; ".join(agreed.describe()) + ")"
    access_requests.committee_decide(
        session,
        request_id=subject.request.id,
        approve=approve,
        columns=sorted(agreed.columns) if agreed.columns is not None else None,
        end_date=agreed.end_date,
        no_download=agreed.no_download,
        forms=dict(agreed.forms),
        comment=comment,
        detail=detail,
        by=by,
        now=now,
    )


def _decide_version(
    session: Session,
    committee: Committee,
    subject: Subject,
    approve: bool,
    comment: str,
    detail: dict[str, Any],
    *,
    now: dt.datetime,
) -> None:
    """Approved: the privacy officer may now approve the version (the gate lets it through).
    Rejected: the version goes back to draft, returned by the committee with its decision."""
    if approve:
        return
    agreements_service.committee_return(
        session,
        agreement_id=subject.agreement.id,
        comment=f"Rejected by the committee {comment}",
        detail={"committee_decision": detail},
        by=System(f"committee {committee.name}"),
        now=now,
    )
