"""Agreement approvals by committee: the agreement's page says what the approval waits on
(committee and counts of votes); a dataset's committee decides the approval of a version that
covers the dataset when the agreement names none (agreement > dataset > organisation); and
conditions of an approval become structured terms of the version, applied with the decision."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.agreements.queries import in_force_version
from governance.audit.models import AuditEvent, AuditType
from governance.committees import cases
from governance.committees import service as committee_service
from governance.committees.models import Committee, CommitteeVote
from governance.identity.models import User
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets, countersign
from tests.committees.conftest import make_committee
from tests.committees.test_agreement_approvals import narrow, version_case
from tests.committees.test_committee_pages import signed_in
from tests.conftest import fresh
from tests.support import People


def dataset_committee(db: Session, people: People, datasets: Datasets) -> Committee:
    made = make_committee(db, people, None)
    committee_service.assign(
        db,
        committee_id=made.id,
        subject_type="dataset",
        subject_id=datasets.arrests.id,
        by=people.admin,
        now=utcnow(),
    )
    db.commit()
    return made


def test_the_agreement_page_says_which_committee_the_approval_waits_on_and_its_votes(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    db.rollback()  # no transaction held open while the pages are read
    officer = signed_in(app, people.privacy2.email)
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Waiting on committee Data access committee (0 of 3 votes" in page
    for member in (people.checker, people.compliance):
        voted = signed_in(app, member.email).post(
            f"/committees/cases/{case.id}/vote", {"vote-vote": "approve", "vote-comment": ""}
        )
        assert voted.status_code == 302
        if member is people.checker:
            page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
            assert "Waiting on committee Data access committee (1 of 3 votes" in page
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'id="approval-waiting"' not in page  # approved: nothing holds the approval


def test_a_datasets_committee_decides_the_approval_when_the_agreement_names_none(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    named = dataset_committee(db, people, datasets)
    narrow(db, people, datasets, agreement)  # version 2 covers the arrests dataset
    assert version_case(db, agreement, 2).committee_id == named.id


def test_the_agreements_own_committee_comes_before_the_datasets(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    dataset_committee(db, people, datasets)
    own = committee_service.create_committee(
        db,
        name="Project committee",
        organization_id=people.lab.id,
        rule="majority",
        quorum=None,
        chair_casting_vote=True,
        decision_days=14,
        by=people.admin,
        now=utcnow(),
    )
    committee_service.add_member(
        db,
        committee_id=own.id,
        user_id=people.checker.id,
        role="chair",
        by=people.admin,
        now=utcnow(),
    )
    committee_service.assign(
        db,
        committee_id=own.id,
        subject_type="agreement",
        subject_id=agreement.id,
        by=people.admin,
        now=utcnow(),
    )
    db.commit()
    narrow(db, people, datasets, agreement)
    assert version_case(db, agreement, 2).committee_id == own.id


def vote_on(db: Session, case_id: int, person: User, choice: str, conditions: Any) -> None:
    cases.cast_vote(
        db,
        case_id=case_id,
        vote=choice,
        comment="",
        conditions=conditions,
        by=person,
        now=utcnow(),
    )
    db.commit()


def test_conditions_on_an_agreement_approval_become_terms_of_the_version(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    version = fresh(db).get(Agreement, agreement.id).version(2)  # type: ignore[union-attr]
    assert version is not None
    expiry, preview = version.expiry_date, version.preview_window_days
    earlier = expiry - dt.timedelta(days=30)
    vote_on(
        db,
        case.id,
        people.checker,
        "approve_with_conditions",
        {"preview_days": preview + 10, "end_date": earlier.isoformat()},
    )
    vote_on(
        db,
        case.id,
        people.compliance,
        "approve_with_conditions",
        {"end_date": (earlier - dt.timedelta(days=5)).isoformat(), "no_download": True},
    )
    decided = version_case(db, agreement, 2)
    assert decided.decision == "approved"
    assert decided.conditions == {
        "end_date": (earlier - dt.timedelta(days=5)).isoformat(),
        "preview_days": preview + 10,
        "no_download": True,
    }
    changed = fresh(db).get(Agreement, agreement.id).version(2)  # type: ignore[union-attr]
    assert changed is not None
    assert changed.expiry_date == earlier - dt.timedelta(days=5)  # the strictest end
    assert changed.preview_window_days == preview + 10
    assert changed.row_level_download is False
    # Recorded with the decision, in its transaction: each term before and after.
    [event] = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.COMMITTEE_DECIDE))
        .all()
    )
    assert event.detail["terms_changed"]["expiry_date"] == [
        expiry.isoformat(),
        (earlier - dt.timedelta(days=5)).isoformat(),
    ]
    assert event.detail["terms_changed"]["preview_window_days"] == [preview, preview + 10]
    # The privacy officer approves the version with those terms and the provider countersigns
    # it: they are what is in force.
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    countersign(db, people, agreement)
    db.commit()
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert (in_force.number, in_force.preview_window_days) == (2, preview + 10)


@pytest.mark.parametrize(
    "conditions",
    [
        {"columns": ["person_id"]},  # a grant's term, not an agreement's
        {"end_date": "2999-01-01"},  # later than the expiry
        {"end_date": "2000-01-01"},  # before the version starts
        {"preview_days": 0},  # not longer than the version's window
        {"preview_days": 10_000},
        {"preview_days": "many"},
        {"publish_early": True},
        {},  # approve with conditions, naming none
    ],
)
def test_conditions_that_are_not_stricter_terms_are_refused_and_nothing_changes(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
    conditions: dict[str, Any],
) -> None:
    """Attacker's test: a member cannot loosen the version, or slip free text past the terms."""
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    before = fresh(db).get(Agreement, agreement.id).version(2)  # type: ignore[union-attr]
    assert before is not None
    terms_before = (before.expiry_date, before.preview_window_days, before.row_level_download)
    with pytest.raises(ValidationFailed):
        cases.cast_vote(
            db,
            case_id=case.id,
            vote="approve_with_conditions",
            comment="",
            conditions=conditions,
            by=people.checker,
            now=utcnow(),
        )
    db.rollback()
    assert fresh(db).scalars(select(CommitteeVote)).all() == []
    after = fresh(db).get(Agreement, agreement.id).version(2)  # type: ignore[union-attr]
    assert after is not None
    assert (after.expiry_date, after.preview_window_days, after.row_level_download) == (
        terms_before
    )


def test_a_rejected_approval_applies_no_condition(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    version = fresh(db).get(Agreement, agreement.id).version(2)  # type: ignore[union-attr]
    assert version is not None
    preview = version.preview_window_days
    vote_on(db, case.id, people.checker, "approve_with_conditions", {"preview_days": preview + 5})
    vote_on(db, case.id, people.compliance, "reject", None)
    vote_on(db, case.id, people.privacy2, "reject", None)
    decided = version_case(db, agreement, 2)
    assert (decided.decision, decided.conditions) == ("rejected", {})
    again = fresh(db).get(Agreement, agreement.id).version(2)  # type: ignore[union-attr]
    assert again is not None
    assert again.preview_window_days == preview
