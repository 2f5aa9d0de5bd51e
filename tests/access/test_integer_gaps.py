"""An integer column with missing values reads back as integers, every digit kept, wherever a
person sees it: the API's page of rows (plain, filtered or sorted), the HTML page, the CSV
export, and the frame the door loads for an analysis. Before, pandas decoded such a column as
floats: 38 was shown as 38.0 and 9007199254740993 (2**53 + 1) as 9007199254740992."""

from __future__ import annotations

import csv as csv_module
import datetime as dt
import io
import json
from typing import Any

import pandas as pd
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.data_door import load_columns
from governance.access.models import AccessRequest, RequestStatus
from governance.agreements.models import Agreement
from governance.datasets import datastore
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import ColumnType, DatasetColumn, DatasetVersion
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets, approved
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

BIG = 2**53 + 1  # 9007199254740993: a float has no such value
INT64 = (-(2**63), 2**63 - 1)
# Thirty ages: 38, a gap, 2**53 + 1, the int64 extremes, small numbers, more gaps.
AGES: list[int | None] = [
    [38, None, BIG, INT64[0], INT64[1], 0, -1][i] if i < 7 else (None if i % 4 == 0 else i)
    for i in range(30)
]


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(db, people, datasets, row_level_download=True)


def declare_integer(db: Session, datasets: Datasets, name: str = "age_at_arrest") -> None:
    declared = db.scalars(
        select(DatasetColumn).where(
            DatasetColumn.dataset_id == datasets.arrests.id, DatasetColumn.name == name
        )
    ).one()
    declared.type, declared.required = ColumnType.INTEGER, False
    db.commit()


def store_ages(db: Session, datasets: Datasets, ages: list[int | None]) -> None:
    frame = ROWS.head(len(ages)).copy()
    frame["age_at_arrest"] = pd.Series(ages, dtype=object)
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=frame, source_filename="ages.csv", by=SETUP
    )
    db.commit()


@pytest.fixture
def granted(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> Datasets:
    declare_integer(db, datasets)
    store_ages(db, datasets, AGES)
    request = ask_and_grant(
        db, people, agreement, datasets, columns=("sex", "age_at_arrest"), download=True
    )
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    return datasets


def api_page(
    client: FlaskClient,
    headers: dict[str, str],
    agreement: Agreement,
    datasets: Datasets,
    *extra: str,
) -> Any:
    query = "&".join(
        (
            f"agreement={agreement.id}",
            "purpose=descriptive",
            "columns=sex",
            "columns=age_at_arrest",
            "per_page=100",
            *extra,
        )
    )
    answer = client.get(f"/api/v1/datasets/{datasets.arrests.id}/rows?{query}", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer


def test_the_api_page_shows_each_integer_as_stored_and_each_gap_as_null(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, granted: Datasets
) -> None:
    headers = token_of(db, people.analyst)
    answer = api_page(client, headers, agreement, granted)
    assert [row["age_at_arrest"] for row in answer.get_json()["items"]] == AGES
    raw = answer.get_data(as_text=True)
    assert '"age_at_arrest":38,' in raw
    assert '"age_at_arrest":null,' in raw
    assert '"age_at_arrest":9007199254740993,' in raw
    assert "38.0" not in raw
    assert "9007199254740992" not in raw
    # The same values on the way through a filter and a sort (the frame, not the plain page).
    ordered = api_page(client, headers, agreement, granted, "sort=age_at_arrest", "dir=desc")
    present = sorted((a for a in AGES if a is not None), reverse=True)
    gaps = [None] * AGES.count(None)
    assert [r["age_at_arrest"] for r in ordered.get_json()["items"]] == present + gaps
    exact = api_page(client, headers, agreement, granted, f"filter=age_at_arrest:eq:{BIG}")
    assert [r["age_at_arrest"] for r in exact.get_json()["items"]] == [BIG]
    below = api_page(client, headers, agreement, granted, f"filter=age_at_arrest:lt:{BIG}")
    assert [r["age_at_arrest"] for r in below.get_json()["items"]] == [
        a for a in AGES if a is not None and a < BIG
    ]
    # A gap is "not equal" to a value, as it was when the column was read as floats.
    others = api_page(client, headers, agreement, granted, "filter=age_at_arrest:ne:38")
    assert [r["age_at_arrest"] for r in others.get_json()["items"]] == [a for a in AGES if a != 38]


def test_the_html_page_and_the_csv_export_show_the_integers_as_stored(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, granted: Datasets
) -> None:
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    scope = f"agreement={agreement.id}&dataset={granted.arrests.id}&purpose=descriptive"
    page = browser.get(f"/data/view?{scope}&columns=sex&columns=age_at_arrest")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<td>38</td>" in html
    assert "<td>9007199254740993</td>" in html
    assert "38.0" not in html
    assert "9007199254740992" not in html
    export = browser.get(f"/data/download?{scope}&columns=sex&columns=age_at_arrest")
    assert export.status_code == 200
    lines = list(csv_module.reader(io.StringIO(export.get_data(as_text=True))))
    header = lines.index(["sex", "age_at_arrest"])
    rows = lines[header + 1 : header + 1 + len(AGES)]
    assert [row[1] for row in rows] == ["" if a is None else str(a) for a in AGES]


def test_the_door_loads_exact_nullable_integers_for_its_callers(
    db: Session, people: People, agreement: Agreement, granted: Datasets
) -> None:
    loaded = load_columns(
        db,
        by=people.analyst,
        agreement_id=agreement.id,
        dataset_id=granted.arrests.id,
        columns=["sex", "age_at_arrest"],
        purpose="descriptive",
        now=utcnow(),
        context={"analysis_run": 0},
    )
    db.commit()
    ages = loaded.frame["age_at_arrest"]
    assert ages.dtype == "Int64"
    assert [None if pd.isna(a) else a for a in ages.tolist()] == AGES
    # What float-expecting code does with them still works: a mean, a float array. (The
    # engine itself is handed them as floats, as before: tests/analysis says why.)
    present = [a for a in AGES if a is not None]
    assert ages.mean() == pytest.approx(sum(present) / len(present))
    assert ages.to_numpy(dtype=float, na_value=float("nan")).shape == (len(AGES),)


def test_a_column_without_gaps_and_one_declared_later_read_as_before(
    db: Session, granted: Datasets
) -> None:
    """No gap: numpy's int64, as always. Declared after the version was stored: all gaps."""
    store_ages(db, granted, list(range(30)))
    dataset = fresh(db).get(type(granted.arrests), granted.arrests.id)
    assert dataset is not None
    dataset.columns.append(
        DatasetColumn(
            position=len(dataset.columns),
            name="priors",
            type=ColumnType.INTEGER,
            classification=dataset.columns[0].classification,
        )
    )
    db.commit()
    version = db.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == granted.arrests.id)
        .order_by(DatasetVersion.number.desc())
    ).first()
    assert version is not None
    for frame in (
        datastore.read_columns(version, ["age_at_arrest", "priors"]),
        datastore.read_columns(
            version, ["age_at_arrest", "priors"], filters=[("age_at_arrest", ">=", 0)]
        ),
    ):
        assert frame["age_at_arrest"].dtype == "int64"
        assert frame["age_at_arrest"].tolist() == list(range(30))
        assert frame["priors"].isna().all()
        assert len(frame) == 30


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ages=st.lists(
        st.none() | st.integers(min_value=INT64[0], max_value=INT64[1]), min_size=1, max_size=30
    ),
    per_page=st.integers(min_value=1, max_value=30),
)
def test_any_integers_with_any_gaps_come_back_through_the_api_as_stored(
    client: FlaskClient,
    db: Session,
    people: People,
    agreement: Agreement,
    granted: Datasets,
    ages: list[int | None],
    per_page: int,
) -> None:
    """store -> door -> API: every page, concatenated, is the stored column, gaps as null,
    and the JSON has the integers' own digits."""
    store_ages(db, granted, ages)
    headers = token_of(db, people.analyst)
    shown: list[Any] = []
    for page in range(1, -(-len(ages) // per_page) + 1):
        answer = client.get(
            f"/api/v1/datasets/{granted.arrests.id}/rows?agreement={agreement.id}"
            f"&purpose=descriptive&columns=age_at_arrest&page={page}&per_page={per_page}",
            headers=headers,
        )
        assert answer.status_code == 200
        items = json.loads(answer.get_data())["items"]  # Python's json: ints of any size
        shown.extend(item["age_at_arrest"] for item in items)
    assert shown == ages
    # 38.0 == 38 in Python: the type too (an integer is never shown as a float).
    assert [type(value) for value in shown] == [type(age) for age in ages]


def test_dates_and_booleans_with_gaps_are_not_mangled(db: Session, granted: Datasets) -> None:
    """They decode as Python dates and booleans with None for the gaps (no NaT, no floats)."""
    for name, kind, values in (
        ("arrest_date", ColumnType.DATE, [dt.date(2025, 1, 2), None, dt.date(1900, 12, 31)]),
        ("district", ColumnType.BOOLEAN, [True, None, False]),
    ):
        declared = db.scalars(
            select(DatasetColumn).where(
                DatasetColumn.dataset_id == granted.arrests.id, DatasetColumn.name == name
            )
        ).one()
        declared.type, declared.required = kind, False
        db.commit()
        frame = ROWS.head(3).copy()
        frame["age_at_arrest"] = pd.Series([1, 2, 3], dtype=object)
        frame[name] = pd.Series(values, dtype=object)
        version = ingest_frame(
            db, dataset_id=granted.arrests.id, frame=frame, source_filename="x.csv", by=SETUP
        )
        db.commit()
        read = datastore.read_columns(version, [name])[name].tolist()
        assert read == values
