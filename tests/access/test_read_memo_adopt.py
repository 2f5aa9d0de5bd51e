"""The read memo's rows, rebuilt in each read's session without a query (`read_memo.adopt`):
they behave as the rows a query loads: persistent in that session alone, nothing to flush,
related rows in place, lazy relations loading when asked, mutable values their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, joinedload, lazyload

from governance.authz.read_memo import adopt, snapshot
from governance.datasets.models import Dataset, DatasetColumn
from governance.identity.token_model import ApiToken
from governance.identity.tokens import create_token
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets
from tests.support import People


@pytest.fixture
def dataset_id(db: Session, datasets: Datasets) -> int:
    """The arrests dataset, committed: each test loads it in sessions of its own."""
    db.commit()
    return datasets.arrests.id


def _loaded(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(
        Dataset,
        dataset_id,
        options=(lazyload(Dataset.provider), joinedload(Dataset.columns)),
    )
    assert dataset is not None
    return dataset


@contextmanager
def _statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def log(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        seen.append(sql)

    event.listen(database(app).engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(database(app).engine, "before_cursor_execute", log)


def test_an_adopted_row_and_its_collection_are_the_sessions_own_and_unchanged(
    app: Flask, dataset_id: int
) -> None:
    with database(app).session() as first:
        loaded = _loaded(first, dataset_id)
        snap = snapshot(loaded, "columns")
        names = [c.name for c in loaded.columns]
        provider_id = loaded.provider_id
    with database(app).session() as session:
        session.connection()  # the read's transaction has begun (the epoch was read)
        with _statements(app) as seen:
            dataset = adopt(session, snap)
            assert seen == []  # no query
            assert dataset is not None
            assert dataset is not loaded
            state = inspect(dataset)
            assert state.persistent
            assert state.session is session
            assert [c.name for c in dataset.columns] == names
            assert all(inspect(c).persistent and c.dataset is dataset for c in dataset.columns)
            assert session.get(Dataset, dataset_id) is dataset  # the identity map's
            assert not session.dirty
            assert not session.new
            session.flush()
            assert seen == []  # nothing to write
            # A relation the memo did not keep loads when asked, as after a query.
            assert dataset.provider.id == provider_id
            assert len(seen) == 1
        # Asked again in the same session: the same instance.
        assert adopt(session, snap) is dataset


def test_each_session_gets_its_own_instances_and_its_own_mutable_values(
    app: Flask, dataset_id: int
) -> None:
    with database(app).session() as first:
        loaded = _loaded(first, dataset_id)
        loaded.data_use = {"codes": ["DUO:0000042"]}  # a mutable value, kept in the memo
        loaded.columns[0].value_labels = {"1": "one"}
        snap = snapshot(loaded, "columns")
        data_use, labels, name = (
            loaded.data_use,
            loaded.columns[0].value_labels,
            loaded.columns[0].name,
        )
        first.rollback()
    with database(app).session() as one, database(app).session() as two:
        a, b = adopt(one, snap), adopt(two, snap)
        assert a is not None
        assert b is not None
        assert a is not b
        assert a.columns[0] is not b.columns[0]
        a.data_use["codes"].append("changed")
        a.columns[0].value_labels["2"] = "two"
        b.columns[0].name = "renamed"
        # A change set through an attribute is one to write, as after a query.
        assert inspect(b.columns[0]).modified
        assert not inspect(a).modified  # in place (JSON values are not tracked), as ever
        with database(app).session() as three:
            c = adopt(three, snap)
            assert c is not None
            assert c.data_use == data_use
            assert c.columns[0].value_labels == labels
            assert c.columns[0].name == name


def test_a_token_and_its_holder_adopted_together_and_a_change_is_flushed(
    app: Flask, db: Session, people: People
) -> None:
    created = create_token(
        db, user_id=people.analyst.id, name="s", days=None, by=people.analyst, now=utcnow()
    )
    db.commit()
    with database(app).session() as first:
        token = first.get(ApiToken, created.token.id)
        assert token is not None
        snap = snapshot(token, "user")
    with database(app).session() as session:
        adopted = adopt(session, snap)
        assert adopted is not None
        assert adopted.user.id == people.analyst.id
        assert inspect(adopted.user).persistent
        adopted.name = "renamed"  # a read that changes its row writes it, as after a query
        session.commit()
    db.expire_all()
    assert db.get(ApiToken, created.token.id).name == "renamed"  # type: ignore[union-attr]


def test_a_session_holding_one_of_the_collections_rows_loads_instead(
    app: Flask, dataset_id: int
) -> None:
    with database(app).session() as first:
        snap = snapshot(_loaded(first, dataset_id), "columns")
        column_id = first.get(Dataset, dataset_id).columns[0].id  # type: ignore[union-attr]
    with database(app).session() as session:
        held = session.get(DatasetColumn, column_id)  # held: the session keeps rows weakly
        assert adopt(session, snap) is None  # the caller loads it: one instance per row
        assert held is not None
