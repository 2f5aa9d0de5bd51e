"""Committee tests: the access fixtures (the agencies' datasets and an active agreement) and a
three-member committee of the lab naming the agreement: a chair, two members, an observer."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.committees import service
from governance.committees.models import Committee
from governance.datasets.models import DatasetSteward
from governance.identity.models import User
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.support import People


@pytest.fixture
def datasets(db: Session, people: People) -> Datasets:
    made = make_datasets(db, people)
    for dataset in (made.arrests, made.probation):
        db.add(DatasetSteward(dataset_id=dataset.id, user_id=people.steward.id))
    db.commit()
    return made


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(db, people, datasets)


@pytest.fixture
def committee(db: Session, people: People, agreement: Agreement) -> Committee:
    return make_committee(db, people, agreement)


def make_committee(
    db: Session,
    people: People,
    agreement: Agreement | None,
    members: Sequence[tuple[User, str]] | None = None,
) -> Committee:
    """Chair: the compliance manager; members: the output checker and the second privacy
    officer; observer: the partner (unless `members` says otherwise). It decides for the
    agreement (if one is given), by majority."""
    now = utcnow()
    made = service.create_committee(
        db,
        name="Data access committee",
        organization_id=people.lab.id,
        rule="majority",
        quorum=None,
        chair_casting_vote=True,
        decision_days=14,
        by=people.admin,
        now=now,
    )
    for person, role in members or (
        (people.compliance, "chair"),
        (people.checker, "member"),
        (people.privacy2, "member"),
        (people.partner, "observer"),
    ):
        service.add_member(
            db, committee_id=made.id, user_id=person.id, role=role, by=people.admin, now=now
        )
    if agreement is not None:
        service.assign(
            db,
            committee_id=made.id,
            subject_type="agreement",
            subject_id=agreement.id,
            by=people.admin,
            now=now,
        )
    db.commit()
    return made
