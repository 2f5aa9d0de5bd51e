"""Fixtures for dataset tests: a declared arrests dataset with one steward, and a person of
another provider agency."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.authz import Role
from governance.datasets.models import Dataset
from governance.datasets.service import create_dataset
from governance.identity.models import User
from tests.datasets.support import COLUMNS
from tests.support import SETUP, People, add_person


@pytest.fixture
def arrests(db: Session, people: People) -> Dataset:
    dataset = create_dataset(
        db,
        name="Arrests",
        description="Arrest records, 2010-2023",
        provider_id=people.police.id,
        columns=COLUMNS,
        steward_ids=[people.steward.id],
        by=SETUP,
    )
    db.commit()
    return dataset


@pytest.fixture
def other_agency(app: Flask, db: Session, people: People) -> User:
    """A partner reviewer of the probation service: the police's arrests are not theirs."""
    person = add_person(
        db,
        app,
        email="prob@test.example",
        name="Prob",
        org=people.probation,
        roles=(Role.PARTNER_REVIEWER,),
    )
    db.commit()
    return person
