"""Row filters that do not fit their column are refused (422) before any data is read, and
the refusal is recorded, on the page and in the API alike.

The attack: an ordering filter on a category column (`sex:gt:M`) answered 500 from inside
pandas, and because the request rolled back, the attempted read left no trace.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.row_filters import OPERATORS, check_filters, parse_filters
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import datastore
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Classification, ColumnType, Dataset
from governance.datasets.service import ColumnSpec, update_schema
from governance.identity import tokens
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

TYPES = {
    "person_id": ColumnType.STRING,
    "name": ColumnType.STRING,
    "date_of_birth": ColumnType.DATE,
    "sex": ColumnType.CATEGORY,
    "age_at_arrest": ColumnType.INTEGER,
    "arrest_date": ColumnType.DATE,
    "offence_category": ColumnType.CATEGORY,
    "district": ColumnType.STRING,
}
ROWS = pd.DataFrame(
    {
        "person_id": [f"P{i:04d}" for i in range(30)],
        "name": [f"Person {i}" for i in range(30)],
        "date_of_birth": ["1990-01-01"] * 30,
        "sex": ["F", "M", "M"] * 10,
        "age_at_arrest": [18 + i % 40 for i in range(30)],
        "arrest_date": [f"2025-01-{1 + i % 28:02d}" for i in range(30)],
        "offence_category": ["theft", "assault", "fraud"] * 10,
        "district": ["north", "south", "east"] * 10,
    }
)
GRANTED = ("sex", "age_at_arrest", "arrest_date")


@pytest.fixture
def typed(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> Dataset:
    """Arrests declared with real types (sex a category, age an integer, dates as dates),
    stored, and the analyst granted sex, age_at_arrest and arrest_date."""
    arrests = datasets.arrests
    update_schema(
        db,
        dataset_id=arrests.id,
        description="",
        by=SETUP,
        columns=[
            ColumnSpec(c.name, TYPES[c.name], Classification(c.classification))
            for c in arrests.columns
        ],
    )
    db.commit()
    ingest_frame(db, dataset_id=arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP)
    db.commit()
    covered = ask(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    requests.steward_approve(
        db,
        request_id=covered.id,
        columns=["sex", "age_at_arrest"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    return arrests


def view(agreement: Agreement, dataset: Dataset, *filters: str) -> str:
    query = "&".join(
        [
            f"agreement={agreement.id}",
            f"dataset={dataset.id}",
            "purpose=descriptive",
            "columns=sex",
            "columns=age_at_arrest",
            *(f"filter={f}" for f in filters),
        ]
    )
    return f"/data/view?{query}"


def last_read(db: Session) -> AuditEvent:
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.DATASET_READ)
            .order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    return event


@pytest.fixture
def no_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts reads of stored data: a refused filter must not reach the datastore."""
    reads: list[str] = []
    original = datastore.read_columns

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append("read")
        return original(*args, **kwargs)

    monkeypatch.setattr(datastore, "read_columns", counting)
    return reads


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("sex:gt:M", "category"),  # ordering a category: was a 500 from pandas
        ("sex:le:F", "category"),
        ("age_at_arrest:contains:1", "integer"),  # substring search on a number
        ("age_at_arrest:gt:old", "integer"),  # a value of the wrong type
        ("sex:between:F", "operator"),  # an operator that does not exist
    ],
)
def test_a_bad_filter_is_refused_on_the_page_before_reading_and_recorded(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    typed: Dataset,
    no_reads: list[str],
    bad: str,
    says: str,
) -> None:
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(view(agreement, typed, bad))
    assert page.status_code == 422
    assert says in page.get_data(as_text=True)
    assert no_reads == []
    event = last_read(db)
    assert event.outcome == "denied"
    assert bad.split(":")[0] in str(event.detail["filters"])
    assert says in event.detail["reason"]


def test_a_bad_filter_is_refused_in_the_api_and_recorded(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    typed: Dataset,
    no_reads: list[str],
) -> None:
    token = tokens.create_token(
        fresh(db), user_id=people.analyst.id, name="t", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    answer = app.test_client().get(
        f"/api/v1/datasets/{typed.id}/rows?agreement={agreement.id}&purpose=descriptive"
        "&columns=sex&filter=sex:gt:M",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    body = answer.get_json()
    assert "category" in body["message"]
    assert body["fields"]
    assert no_reads == []
    assert last_read(db).outcome == "denied"


def test_an_ungranted_filter_column_is_still_a_403_whatever_its_operator(
    app: Flask, db: Session, people: People, agreement: Agreement, typed: Dataset
) -> None:
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(view(agreement, typed, "offence_category:gt:theft"))
    assert page.status_code == 403  # permission first: nothing said about the column
    assert last_read(db).clause == "access.columns"


def test_filters_that_fit_their_columns_work(
    app: Flask, db: Session, people: People, agreement: Agreement, typed: Dataset
) -> None:
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    for good, matching in (
        ("sex:eq:F", 10),
        ("sex:contains:m", 20),
        ("age_at_arrest:ge:40", 8),
        ("age_at_arrest:lt:20", 2),
    ):
        page = browser.get(view(agreement, typed, good))
        assert page.status_code == 200, good
        assert f"{matching} rows match" in page.get_data(as_text=True), good
        assert last_read(db).outcome == "allowed"


@settings(max_examples=300, deadline=None)
@given(
    column=st.sampled_from(list(TYPES)),
    op=st.sampled_from(list(OPERATORS)),
    value=st.text(max_size=12),
)
def test_every_filter_is_either_refused_with_422_or_applies_without_error(
    column: str, op: str, value: str
) -> None:
    """Whatever column, operator and value: a checked filter runs on typed data without an
    exception from pandas; anything else is a ValidationFailed (422) before data is read."""
    dataset = Dataset(name="Arrests", provider_id=1)
    from governance.datasets.models import DatasetColumn

    dataset.columns = [
        DatasetColumn(position=i, name=name, type=kind, classification=Classification.GENERAL)
        for i, (name, kind) in enumerate(TYPES.items())
    ]
    frame = ROWS.astype({"sex": "category", "offence_category": "category"})
    frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"]).dt.date
    frame["arrest_date"] = pd.to_datetime(frame["arrest_date"]).dt.date
    try:
        checked = check_filters(parse_filters([f"{column}:{op}:{value}"]), dataset)
    except ValidationFailed:
        return
    from governance.access.row_filters import apply_filters

    result = apply_filters(frame, checked)
    assert len(result) <= len(frame)
