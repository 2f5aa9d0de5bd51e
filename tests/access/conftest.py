"""Access tests: the agencies' datasets with a steward, and an active agreement over them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.datasets.models import DatasetSteward
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
    """Active now: covers person_id, sex, age_at_arrest and offence_category of the arrests,
    for descriptive and matched-comparison work by the two analysts."""
    return approved(db, people, datasets)
