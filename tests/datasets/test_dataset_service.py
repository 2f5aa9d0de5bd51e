"""Declaring datasets: providers, schema rules before and after data, stewards, visibility."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.datasets import service as datasets
from governance.datasets.models import Classification, ColumnType, Dataset
from governance.datasets.service import ColumnSpec, spec_of
from governance.kernel.errors import (
    Conflict,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
)
from tests.datasets.support import COLUMNS
from tests.datasets.test_datastore import store
from tests.support import SETUP, People


def test_a_steward_who_declares_a_dataset_becomes_its_steward(db: Session, people: People) -> None:
    dataset = datasets.create_dataset(
        db,
        name="  Probation   cases ",
        description="",
        provider_id=people.probation.id,
        columns=COLUMNS,
        by=people.steward,
    )
    assert dataset.name == "Probation cases"
    assert dataset.steward_ids == {people.steward.id}
    assert [c.position for c in dataset.columns] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"provider": "lab"}, ValidationFailed),
        ({"columns": []}, ValidationFailed),
        ({"columns": [*COLUMNS, COLUMNS[0]]}, ValidationFailed),
        ({"by": "analyst"}, PermissionDenied),
        ({"name": "Arrests"}, Conflict),
    ],
)
def test_declaring_refuses_bad_input(
    db: Session, people: People, arrests: Dataset, change: dict[str, object], error: type[Exception]
) -> None:
    arguments: dict[str, object] = {
        "name": "New",
        "description": "",
        "provider_id": people.police.id,
        "columns": COLUMNS,
        "by": SETUP,
    }
    if "provider" in change:
        arguments["provider_id"] = people.lab.id
    if "by" in change:
        arguments["by"] = people.analyst
    for key in ("columns", "name"):
        if key in change:
            arguments[key] = change[key]
    with pytest.raises(error):
        datasets.create_dataset(db, **arguments)  # type: ignore[arg-type]


def test_the_schema_file_format(db: Session) -> None:
    description, columns = datasets.parse_schema_json(
        '{"description": "d", "columns": [{"name": "a", "type": "Integer", '
        '"classification": "quasi_identifier", "required": false}]}'
    )
    assert description == "d"
    assert columns == [
        ColumnSpec("a", ColumnType.INTEGER, Classification.QUASI_IDENTIFIER, required=False)
    ]
    with pytest.raises(ValidationFailed) as caught:
        datasets.parse_schema_json('{"columns": [{"name": "", "type": "x"}]}')
    assert "column 1" in caught.value.fields


def test_before_data_the_schema_may_change_freely(db: Session, arrests: Dataset) -> None:
    columns = [
        ColumnSpec("age", ColumnType.FLOAT, Classification.GENERAL),
        ColumnSpec("zip", ColumnType.STRING, Classification.QUASI_IDENTIFIER),
    ]
    datasets.update_schema(db, dataset_id=arrests.id, description="x", columns=columns, by=SETUP)
    db.commit()
    db.refresh(arrests)
    assert [spec_of(c) for c in arrests.columns] == columns


def test_after_data_only_safe_changes_are_allowed_and_reclassifying_is_recorded(
    db: Session, arrests: Dataset
) -> None:
    store(db, arrests)
    current = [spec_of(c) for c in arrests.columns]
    for unsafe in (
        current[1:],
        [current[0], ColumnSpec("age", ColumnType.FLOAT, Classification.GENERAL), *current[2:]],
        [*current, ColumnSpec("zip", ColumnType.STRING, Classification.QUASI_IDENTIFIER)],
    ):
        with pytest.raises(InvalidTransition, match="has stored versions"):
            datasets.update_schema(
                db, dataset_id=arrests.id, description="", columns=unsafe, by=SETUP
            )
        db.rollback()
    safe = [
        *current,
        ColumnSpec("zip", ColumnType.STRING, Classification.QUASI_IDENTIFIER, required=False),
    ]
    safe[1] = ColumnSpec(
        "age", ColumnType.INTEGER, Classification.SENSITIVE, description="Age at arrest"
    )
    datasets.update_schema(db, dataset_id=arrests.id, description="", columns=safe, by=SETUP)
    db.commit()
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_RECLASSIFY)
    ).one()
    assert event.detail["changes"] == [
        {"column": "age", "from": "quasi_identifier", "to": "sensitive"}
    ]


def test_stewards_must_hold_the_role_and_one_must_remain(
    db: Session, people: People, arrests: Dataset
) -> None:
    with pytest.raises(ValidationFailed):
        datasets.add_steward(db, dataset_id=arrests.id, user_id=people.analyst.id, by=SETUP)
    with pytest.raises(Conflict):
        datasets.add_steward(db, dataset_id=arrests.id, user_id=people.steward.id, by=SETUP)
    with pytest.raises(InvalidTransition, match="at least one steward"):
        datasets.remove_steward(db, dataset_id=arrests.id, user_id=people.steward.id, by=SETUP)
    with pytest.raises(PermissionDenied):
        datasets.add_steward(
            db, dataset_id=arrests.id, user_id=people.steward.id, by=people.analyst
        )


def test_partner_reviewers_see_only_their_agencys_datasets(
    db: Session, people: People, arrests: Dataset
) -> None:
    probation = datasets.create_dataset(
        db,
        name="Probation",
        description="",
        provider_id=people.probation.id,
        columns=COLUMNS,
        by=SETUP,
    )
    db.commit()
    seen = db.scalars(datasets.visible_datasets(people.partner)).all()
    assert [d.name for d in seen] == ["Arrests"]
    assert datasets.can_view(people.partner, probation) is False
    assert len(db.scalars(datasets.visible_datasets(people.analyst)).all()) == 2


def test_find_dataset_by_id_or_unique_name(db: Session, people: People, arrests: Dataset) -> None:
    assert datasets.find_dataset(db, str(arrests.id)) is arrests
    assert datasets.find_dataset(db, "Arrests") is arrests
    datasets.create_dataset(
        db,
        name="Arrests",
        description="",
        provider_id=people.probation.id,
        columns=COLUMNS,
        by=SETUP,
    )
    with pytest.raises(Conflict, match="give its id"):
        datasets.find_dataset(db, "Arrests")
