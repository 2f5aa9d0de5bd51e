"""A committee named by an agreement (or its provider) decides the approval of its versions:
the privacy officer's approval waits (409) until the committee approves; a rejection returns
the version to draft; nobody who drafted the version votes on it."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement, AgreementStatus, VersionStatus
from governance.agreements.queries import in_force_version
from governance.audit.models import AuditEvent, AuditType
from governance.committees import cases, impact, queries
from governance.committees import service as committee_service
from governance.committees.models import Committee, CommitteeCase
from governance.identity.models import User
from governance.kernel.errors import InvalidTransition, PermissionDenied
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.agreements.test_amendments_and_events import amend
from tests.committees.conftest import make_committee
from tests.committees.test_committee_api import bearer
from tests.committees.test_committee_pages import signed_in
from tests.conftest import fresh
from tests.support import People


def version_case(db: Session, agreement: Agreement, number: int) -> CommitteeCase:
    found = fresh(db).scalar(
        select(CommitteeCase).where(
            CommitteeCase.agreement_id == agreement.id, CommitteeCase.version_number == number
        )
    )
    assert found is not None
    return found


def vote(db: Session, case: CommitteeCase, person: User, choice: str) -> None:
    cases.cast_vote(
        db, case_id=case.id, vote=choice, comment="", conditions=None, by=person, now=utcnow()
    )
    db.commit()


def narrow(db: Session, people: People, datasets: Datasets, agreement: Agreement) -> None:
    amend(db, people, datasets, agreement, columns={datasets.arrests.id: ["person_id", "sex"]})


def test_the_approval_waits_on_the_committee_until_a_majority_approves(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    assert case.request_id is None
    client = app.test_client()
    url = f"/api/v1/agreements/{agreement.id}/approve"
    refused = client.post(url, json={}, headers=bearer(db, people.privacy2))
    assert refused.status_code == 409
    assert "Waiting on committee Data access committee (0 of 3 votes" in refused.get_data(
        as_text=True
    )
    vote(db, case, people.checker, "approve")
    with pytest.raises(InvalidTransition, match="1 of 3 votes"):
        agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.rollback()
    # The amendment-impact page's approval goes through the same gate.
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2)
    with pytest.raises(InvalidTransition, match="1 of 3 votes"):
        impact.approve_amendment(
            db,
            agreement_id=agreement.id,
            digest=shown.digest,
            comment="",
            by=people.privacy2,
            now=utcnow(),
        )
    db.rollback()
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]

    vote(db, case, people.compliance, "approve")
    assert version_case(db, agreement, 2).decision == "approved"
    allowed = client.post(url, json={}, headers=bearer(db, people.privacy2))
    assert allowed.status_code == 200
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]
    builders.countersign(db, people, db.get(Agreement, agreement.id))  # type: ignore[arg-type]
    db.commit()
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 2


def test_a_rejection_returns_the_version_to_draft_with_the_decision(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    vote(db, case, people.checker, "reject")
    vote(db, case, people.privacy2, "reject")
    after = fresh(db).get(Agreement, agreement.id)
    assert after is not None
    assert after.status == AgreementStatus.ACTIVE  # version 1 stays in force
    version = after.version(2)
    assert version is not None
    assert version.status == VersionStatus.DRAFT
    assert "Rejected by the committee Data access committee" in version.comments[-1].body
    returned = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AGREEMENT_RETURN))
        .one()
    )
    assert returned.detail["committee_decision"]["votes"]["reject"] == 2
    assert version_case(db, agreement, 2).decision == "rejected"
    # Submitted again, the case opens afresh: the earlier votes no longer count.
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    reopened = version_case(db, agreement, 2)
    assert reopened.decision is None
    assert reopened.current_votes == []
    with pytest.raises(InvalidTransition, match="0 of 3 votes"):
        agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())


def test_nobody_who_drafted_the_version_votes_on_it(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    # The provider organisation names the committee: its agreements' first versions go to it.
    committee = make_committee(
        db,
        people,
        None,
        members=(
            (people.compliance, "chair"),
            (people.privacy, "member"),
            (people.checker, "member"),
        ),
    )
    committee_service.assign(
        db,
        committee_id=committee.id,
        subject_type="organization",
        subject_id=people.police.id,
        by=people.admin,
        now=utcnow(),
    )
    db.commit()
    agreement = builders.draft(db, people, datasets)
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    case = version_case(db, agreement, 1)
    committee_now, subject = cases.parts(fresh(db), case)
    assert people.privacy.id not in cases.voters(committee_now, case, subject)
    with pytest.raises(PermissionDenied, match="separation of duties"):
        vote(db, case, people.privacy, "approve")
    db.rollback()
    answer = app.test_client().post(
        f"/api/v1/committee-cases/{case.id}/votes",
        json={"vote": "approve"},
        headers=bearer(db, people.privacy),
    )
    assert answer.status_code == 403
    refusal = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert refusal is not None
    assert (refusal.outcome, refusal.rule) == ("denied", "separation-of-duties")
    # Two voters remain: both approve, then the other privacy officer approves the version.
    vote(db, case, people.compliance, "approve")
    vote(db, case, people.checker, "approve")
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.commit()
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.APPROVED  # type: ignore[union-attr]


def test_the_vote_task_and_the_case_page_show_the_version_and_its_changes(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    tasks = queries.votes_waiting(fresh(db), people.checker)
    title = f"Vote on approval of agreement {agreement.reference} version 2 (Data access committee)"
    assert [t.title for t in tasks] == [title]
    checker = signed_in(app, people.checker.email)
    assert title in checker.get("/dashboard/output_checker").get_data(as_text=True)
    page = checker.get(f"/committees/cases/{case.id}").get_data(as_text=True)
    for section in ("The version submitted for approval", "What it changes", "Its clauses"):
        assert section in page, section
    assert "age_at_arrest" in page  # the columns the amendment removes, shown before/after
    admin = signed_in(app, people.admin.email)
    listed = admin.get(f"/committees/{committee.id}").get_data(as_text=True)
    assert f"Approval of agreement {agreement.reference} version 2" in listed
    answer = checker.post(
        f"/committees/cases/{case.id}/vote", {"vote-vote": "approve", "vote-comment": "Fine."}
    )
    assert answer.status_code == 302
    assert queries.votes_waiting(fresh(db), people.checker) == []


def test_agreements_whose_parties_name_no_committee_are_approved_as_before(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    narrow(db, people, datasets, agreement)
    assert fresh(db).scalars(select(CommitteeCase)).all() == []
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    builders.countersign(db, people, agreement)
    db.commit()
    assert in_force_version(fresh(db), agreement.id).number == 2  # type: ignore[union-attr]


def test_after_the_deadline_the_chair_decides_the_approval_alone(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    with pytest.raises(InvalidTransition, match="only after the deadline"):
        cases.decide_alone(
            db, case_id=case.id, approve=False, reason="Late.", by=people.compliance, now=utcnow()
        )
    db.rollback()
    cases.decide_alone(
        db,
        case_id=case.id,
        approve=False,
        reason="Nobody voted; the scope is too wide.",
        by=people.compliance,
        now=case.deadline,
    )
    db.commit()
    decided = version_case(db, agreement, 2)
    assert (decided.decision, decided.decided_alone) == ("rejected", True)
    page = signed_in(app, people.checker.email).get(f"/committees/cases/{case.id}")
    shown = page.get_data(as_text=True)
    assert "Decided: rejected" in shown
    assert "the chair decided alone after the deadline" in shown
