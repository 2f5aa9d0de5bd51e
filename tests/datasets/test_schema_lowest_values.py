"""A schema file may declare each number column's lowest value (the rounding origin,
datasets/lowest_values.py) when the column is first declared, so a steward sets up a data set
in one step; a declared value is then kept by schema edits and changed only where a reason is
asked for. Bad values are a 422 naming the column, nothing saved."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.datasets import service as datasets
from governance.datasets.models import Classification, Dataset
from governance.datasets.service import spec_of
from governance.kernel.errors import ValidationFailed
from tests.conftest import fresh
from tests.datasets.test_datastore import store
from tests.support import SETUP, People

SCHEMA = """{"columns": [
  {"name": "person_id", "type": "string", "classification": "direct_identifier"},
  {"name": "age", "type": "integer", "classification": "quasi_identifier", "lowest_value": 10},
  {"name": "fine", "type": "float", "classification": "general", "lowest_value": "0"},
  {"name": "priors", "type": "integer", "classification": "general"}
]}"""


def declare(db: Session, people: People, schema: str = SCHEMA) -> Dataset:
    _, columns = datasets.parse_schema_json(schema)
    return datasets.create_dataset(
        db,
        name="Fines",
        description="",
        provider_id=people.probation.id,
        columns=columns,
        by=people.steward,
    )


def test_a_schema_file_declares_lowest_values_and_the_creation_records_them(
    db: Session, people: People
) -> None:
    dataset = declare(db, people)
    db.commit()
    stored = fresh(db).get(Dataset, dataset.id)
    assert stored is not None
    assert {c.name: c.lowest_value for c in stored.columns} == {
        "person_id": None,
        "age": 10.0,
        "fine": 0.0,
        "priors": None,
    }
    created = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_CREATE)
    ).one()
    assert [c["lowest_value"] for c in created.detail["columns"]] == [None, 10.0, 0.0, None]


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        ('"type": "string", "classification": "general", "lowest_value": 0', "integer and float"),
        ('"type": "integer", "classification": "general", "lowest_value": "ten"', "number"),
        ('"type": "float", "classification": "general", "lowest_value": 1e300', "finite"),
        ('"type": "integer", "classification": "general", "lowest_value": true', "number"),
    ],
)
def test_a_bad_lowest_value_in_a_schema_file_names_the_column(
    db: Session, people: People, column: str, problem: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        datasets.parse_schema_json(f'{{"columns": [{{"name": "a", {column}}}]}}')
    assert problem in caught.value.fields["column 1"]
    assert "lowest_value" in caught.value.fields["column 1"]


def test_schema_edits_keep_a_declared_value_and_refuse_to_change_it(
    db: Session, people: People
) -> None:
    dataset = declare(db, people)
    db.commit()
    # The declare page's form carries no lowest values: an edit keeps them.
    edited = [
        datasets.ColumnSpec(s.name, s.type, s.classification, s.required, "edited")
        for s in (spec_of(c) for c in dataset.columns)
    ]
    datasets.update_schema(db, dataset_id=dataset.id, description="", columns=edited, by=SETUP)
    db.commit()
    assert {c.name: c.lowest_value for c in fresh(db).get(Dataset, dataset.id).columns}["age"] == 10
    # A schema may declare a column that has no value yet, but not move a declared one:
    # that is asked for a reason elsewhere.
    moved = [spec_of(c) for c in fresh(db).get(Dataset, dataset.id).columns]
    moved[1] = replace(moved[1], lowest_value=0.0)
    with pytest.raises(ValidationFailed, match="already declared"):
        datasets.update_schema(db, dataset_id=dataset.id, description="", columns=moved, by=SETUP)
    db.rollback()
    moved[1] = replace(moved[1], lowest_value=10.0)
    moved[3] = replace(moved[3], lowest_value=0.0)
    datasets.update_schema(db, dataset_id=dataset.id, description="", columns=moved, by=SETUP)
    db.commit()
    stored = fresh(db).get(Dataset, dataset.id)
    assert {c.name: c.lowest_value for c in stored.columns}["priors"] == 0.0


def test_asking_to_lower_a_class_keeps_the_columns_labels_and_lowest_value(
    db: Session, people: People
) -> None:
    """A stored column moved to a less protected class keeps its class until a privacy officer
    approves; the rest of the edit applies now, its value labels and lowest value included."""
    dataset = declare(db, people)
    db.commit()
    current = [spec_of(c) for c in dataset.columns]
    current[1] = replace(current[1], value_labels={"10": "ten"})
    datasets.update_schema(db, dataset_id=dataset.id, description="", columns=current, by=SETUP)
    db.commit()
    frame = pd.DataFrame({"person_id": ["p"], "age": [20], "fine": [1.5], "priors": [0]})
    store(db, dataset, frame)
    lowered = [spec_of(c) for c in fresh(db).get(Dataset, dataset.id).columns]
    lowered[1] = replace(lowered[1], classification=Classification.GENERAL, lowest_value=None)
    datasets.update_schema(
        db, dataset_id=dataset.id, description="", columns=lowered, by=SETUP, reason="coarse"
    )
    db.commit()
    age = fresh(db).get(Dataset, dataset.id).column("age")
    assert age is not None
    assert (age.classification, age.value_labels, age.lowest_value) == (
        Classification.QUASI_IDENTIFIER,
        {"10": "ten"},
        10.0,
    )
