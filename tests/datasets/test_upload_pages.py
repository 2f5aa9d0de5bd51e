"""Uploading through the page: stewards only, a clear 422 for every bad file, nothing saved."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pyarrow as pa
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.datasets.models import Dataset
from tests.conftest import Browser, csrf_token, fresh
from tests.datasets.support import (
    GOOD_CSV,
    HEADER,
    data_files,
    good_parquet,
    parquet_bytes,
    rows_csv,
    version_count,
)
from tests.support import PASSWORD, People


def upload(browser: Browser, dataset: Dataset, content: bytes, name: str = "arrests.csv") -> Any:
    """Post the file as a browser does. The body is encoded here, in memory, because
    werkzeug's test client spools a large body to a temporary file it never closes."""
    boundary = "----upload-test-boundary"
    token = csrf_token(browser.client, "/login")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f'{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return browser.client.post(
        f"/datasets/{dataset.id}/versions",
        input_stream=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=len(body),
    )


def plain(response: Any) -> str:
    """The page's text as a person reads it: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", response.get_data(as_text=True)))


def ingest_events(db: Session) -> list[AuditEvent]:
    fresh(db)
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.DATASET_INGEST)
            .order_by(AuditEvent.seq)
        )
    )


@pytest.fixture
def steward(browser: Browser, people: People) -> Browser:
    browser.login(people.steward.email, PASSWORD)
    return browser


def test_a_steward_uploads_versions_one_and_two(
    app: Flask, db: Session, steward: Browser, arrests: Dataset
) -> None:
    response = upload(steward, arrests, GOOD_CSV)
    assert response.status_code == 302
    page = steward.get(f"/datasets/{arrests.id}").get_data(as_text=True)
    assert "version 1" in page
    assert "3 rows" in page
    assert upload(steward, arrests, good_parquet(), "arrests.parquet").status_code == 302
    assert version_count(db, arrests.id) == 2
    assert len(data_files(app)) == 2
    [first, second] = ingest_events(db)
    assert (first.outcome, second.outcome) == (Outcome.SUCCESS, Outcome.SUCCESS)
    assert second.detail["version"] == 2
    assert second.detail["format"] == "parquet"
    page = steward.get(f"/datasets/{arrests.id}").get_data(as_text=True)
    assert "arrests.parquet" in page
    assert "Direct identifier" in page


BAD_FILES = [
    pytest.param(
        b"person_id,age\nJos\xe9,3\n", "arrests.csv", "not valid UTF-8", id="wrong-encoding"
    ),
    pytest.param(
        HEADER + b"P1\x00,3,2021-03-04,theft,,\n", "arrests.csv", "NUL byte", id="nul-byte"
    ),
    pytest.param(
        b"person_id,age,age,arrest_date,offence\n",
        "arrests.csv",
        "appears more than once",
        id="duplicate-header",
    ),
    pytest.param(
        b"person_id,age,arrest_date,offence,shoe\nP1,3,2021-03-04,x,9\n",
        "arrests.csv",
        "not a column of this dataset",
        id="unexpected-column",
    ),
    pytest.param(
        b"person_id,age,offence\nP1,3,x\n",
        "arrests.csv",
        "required but missing",
        id="missing-required-column",
    ),
    pytest.param(
        HEADER + b"P1,3,2021-03-04,theft,,\nP2,abc,2021-03-04,theft,,\n",
        "arrests.csv",
        "row 3, column age: expected integer, got 'abc'",
        id="bad-integer",
    ),
    pytest.param(
        HEADER + b"P1,3,2021-13-04,theft,,\n",
        "arrests.csv",
        "expected a date as YYYY-MM-DD",
        id="bad-date",
    ),
    pytest.param(
        HEADER + b"P1,3,2021-03-04," + b"x" * 200_000 + b",,\n",
        "arrests.csv",
        "larger than 100 KB",
        id="huge-field",
    ),
    pytest.param(
        b",".join(b"c%d" % i for i in range(300_000)) + b"\n",
        "arrests.csv",
        "more than 2,000 columns",
        id="too-many-columns",
    ),
    pytest.param(
        b"PAR1garbagePAR1", "arrests.parquet", "not a Parquet file", id="unreadable-parquet"
    ),
    pytest.param(
        parquet_bytes(
            pa.table({"person_id": ["P1"], "age": ["3"], "arrest_date": [1.5], "offence": ["x"]})
        ),
        "arrests.parquet",
        "expected a date as YYYY-MM-DD, but the file",
        id="parquet-wrong-types",
    ),
    pytest.param(
        b"\xef\xbb\xbfperson_id,age\n", "arrests.xlsx", "neither a .csv nor", id="wrong-kind"
    ),
]


@pytest.mark.parametrize(("content", "name", "message"), BAD_FILES)
def test_a_bad_file_gets_a_clear_422_and_nothing_is_saved(
    app: Flask,
    db: Session,
    steward: Browser,
    arrests: Dataset,
    content: bytes,
    name: str,
    message: str,
) -> None:
    response = upload(steward, arrests, content, name)
    assert response.status_code == 422
    text = plain(response)
    assert "The file was not stored" in text
    assert message in text
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []
    [event] = ingest_events(db)
    assert event.outcome == Outcome.FAILURE
    assert event.dataset_id == arrests.id
    assert event.detail["source_filename"] == name
    assert event.detail["problems"]


def test_a_file_over_the_size_limit_gets_a_422(
    app: Flask, db: Session, steward: Browser, arrests: Dataset
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = upload(steward, arrests, rows_csv(3000))
    assert response.status_code == 422
    assert "larger than the" in response.get_data(as_text=True)
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []


@pytest.fixture
def one_megabyte_limit(app_config: dict[str, Any]) -> None:
    app_config["MAX_UPLOAD_MB"] = 1


def test_the_upload_limit_is_enforced_while_streaming(
    one_megabyte_limit: None, app: Flask, db: Session, steward: Browser, arrests: Dataset
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024  # let the body through to the check
    response = upload(steward, arrests, rows_csv(40_000))
    assert response.status_code == 422
    assert "larger than the 1 MB limit" in response.get_data(as_text=True)
    assert data_files(app) == []
    assert ingest_events(db)[0].outcome == Outcome.FAILURE


def test_a_failed_write_leaves_nothing_and_is_recorded(
    app: Flask, db: Session, steward: Browser, arrests: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    def broken_replace(*_args: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    response = upload(steward, arrests, GOOD_CSV)
    assert response.status_code == 503
    assert data_files(app) == []
    assert version_count(db, arrests.id) == 0
    [event] = ingest_events(db)
    assert event.outcome == Outcome.FAILURE
    assert "storage failed" in event.detail["reason"]


@pytest.mark.parametrize("role", ["analyst", "admin", "privacy", "partner"])
def test_only_the_datasets_stewards_may_upload(
    db: Session, browser: Browser, people: People, arrests: Dataset, role: str
) -> None:
    browser.login(getattr(people, role).email, PASSWORD)
    response = upload(browser, arrests, GOOD_CSV)
    assert response.status_code in {403, 404}
    assert version_count(db, arrests.id) == 0


def test_a_steward_of_another_dataset_is_refused_and_recorded(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    from governance.authz import Role
    from tests.support import add_person

    add_person(
        db,
        app,
        email="other@test.example",
        name="Other Steward",
        org=people.lab,
        roles=(Role.DATA_STEWARD,),
    )
    db.commit()
    browser = Browser(app.test_client())
    browser.login("other@test.example", PASSWORD)
    assert upload(browser, arrests, GOOD_CSV).status_code == 403
    [event] = ingest_events(db)
    assert event.outcome == Outcome.DENIED
    assert event.rule == "dataset-steward"
