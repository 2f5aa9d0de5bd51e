"""The one door to the data: granted columns only, every read recorded, refusals leak nothing."""

from __future__ import annotations

import inspect
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.datastore import pme
from governance.datasets.datastore import store as store_module
from governance.datasets.ingestion import ingest_frame
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

ROWS = pd.DataFrame(
    {
        "person_id": [f"P{i:04d}" for i in range(30)],
        "name": [f"Person {i}" for i in range(30)],
        "date_of_birth": ["1990-01-01"] * 30,
        "sex": ["F", "M", "M"] * 10,
        "age_at_arrest": [str(18 + i % 40) for i in range(30)],
        "arrest_date": ["2025-01-01"] * 30,
        "offence_category": ["theft", "assault", "SECRET-OFFENCE"] * 10,
        "district": ["north", "south", "east"] * 10,
    }
)


@pytest.fixture
def stored(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> Datasets:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    ask_and_grant(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    return datasets


def view_url(agreement: Agreement, datasets: Datasets, *extra: str) -> str:
    query = "&".join(
        (
            f"agreement={agreement.id}",
            f"dataset={datasets.arrests.id}",
            "purpose=descriptive",
            *extra,
        )
    )
    return f"/data/view?{query}"


def last_event(db: Session) -> AuditEvent:
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    return event


def test_analyst_sees_exactly_the_granted_columns_and_the_read_is_recorded(
    browser: Browser, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(view_url(agreement, stored))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<th scope="col">sex</th>' in html
    assert '<th scope="col">age_at_arrest</th>' in html
    assert "offence_category</th>" not in html
    assert "SECRET-OFFENCE" not in html
    assert "P0001" not in html
    event = last_event(db)
    assert event.event_type == AuditType.DATASET_READ
    assert event.outcome == "allowed"
    assert event.detail["columns"] == ["sex", "age_at_arrest"]
    assert event.detail["row_count"] == 30
    assert event.rule is not None
    assert event.rule.startswith("grant:")
    assert event.agreement_version == 1


@pytest.mark.parametrize(
    "extra",
    [
        ("columns=sex", "columns=offence_category"),  # showing an ungranted column
        ("columns=sex", "filter=offence_category:eq:theft"),  # filtering on one
        ("columns=sex", "sort=offence_category"),  # sorting by one
    ],
)
def test_an_ungranted_column_is_refused_recorded_and_leaks_nothing(
    browser: Browser,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    extra: tuple[str, ...],
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(view_url(agreement, stored, *extra))
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "SECRET-OFFENCE" not in html
    assert "theft" not in html.split("offence_category")[0]
    assert "rows match" not in html
    event = last_event(db)
    assert event.event_type == AuditType.DATASET_READ
    assert event.outcome == "denied"
    assert event.clause == "access.columns"
    assert "offence_category" in event.detail["columns"]


def test_filtering_on_a_granted_column_counts_only_matching_rows(
    browser: Browser, people: People, agreement: Agreement, stored: Datasets
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(view_url(agreement, stored, "filter=sex:eq:F"))
    assert page.status_code == 200
    assert "10 rows match" in page.get_data(as_text=True)


def test_someone_without_a_grant_is_refused(
    browser: Browser, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    browser.login(people.analyst2.email, PASSWORD)
    page = browser.get(view_url(agreement, stored, "columns=sex"))
    assert page.status_code == 403
    assert last_event(db).clause == "access.grant"


def test_download_is_a_separate_action_the_agreement_must_allow(
    browser: Browser, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    response = browser.get(view_url(agreement, stored).replace("/view?", "/download?"))
    assert response.status_code == 403
    event = last_event(db)
    assert event.event_type == AuditType.DATASET_DOWNLOAD
    assert event.clause == "access.row_level_download"


def test_only_the_door_decrypts_stored_files_and_only_granted_columns(
    app: Flask,
    browser: Browser,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every stored file is opened with its keys through the data door, and no key of a column
    outside the grant is unwrapped at all (Parquet modular encryption: each column has its own
    key, and pyarrow asks for a column's key only when it reads that column, possibly on one
    of its own threads)."""
    callers: list[list[str]] = []
    unwrapped: list[str] = []
    opened = store_module.StoredFile.__init__
    unwrap = pme.VersionKms.unwrap_key

    def open_spy(self: store_module.StoredFile, version: Any) -> None:
        callers.append([frame.filename for frame in inspect.stack()])
        opened(self, version)

    def unwrap_spy(self: pme.VersionKms, wrapped_key: str, master_key_identifier: str) -> bytes:
        unwrapped.append(master_key_identifier)
        return unwrap(self, wrapped_key, master_key_identifier)

    # The request's risk assessment already counted sex and age (through the door): start
    # from cold so that the page's own read opens the file.
    store_module._cache.clear()
    monkeypatch.setattr(store_module.StoredFile, "__init__", open_spy)
    monkeypatch.setattr(pme.VersionKms, "unwrap_key", unwrap_spy)
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, stored)).status_code == 200
    assert browser.get(view_url(agreement, stored, "columns=offence_category")).status_code == 403
    assert callers, "the page read no data at all"
    for stack in callers:
        assert any(name.endswith("governance/access/data_door.py") for name in stack)
    assert pme.column_key_id("sex") in unwrapped
    for ungranted in ("person_id", "name", "date_of_birth", "district", "arrest_date"):
        assert pme.column_key_id(ungranted) not in unwrapped


def test_closing_the_agreement_destroys_data_no_other_agreement_covers(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    from governance.agreements import service as agreements
    from governance.agreements.destruction_model import DestructionCertificate
    from governance.datasets.models import DatasetVersion

    now = utcnow()
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Project ended early.", by=people.privacy2, now=now
    )
    agreements.certify_destruction(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=now,
        statement="All copies deleted from the secure server.",
    )
    db.commit()
    version = fresh(db).scalars(select(DatasetVersion)).one()
    assert version.destroyed_at is not None
    certificate = db.scalars(select(DestructionCertificate)).one()
    assert certificate.agreement_id == agreement.id
