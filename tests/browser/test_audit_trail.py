"""The audit trail in a real browser: a compact page of sentences, details on demand, filter
errors on the form, and a saved search run again with one click."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.browser.conftest import Console
from tests.browser.keyboard import log_in, press, type_into
from tests.support import PASSWORD, People

# Nine events used to make a page 16,500 pixels tall; a readable page of them fits in a few
# screens (the filters, the checks and nine one-line sentences at 1280 x 900).
NINE_EVENTS_HEIGHT = 2000


@pytest.fixture
def nine_events(app: Flask, db: Session, people: People) -> str:
    """Nine events of different families under one agreement; returns its reference."""
    datasets: Datasets = make_datasets(db, people)
    agreement = approved(db, people, datasets)
    arrests = datasets.arrests.id
    long_detail = {"shown": [f"column_{i}" for i in range(40)], "row_count": 50, "version": 1}
    steps: list[tuple[AuditType, Outcome, dict[str, Any]]] = [
        (AuditType.DATASET_READ, Outcome.ALLOWED, long_detail),
        (AuditType.DATASET_READ, Outcome.DENIED, {"shown": ["employed"]}),
        (AuditType.DATASET_DOWNLOAD, Outcome.ALLOWED, {"rows": 1200, "columns": ["sex"]}),
        (AuditType.GRANT_CREATE, Outcome.SUCCESS, {"columns": ["sex", "age_at_arrest"]}),
        (AuditType.ACCESS_REQUEST_SUBMIT, Outcome.SUCCESS, {"columns": ["sex"]}),
        (AuditType.ANALYSIS_SUBMIT, Outcome.SUCCESS, {"kind": "matched_comparison"}),
        (AuditType.OUTPUT_PUBLISH, Outcome.SUCCESS, {"title": "Re-arrest after diversion"}),
        (AuditType.INCIDENT_REPORT, Outcome.SUCCESS, {"summary": "x" * 2000}),
        (AuditType.LOGIN, Outcome.SUCCESS, {"email": people.analyst.email}),
    ]
    for kind, outcome, detail in steps:
        audit.record(
            db,
            kind,
            by=people.analyst,
            outcome=outcome,
            agreement_id=agreement.id,
            dataset_id=arrests if kind.value.startswith(("dataset", "grant", "access")) else None,
            clause="scope.datasets" if kind.value.startswith("dataset") else None,
            detail=detail,
        )
    db.commit()
    return agreement.reference


def test_nine_events_make_a_compact_page_of_sentences(
    nine_events: str, people: People, live_server: Any, new_page: Any
) -> None:
    page = new_page()
    log_in(page, live_server.url, people.compliance.email, PASSWORD)
    page.goto(f"{live_server.url}/audit/?agreement_id={nine_events}&user=analyst")
    sentences = page.locator("p.sentence")
    assert sentences.count() == 9
    first = sentences.nth(0).inner_text()
    assert first.startswith("Analyst signed in")
    texts = [sentences.nth(i).inner_text() for i in range(9)]
    assert any(
        t.startswith("Analyst read 50 rows of Arrests v1: column_0, column_1,") for t in texts
    ), texts
    assert any(t.startswith("Refused: Analyst tried to read Arrests: employed") for t in texts)
    assert "Analyst submitted an analysis under DUA-2026-001." in texts
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < NINE_EVENTS_HEIGHT, f"nine events make a page {height}px tall"
    details = page.locator("details.event-detail").nth(0)
    assert not details.locator("dl").is_visible()
    details.locator("summary").click()
    assert details.locator("dl").is_visible()
    assert "audit:" not in sentences.nth(0).inner_text()


def test_filter_errors_stay_on_the_form_and_a_saved_search_reruns(
    nine_events: str, people: People, live_server: Any, new_page: Any, console: Console
) -> None:
    console.expect("422")  # the form with its errors is answered as unprocessable, on purpose
    page = new_page()
    log_in(page, live_server.url, people.compliance.email, PASSWORD)
    page.goto(f"{live_server.url}/audit/")
    type_into(page, "#agreement_id", "DUA-1999-404")
    type_into(page, "#user", "Analyst")
    press(page, "form[role=search] button[type=submit]")
    assert page.locator("h1").inner_text() == "Audit trail"
    assert page.locator("#agreement_id").input_value() == "DUA-1999-404"
    assert page.locator("#user").input_value() == "Analyst"
    assert "There is no agreement" in page.locator("#err-agreement_id").inner_text()

    page.fill("#agreement_id", nine_events)
    press(page, "form[role=search] button[type=submit]")
    assert page.locator("p.sentence").count() == 9
    type_into(page, "#save-name", "Analyst under the diversion study")
    press(page, "form.save-search button[type=submit]")
    saved = page.locator("#saved-searches a", has_text="Analyst under the diversion study")
    assert saved.count() == 1
    saved.click()
    page.wait_for_load_state()
    assert page.locator("p.sentence").count() == 9
