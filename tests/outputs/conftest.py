"""Output tests: the test agencies' datasets and an active agreement with the police
(two checkers required, publication allowed, a 30-day preview window)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.identity.models import User
from tests.agreements.builders import Datasets, make_datasets, make_probation_partner
from tests.outputs.builders import active_agreement
from tests.support import People


@pytest.fixture
def datasets(db: Session, people: People) -> Datasets:
    return make_datasets(db, people)


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return active_agreement(db, people, datasets)


@pytest.fixture
def other_partner(db: Session, app: Flask, people: People) -> User:
    """A partner reviewer of the probation agency, which is not party to the agreement."""
    user: User = make_probation_partner(db, app, people)
    return user
