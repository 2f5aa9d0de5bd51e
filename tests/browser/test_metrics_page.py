"""The governance metrics page in a real browser: a privacy officer reaches it from the
navigation and sees its charts and figures; an analyst who types its address is refused
(403), and the refusal is in the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.browser.keyboard import log_in
from tests.browser.test_journeys import world  # noqa: F401  (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_the_metrics_page_for_a_privacy_officer_and_not_an_analyst(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811  (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Any,
) -> None:
    console.expect("status of 403 (FORBIDDEN)")
    agreement = approved(db, people, world)
    request = ask(db, people, agreement, world)
    decided = utcnow()
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["sex"],
        comment="Age is not needed.",
        by=people.steward,
        now=decided,
    )
    db.commit()
    base = live_server.url

    officer = new_page()
    log_in(officer, base, people.privacy.email, PASSWORD)
    officer.get_by_role("link", name="Metrics").click()
    officer.wait_for_url(f"{base}/governance-metrics/")
    assert officer.locator("h1").inner_text() == "Governance metrics"
    charts = officer.locator("figure.chart svg")
    assert charts.count() == 4
    assert "Access requests per month" in charts.first.locator("title").text_content()
    assert all(charts.nth(i).bounding_box()["width"] > 200 for i in range(4))
    month = decided.strftime("%Y-%m")  # the decision's, if the run crosses a month's end
    row = officer.locator("table[aria-labelledby='requests-heading'] tbody tr").first
    # Received 1, decided 1, approved 1, of which narrowed 1, rejected 0.
    assert row.locator("td").all_inner_texts() == [month, "1", "1", "1", "1", "0"]

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    assert analyst.get_by_role("link", name="Metrics").count() == 0
    answer = analyst.goto(f"{base}/governance-metrics/")
    assert answer.status == 403
    assert "metrics:read" in analyst.content()
    refusals = fresh(db).scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.METRICS_READ,
            AuditEvent.outcome == Outcome.DENIED,
        )
    )
    assert [e.actor_id for e in refusals] == [people.analyst.id]
