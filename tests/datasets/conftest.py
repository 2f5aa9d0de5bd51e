"""Fixtures for dataset tests: a declared arrests dataset with one steward."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from governance.datasets.models import Dataset
from governance.datasets.service import create_dataset
from tests.datasets.support import COLUMNS
from tests.support import SETUP, People


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
