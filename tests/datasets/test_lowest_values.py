"""A steward declares the lowest value of each number column (datasets/lowest_values.py): on the
dataset's page and through PUT /api/v1/datasets/<id>/lowest-values, audited with the values
before and after (`dataset:declare_lowest`). Only integer and float columns, finite numbers;
anything else is a 422 naming the column with nothing written; a body that is not JSON is a
400; changing a declared value needs a reason; anyone but a steward of the dataset gets 403,
recorded. Both databases."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from governance import schema
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.datasets.models import Dataset
from governance.kernel.db import Base
from tests.committees.test_committee_api import bearer
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def events(db: Session, outcome: Outcome = Outcome.SUCCESS) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent)
            .where(
                AuditEvent.event_type == AuditType.DATASET_DECLARE_LOWEST,
                AuditEvent.outcome == outcome,
            )
            .order_by(AuditEvent.seq)
        )
    )


def lowest(db: Session, dataset: Dataset, column: str) -> float | None:
    found = fresh(db).get(Dataset, dataset.id)
    assert found is not None
    named = found.column(column)
    assert named is not None
    return named.lowest_value


def put(app: Flask, db: Session, people: People, dataset: Dataset, body: Any, role="steward"):
    return app.test_client().put(
        f"/api/v1/datasets/{dataset.id}/lowest-values",
        json=body,
        headers=bearer(db, getattr(people, role)),
    )


def test_the_steward_declares_a_lowest_value_and_it_is_audited(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    answer = put(app, db, people, arrests, {"lowest_values": {"age": 0}})
    assert answer.status_code == 200, answer.get_json()
    age = next(c for c in answer.get_json()["columns"] if c["name"] == "age")
    assert age["lowest_value"] == 0
    assert lowest(db, arrests, "age") == 0
    (made,) = events(db)
    assert (made.actor_id, made.dataset_id) == (people.steward.id, arrests.id)
    assert made.detail == {"changes": [{"column": "age", "before": None, "after": 0.0}]}
    # The same value again changes nothing and records nothing.
    assert put(app, db, people, arrests, {"lowest_values": {"age": 0}}).status_code == 200
    assert len(events(db)) == 1


def test_changing_a_declared_value_needs_a_reason(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    """Means released before and after a change are from two origins, which give a group's
    exact count: the steward answers for it in the audit trail."""
    assert put(app, db, people, arrests, {"lowest_values": {"age": 10}}).status_code == 200
    bare = put(app, db, people, arrests, {"lowest_values": {"age": 0}})
    assert bare.status_code == 422
    assert bare.get_json()["fields"] == {"reason": "Required when a declared value changes."}
    assert lowest(db, arrests, "age") == 10
    why = "Children are recorded too since 2025."
    moved = put(app, db, people, arrests, {"lowest_values": {"age": 0}, "reason": why})
    assert moved.status_code == 200
    last = events(db)[-1]
    assert last.detail == {
        "changes": [{"column": "age", "before": 10.0, "after": 0.0}],
        "reason": why,
    }
    cleared = put(app, db, people, arrests, {"lowest_values": {"age": None}, "reason": why})
    assert cleared.status_code == 200
    assert lowest(db, arrests, "age") is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"offence": 0}, "offence"),  # a category column has no lowest value
        ({"arrest_date": 0}, "arrest_date"),
        ({"height": 0}, "height"),  # no such column
        ({"age": "ten"}, "age"),
        ({"age": True}, "age"),
        ({"age": 1e300}, "age"),
    ],
)
def test_a_bad_value_is_a_422_naming_the_column_and_nothing_is_written(
    app: Flask, db: Session, people: People, arrests: Dataset, values: dict[str, Any], field: str
) -> None:
    answer = put(app, db, people, arrests, {"lowest_values": values})
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["fields"]
    assert lowest(db, arrests, "age") is None
    assert events(db) == []


def test_a_body_that_is_not_json_is_a_400(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    answer = app.test_client().put(
        f"/api/v1/datasets/{arrests.id}/lowest-values",
        data="age=0",
        headers={**bearer(db, people.steward), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert put(app, db, people, arrests, {"age": 0}).status_code == 422  # not under lowest_values


def test_someone_not_a_steward_of_the_dataset_is_refused_and_recorded(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    """Attacker's test: an analyst who could move the origin between two releases would get
    the difference of two means back."""
    for role in ("analyst", "admin"):
        answer = put(app, db, people, arrests, {"lowest_values": {"age": 0}}, role=role)
        assert answer.status_code == 403, role
    assert lowest(db, arrests, "age") is None
    assert len(events(db, Outcome.DENIED)) == 2


def test_the_page_shows_and_saves_the_lowest_values(
    app: Flask, browser: Browser, db: Session, people: People, arrests: Dataset
) -> None:
    browser.login(people.steward.email, PASSWORD)
    page = browser.get(f"/datasets/{arrests.id}").get_data(as_text=True)
    assert "Lowest values of number columns" in page
    assert 'name="lowest:age"' in page
    assert 'name="lowest:offence"' not in page
    saved = browser.post(f"/datasets/{arrests.id}/lowest-values", data={"lowest:age": "16"})
    assert saved.status_code == 302
    assert lowest(db, arrests, "age") == 16
    assert 'value="16"' in browser.get(f"/datasets/{arrests.id}").get_data(as_text=True)
    wrong = browser.post(f"/datasets/{arrests.id}/lowest-values", data={"lowest:age": "old"})
    assert wrong.status_code == 422
    assert lowest(db, arrests, "age") == 16
    analyst = Browser(app.test_client())
    analyst.login(people.analyst.email, PASSWORD)
    seen = analyst.get(f"/datasets/{arrests.id}").get_data(as_text=True)
    assert "Lowest values of number columns" in seen
    assert 'id="lowest-form"' not in seen


def test_migration_0051_gives_every_column_no_lowest_value_and_matches_the_models(
    db: Session, arrests: Dataset
) -> None:
    engine = db.get_bind()
    db.close()
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0050")
    assert "lowest_value" not in {c["name"] for c in inspect(engine).get_columns("dataset_column")}
    schema.upgrade(engine)
    assert lowest(db, arrests, "age") is None
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert not [d for d in differences if "dataset_column" in repr(d)]
