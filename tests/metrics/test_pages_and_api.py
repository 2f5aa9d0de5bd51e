"""The metrics page, its CSV and the API give the same figures; an analyst is refused (403)
and the refusal is recorded; on both databases."""

from __future__ import annotations

import csv
import io

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.metrics.conftest import History
from tests.support import PASSWORD, People


def test_the_page_the_csv_and_the_api_agree(
    browser: Browser, client: FlaskClient, db: Session, people: People, history: History
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    page = browser.get("/governance-metrics/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert text.count("<svg") >= 4
    assert "Access requests per month" in text
    assert "Submission to decision" in text

    download = browser.get("/governance-metrics/export.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0] == ["figure", "subject", "measure", "value"]
    table = {(f, s, m): v for f, s, m, v in rows[1:]}
    assert table[("step_hours", "submission_to_decision", "median")] == "4.0"
    assert table[("step_hours", "submission_to_decision", "p90")] == "11.6"

    answer = client.get("/api/v1/metrics", headers=token_of(db, people.compliance))
    assert answer.status_code == 200
    steps = {s["key"]: s for s in answer.json["steps"]}
    assert steps["submission_to_decision"]["median_hours"] == 4.0
    assert steps["submission_to_steward"]["p90_hours"] == 5.4
    assert sum(m["received"] for m in answer.json["months"]) == 4
    received = sum(int(v) for (f, _, m), v in table.items() if f == "requests" and m == "received")
    assert received == 4


def test_an_analyst_is_refused_and_the_refusal_is_recorded(
    browser: Browser, client: FlaskClient, db: Session, people: People
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get("/governance-metrics/").status_code == 403
    assert browser.get("/governance-metrics/export.csv").status_code == 403
    answer = client.get("/api/v1/metrics", headers=token_of(db, people.analyst))
    assert answer.status_code == 403
    refusals = fresh(db).scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.METRICS_READ,
            AuditEvent.outcome == Outcome.DENIED,
        )
    )
    assert [e.actor_id for e in refusals] == [people.analyst.id] * 3


def test_bad_filters_are_refused_not_ignored(
    browser: Browser, client: FlaskClient, db: Session, people: People
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    assert browser.get("/governance-metrics/?start=last-week").status_code == 422
    headers = token_of(db, people.privacy)
    assert client.get("/api/v1/metrics?start=2026-13-01", headers=headers).status_code == 422
    backwards = "/api/v1/metrics?start=2026-05-02&end=2026-05-01"
    assert client.get(backwards, headers=headers).status_code == 422
