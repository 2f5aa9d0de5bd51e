"""A row limit beside the size limit: a few kilobytes of Parquet can hold millions of rows.

An attacker's 52 KB Parquet file once stored 5,000,000 rows. Uploads now hold at most
MAX_UPLOAD_ROWS rows (default 20 million), checked from the Parquet footer before a row is
decompressed and again while converting; a longer file is a 422 naming the limit, nothing is
stored, and the refusal is recorded. The page, the API, the CLI and data frames all go
through the same check.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.audit.models import Outcome
from governance.datasets.ingest import IngestionRefused
from governance.datasets.ingest.problems import IngestLimits
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Dataset
from governance.identity import tokens
from governance.kernel.types import utcnow
from tests.conftest import Browser
from tests.datasets.support import data_files, rows_csv, version_count
from tests.datasets.test_upload_pages import ingest_events, plain, upload
from tests.support import PASSWORD, SETUP, People

LIMIT = 1000


def constant_parquet(rows: int) -> bytes:
    """`rows` identical rows, compressed to almost nothing, written in slices."""
    schema = pa.schema(
        [
            ("person_id", pa.string()),
            ("age", pa.int64()),
            ("arrest_date", pa.date32()),
            ("offence", pa.string()),
        ]
    )
    piece = min(rows, 4_000_000)
    block = pa.table(
        {
            "person_id": pa.repeat(pa.scalar("P1"), piece),
            "age": pa.repeat(pa.scalar(30), piece),
            "arrest_date": pa.repeat(pa.scalar(18000, pa.date32()), piece),
            "offence": pa.repeat(pa.scalar("theft"), piece),
        },
        schema=schema,
    )
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        written = 0
        while written < rows:
            size = min(piece, rows - written)
            writer.write_table(block.slice(0, size), row_group_size=4_000_000)
            written += size
    return sink.getvalue()


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    return {"TESTING": True, "DATABASE_URL": database_url, "MAX_UPLOAD_ROWS": LIMIT}


@pytest.fixture
def steward(browser: Browser, people: People) -> Browser:
    browser.login(people.steward.email, PASSWORD)
    return browser


@pytest.mark.parametrize(
    ("content", "name"),
    [
        pytest.param(lambda: constant_parquet(LIMIT + 1), "arrests.parquet", id="parquet"),
        pytest.param(lambda: rows_csv(LIMIT + 1), "arrests.csv", id="csv"),
    ],
)
def test_an_upload_over_the_row_limit_is_refused_on_the_page(
    app: Flask, db: Session, steward: Browser, arrests: Dataset, content: Any, name: str
) -> None:
    response = upload(steward, arrests, content(), name)
    assert response.status_code == 422
    text = plain(response)
    assert "The file was not stored" in text
    assert f"more than {LIMIT:,} rows" in text
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []
    [event] = ingest_events(db)
    assert event.outcome == Outcome.FAILURE
    assert f"more than {LIMIT:,} rows" in event.detail["problems"][0]


def test_an_upload_at_the_row_limit_is_stored(
    app: Flask, db: Session, steward: Browser, arrests: Dataset
) -> None:
    assert upload(steward, arrests, constant_parquet(LIMIT), "arrests.parquet").status_code == 302
    assert version_count(db, arrests.id) == 1


def test_an_upload_over_the_row_limit_is_refused_by_the_api(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    token = tokens.create_token(
        db, user_id=people.steward.id, name="upload", days=None, by=SETUP, now=utcnow()
    )
    db.commit()
    response = app.test_client().post(
        f"/api/v1/datasets/{arrests.id}/versions",
        headers={"Authorization": f"Bearer {token.secret}"},
        data={"file": (io.BytesIO(constant_parquet(LIMIT + 1)), "arrests.parquet")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert f"more than {LIMIT:,} rows" in response.get_json()["fields"]["file"]
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []


def test_a_data_frame_over_the_row_limit_is_refused(
    db: Session, arrests: Dataset, app: Flask
) -> None:
    frame = pd.DataFrame(
        {
            "person_id": ["P1"] * (LIMIT + 1),
            "age": [30] * (LIMIT + 1),
            "arrest_date": pd.to_datetime(["2021-01-01"] * (LIMIT + 1)),
            "offence": ["theft"] * (LIMIT + 1),
        }
    )
    with pytest.raises(IngestionRefused, match="not stored"):
        ingest_frame(db, dataset_id=arrests.id, frame=frame, source_filename="frame", by=SETUP)
    db.rollback()
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []


def test_the_default_limit_refuses_a_tiny_file_of_twenty_million_rows(tmp_path: Path) -> None:
    """Against the default limit: the footer's row count refuses the file before a single
    row is decompressed (a few milliseconds, not minutes of conversion)."""
    from governance.datasets.ingest import open_upload
    from tests.datasets.support import COLUMNS

    content = constant_parquet(20_000_001)
    assert len(content) < 1024 * 1024
    limits = IngestLimits()
    assert limits.max_rows == 20_000_000
    with pytest.raises(IngestionRefused) as refused:
        next(open_upload(io.BytesIO(content), "bomb.parquet", COLUMNS, limits).batches)
    assert "more than 20,000,000 rows" in refused.value.problems[0].text
