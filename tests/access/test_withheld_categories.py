"""An agreement may withhold records of some offence categories from every reader: the one
door leaves them out of the row viewer, exports and the engine's reads alike, even for a
person not granted the category column; and the agreement says so in a clause distinct from
the categories excluded from analyses only."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from governance.access.data_door import download_rows, load_columns, read_rows
from governance.agreements.clauses import render_clauses
from governance.agreements.models import Agreement
from governance.datasets.ingestion import ingest_frame
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS, last_event
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets, approved
from tests.conftest import Browser
from tests.support import PASSWORD, SETUP, People

KEPT = int((ROWS["offence_category"] != "SECRET-OFFENCE").sum())


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(
        db,
        people,
        datasets,
        withheld_offence_categories=["secret-offence"],
        excluded_offence_categories=["assault"],
        row_level_download=True,
    )


@pytest.fixture
def granted(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> Datasets:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    ask_and_grant(db, people, agreement, datasets, columns=("sex", "age_at_arrest"), download=True)
    return datasets


def test_the_row_viewer_exports_and_engine_never_return_withheld_records(
    db: Session, people: People, agreement: Agreement, granted: Datasets
) -> None:
    common = {
        "by": people.analyst,
        "agreement_id": agreement.id,
        "dataset_id": granted.arrests.id,
        "columns": ["sex", "age_at_arrest"],
        "purpose": "descriptive",
        "now": utcnow(),
    }
    page = read_rows(db, **common, per_page=100)
    db.commit()
    assert page.total == KEPT == 20
    assert list(page.rows[0]) == ["sex", "age_at_arrest"]  # the category is not shown
    assert last_event(db).detail["withheld_categories"] == ["secret-offence"]
    header, rows, _ = download_rows(db, **common)
    assert header == ["sex", "age_at_arrest"]
    assert len(list(rows)) == KEPT
    loaded = load_columns(db, **common, context={"analysis_run": 0})
    assert len(loaded.frame) == KEPT
    assert list(loaded.frame.columns) == ["sex", "age_at_arrest"]


def test_the_row_viewer_page_counts_only_what_may_be_read(
    browser: Browser, people: People, agreement: Agreement, granted: Datasets
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    html = browser.get(
        f"/data/view?agreement={agreement.id}&dataset={granted.arrests.id}"
        "&purpose=descriptive&per_page=100"
    ).get_data(as_text=True)
    assert f"{KEPT} rows match" in html


def test_the_two_kinds_of_clause_are_distinct_in_the_agreement(
    db: Session, agreement: Agreement
) -> None:
    version = agreement.current_version
    assert version is not None
    clauses = {clause: (label, text) for clause, label, text in render_clauses(version)}
    excluded = clauses["analysis.eligibility.excluded_offence_categories"]
    withheld = clauses["access.withheld_offence_categories"]
    assert excluded[0] == "Offence categories excluded from every analysis"
    assert withheld[0] == "Offence categories withheld from every reader"
    assert "assault" in excluded[1]
    assert "may still view" in excluded[1]
    assert "secret-offence" in withheld[1]
    assert "never shown, exported or analysed" in withheld[1]
