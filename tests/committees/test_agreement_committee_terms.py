"""Agreement approvals by committee: the agreement's page says what the approval waits on
(committee and counts of votes); a dataset's committee decides the approval of a version that
covers the dataset when the agreement names none (agreement > dataset > organisation); and
conditions of an approval become structured terms of the version, applied with the decision."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.committees import service as committee_service
from governance.committees.models import Committee
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets
from tests.committees.conftest import make_committee
from tests.committees.test_agreement_approvals import narrow, version_case
from tests.committees.test_committee_pages import signed_in
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
