"""Every sealed kind is sealed by the one mechanism (kernel/sealed_kinds.py): the service's own
bulk statements on grants' columns and on training records seal what they write, as they do
for every other kind, and the one registry holds every kind in the order it is sealed once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from governance.access import agreement_seals, seals
from governance.access.live_grants import load_changes
from governance.access.models import GrantColumn
from governance.agreements.models import Agreement
from governance.datasets import seals as dataset_seals
from governance.datasets.models import Classification
from governance.identity import seals as identity_seals
from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel import sealed_kinds
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import People


def test_one_registry_holds_every_kind_in_the_order_it_is_sealed(db: Session) -> None:
    names = [
        k.kind
        for k in (
            *seals.KINDS,
            *identity_seals.KINDS,
            *agreement_seals.KINDS,
            *dataset_seals.KINDS,
        )
    ]
    assert list(sealed_kinds.KINDS) == names
    assert sealed_kinds.starts() == [None, "agreement:seals_start"]


def test_a_bulk_update_of_every_granted_column_seals_the_grants_it_changes(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """An UPDATE without a WHERE changes every grant's columns: each grant whose seal held is
    sealed again, not left broken."""
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    db.execute(update(GrantColumn).values(classification=Classification.GENERAL))
    db.commit()
    [(_, entry)] = [c for c in load_changes(fresh(db), -1) if c[0] == grant_id]
    assert entry is not None
    assert entry.sealed
    assert not [b for b in seals.broken_seals(fresh(db)) if b.kind == seals.GRANT_KIND]


def test_a_bulk_insert_of_training_records_seals_them_and_names_their_ids(
    db: Session, people: People
) -> None:
    today = utcnow().date()
    record = {
        "user_id": people.analyst.id,
        "course": TrainingCourse.HUMAN_SUBJECTS,
        "completed_on": today,
        "expires_on": today + dt.timedelta(days=365),
        "recorded_by_id": people.admin.id,
    }
    with pytest.raises(ValueError, match="names each row's key"):
        db.execute(insert(TrainingRecord), [record])
    db.rollback()
    db.execute(insert(TrainingRecord), [{"id": 90_001, **record}])
    db.commit()
    stored = fresh(db).execute(
        select(*seals.TRAINING_FIELDS, TrainingRecord.seal).where(TrainingRecord.id == 90_001)
    )
    assert seals.training_seal_holds(seals.ring(fresh(db)), stored.one())
