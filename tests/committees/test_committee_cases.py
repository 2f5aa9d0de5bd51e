"""A committee decides access requests by its rule; the attacker's tries are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import queries as access_queries
from governance.access import requests
from governance.access.models import AccessRequest, Grant, RequestStatus
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.committees import cases, queries, service
from governance.committees.models import Committee, CommitteeCase
from governance.kernel.errors import InvalidTransition, PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import People


def case_of(db: Session, request: AccessRequest) -> CommitteeCase:
    found = fresh(db).scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    assert found is not None
    return found


def vote(db: Session, case: CommitteeCase, who: object, choice: str, **kw: object) -> None:
    cases.cast_vote(
        db,
        case_id=case.id,
        vote=choice,
        comment=str(kw.pop("comment", "")),
        conditions=kw.pop("conditions", None),  # type: ignore[arg-type]
        by=who,  # type: ignore[arg-type]
        now=kw.pop("now", utcnow()),  # type: ignore[arg-type]
    )
    db.commit()


def events(db: Session, *types: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type.in_([str(t) for t in types]))
            .order_by(AuditEvent.seq)
        )
    )


def standing(db: Session, request: AccessRequest) -> str | None:
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    return access_queries.request_standing(db, found)


def test_a_majority_of_three_decides_while_the_requester_watches(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    assert request.committee_id == committee.id
    case = case_of(db, request)
    assert standing(db, request) == (
        f"Waiting on the committee Data access committee: 0 of 3 votes, decision rule "
        f"majority; deadline {case.deadline:%Y-%m-%d}."
    )
    vote(db, case, people.checker, "approve", comment="Needed for the cohort table.")
    said = standing(db, request)
    assert said is not None
    assert "1 of 3 votes, decision rule majority" in said
    assert "checker" not in said  # who voted what stays with the committee
    vote(db, case, people.privacy2, "approve")
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    assert found.grant_id is not None
    assert standing(db, request) == "Decided by Data access committee: approved."
    decided = events(db, AuditType.COMMITTEE_DECIDE)
    assert len(decided) == 1
    assert decided[0].detail["votes"] == {"approve": 2, "reject": 0, "abstain": 0, "eligible": 3}
    assert len(events(db, AuditType.COMMITTEE_VOTE)) == 2
    approve = events(db, AuditType.ACCESS_REQUEST_APPROVE)[-1]
    assert approve.detail["committee"] == "Data access committee"


def test_the_steward_no_longer_decides_a_committee_request(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    with pytest.raises(InvalidTransition, match="committee decides"):
        requests.steward_approve(
            db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
        )
    db.rollback()
    assert access_queries.steward_tasks(db, people.steward) == []


def test_votes_waiting_are_tasks_due_on_the_case_deadline(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    tasks = queries.votes_waiting(db, people.checker)
    assert [(t.kind, t.due, t.params) for t in tasks] == [
        ("Vote waiting", case.deadline.date(), {"case_id": case.id})
    ]
    assert queries.votes_waiting(db, people.partner) == []  # the observer does not vote
    assert queries.votes_waiting(db, people.analyst) == []  # nor does the requester
    vote(db, case, people.checker, "abstain")
    assert queries.votes_waiting(fresh(db), people.checker) == []


def test_a_member_who_votes_twice_counts_once(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    vote(db, case, people.checker, "reject")
    with pytest.raises(InvalidTransition, match="already voted"):
        vote(db, case, people.checker, "reject")
    db.rollback()
    committee_, found = cases.parts(db, case_of(db, request))
    assert cases.tally(committee_, case_of(db, request), found).cast == 1


def test_a_changed_vote_is_audited_and_counted_once(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    vote(db, case, people.checker, "reject", comment="Too many columns.")
    vote(db, case, people.checker, "approve", comment="Justified after all.")
    changed = events(db, AuditType.COMMITTEE_VOTE_CHANGE)
    assert [(e.detail["previous"], e.detail["vote"]) for e in changed] == [("reject", "approve")]
    case = case_of(db, request)
    assert len(case.votes) == 2
    assert [v.vote for v in case.current_votes] == ["approve"]
    committee_, found = cases.parts(db, case)
    counted = cases.tally(committee_, case, found)
    assert (counted.approvals, counted.rejections) == (1, 0)


def test_nobody_votes_on_their_own_request(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    service.add_member(
        db,
        committee_id=committee.id,
        user_id=people.analyst.id,
        role="member",
        by=people.admin,
        now=utcnow(),
    )
    db.commit()
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    with pytest.raises(PermissionDenied, match="own request") as refused:
        vote(db, case, people.analyst, "approve")
    assert refused.value.audit is not None
    assert refused.value.audit["rule"] == "not-own-request"
    db.rollback()
    # The requester is not counted among the voters either: 3 of 4 members vote.
    committee_, found = cases.parts(db, case_of(db, request))
    assert cases.tally(committee_, case_of(db, request), found).eligible == 3


def test_an_observer_cannot_vote(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    with pytest.raises(PermissionDenied, match="observers") as refused:
        vote(db, case_of(db, request), people.partner, "approve")
    assert refused.value.audit is not None
    assert refused.value.audit["rule"] == "committee-voter"


def test_a_recused_member_cannot_vote_and_their_vote_is_withdrawn(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    vote(db, case, people.checker, "approve")
    cases.recuse(
        db, case_id=case.id, reason="I supervise the requester.", by=people.checker, now=utcnow()
    )
    db.commit()
    with pytest.raises(PermissionDenied, match="conflict of interest") as refused:
        vote(db, case_of(db, request), people.checker, "reject")
    assert refused.value.audit is not None
    assert refused.value.audit["rule"] == "not-recused"
    db.rollback()
    view = queries.case_view(db, case_id=case.id, by=people.compliance)
    assert view.tally.eligible == 2
    assert view.tally.cast == 0
    row = next(v for v in view.votes if v.member == people.checker.email)
    assert row.recused == "I supervise the requester."
    recusal = events(db, AuditType.COMMITTEE_RECUSE)[0]
    assert recusal.detail["vote_withdrawn"] == "approve"


def test_a_tie_goes_the_chairs_way(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    vote(db, case, people.checker, "reject")
    vote(db, case, people.privacy2, "abstain")
    vote(db, case, people.compliance, "approve")  # 1 to 1: the chair's vote decides
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    assert "casting vote" in events(db, AuditType.COMMITTEE_DECIDE)[0].detail["reason"]


def test_the_chair_decides_alone_only_after_the_deadline(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    with pytest.raises(InvalidTransition, match="only after the deadline"):
        cases.decide_alone(
            db, case_id=case.id, approve=True, reason="Urgent.", by=people.compliance, now=utcnow()
        )
    db.rollback()
    later = case.deadline + dt.timedelta(minutes=1)
    with pytest.raises(PermissionDenied, match="chair"):
        cases.decide_alone(
            db, case_id=case.id, approve=True, reason="Me too.", by=people.checker, now=later
        )
    db.rollback()
    cases.decide_alone(
        db,
        case_id=case.id,
        approve=False,
        reason="No quorum of answers in time; the request can be made again.",
        by=people.compliance,
        now=later,
    )
    db.commit()
    decided = case_of(db, request)
    assert (decided.decision, decided.decided_alone) == ("rejected", True)
    assert len(events(db, AuditType.COMMITTEE_DECIDE_ALONE)) == 1
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.DENIED
    said = standing(db, request)
    assert said is not None
    assert "decided alone" in said


def test_no_vote_after_the_decision(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    vote(db, case, people.checker, "reject")
    vote(db, case, people.privacy2, "reject")
    with pytest.raises(InvalidTransition, match="closed"):
        vote(db, case_of(db, request), people.compliance, "approve")
    db.rollback()
    with pytest.raises(InvalidTransition, match="closed"):
        vote(db, case_of(db, request), people.checker, "approve")


def test_conditions_become_the_grants_terms(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    case = case_of(db, request)
    earlier = request.end_date - dt.timedelta(days=20)
    vote(
        db,
        case,
        people.checker,
        "approve_with_conditions",
        conditions={"columns": ["sex"], "end_date": earlier.isoformat()},
    )
    vote(db, case, people.privacy2, "approve")
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    grant = db.get(Grant, found.grant_id)
    assert grant is not None
    assert grant.column_names == ["sex"]
    assert grant.last_day <= earlier
    assert case_of(db, request).conditions == {"columns": ["sex"], "end_date": earlier.isoformat()}


def test_conditions_must_narrow_the_request(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_of(db, request)
    with pytest.raises(ValidationFailed, match="requested columns"):
        vote(db, case, people.checker, "approve_with_conditions", conditions={"columns": ["race"]})
    db.rollback()
    with pytest.raises(ValidationFailed, match="Name the conditions"):
        vote(db, case, people.checker, "approve_with_conditions", conditions={})


def test_direct_identifiers_still_need_the_privacy_officer(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    request = ask(db, people, agreement, datasets, columns=("person_id", "sex"))
    case = case_of(db, request)
    vote(db, case, people.checker, "approve")
    vote(db, case, people.privacy2, "approve")
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.AWAITING_PRIVACY_OFFICER
    assert found.grant_id is None
    requests.privacy_approve(
        db,
        request_id=request.id,
        comment="Linkage to court records needs the identifier.",
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED


def test_the_agreements_committee_comes_before_the_datasets_and_the_organisations(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    now = utcnow()
    other = service.create_committee(
        db,
        name="Police committee",
        organization_id=people.police.id,
        rule="all",
        quorum=None,
        chair_casting_vote=False,
        decision_days=7,
        by=people.privacy,
        now=now,
    )
    for subject_type, subject_id in (
        ("dataset", datasets.arrests.id),
        ("organization", people.police.id),
    ):
        service.assign(
            db,
            committee_id=other.id,
            subject_type=subject_type,
            subject_id=subject_id,
            by=people.privacy,
            now=now,
        )
    db.commit()
    assert ask(db, people, agreement, datasets).committee_id == committee.id
    service.assign(
        db,
        committee_id=None,
        subject_type="agreement",
        subject_id=agreement.id,
        by=people.admin,
        now=now,
    )
    db.commit()
    assert ask(db, people, agreement, datasets).committee_id == other.id
    service.assign(
        db,
        committee_id=None,
        subject_type="dataset",
        subject_id=datasets.arrests.id,
        by=people.admin,
        now=now,
    )
    db.commit()
    assert ask(db, people, agreement, datasets).committee_id == other.id  # the provider's
    assert len(events(db, AuditType.COMMITTEE_ASSIGN)) == 5


def test_only_committee_managers_administer_committees(
    db: Session, people: People, committee: Committee
) -> None:
    with pytest.raises(PermissionDenied):
        service.add_member(
            db,
            committee_id=committee.id,
            user_id=people.analyst.id,
            role="chair",
            by=people.steward,
            now=utcnow(),
        )
    db.rollback()
    with pytest.raises(InvalidTransition, match="already has a chair"):
        service.add_member(
            db,
            committee_id=committee.id,
            user_id=people.analyst.id,
            role="chair",
            by=people.admin,
            now=utcnow(),
        )
    db.rollback()
    service.remove_member(
        db, committee_id=committee.id, user_id=people.partner.id, by=people.admin, now=utcnow()
    )
    db.commit()
    removed = events(db, AuditType.COMMITTEE_MEMBER_REMOVE)
    assert removed[0].detail == {"member": people.partner.email, "role": "observer"}


def test_a_condition_can_grant_a_column_coarsened_or_pseudonymised(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    """The most protective form any approval names is the grant's term."""
    request = ask(
        db, people, agreement, datasets, columns=("sex", "age_at_arrest", "offence_category")
    )
    case = case_of(db, request)
    vote(
        db,
        case,
        people.checker,
        "approve_with_conditions",
        conditions={"forms": {"age_at_arrest": "coarsened", "offence_category": "coarsened"}},
    )
    vote(
        db,
        case_of(db, request),
        people.privacy2,
        "approve_with_conditions",
        conditions={"forms": {"offence_category": "pseudonymised"}},
    )
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    grant = db.get(Grant, found.grant_id)
    assert grant is not None
    assert grant.forms == {"age_at_arrest": "coarsened", "offence_category": "pseudonymised"}
    other = ask(db, people, agreement, datasets, columns=("sex",))
    with pytest.raises(ValidationFailed, match="Column forms"):
        vote(
            db,
            case_of(db, other),
            people.checker,
            "approve_with_conditions",
            conditions={"forms": {"sex": "blurred"}},
        )
