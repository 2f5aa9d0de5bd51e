"""A reviewer, in a real browser with the keyboard alone, sees that HIPAA is cited on police
arrest records before approving, and the approval records the warning."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets, draft
from tests.browser.keyboard import log_in, press
from tests.browser.test_journeys import world  # noqa: F401 (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_the_reviewer_is_warned_that_hipaa_does_not_fit_police_records(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
) -> None:
    agreement = draft(
        db,
        people,
        world,
        laws=["cjis", "hipaa"],
        legal_bases={"hipaa": "IRB waiver of authorisation (45 CFR 164.512(i))"},
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    base = live_server.url
    reviewer = new_page()
    log_in(reviewer, base, people.privacy2.email, PASSWORD)
    reviewer.goto(f"{base}/agreements/{agreement.id}")
    warning = reviewer.locator("#law-warnings")
    assert warning.get_attribute("role") == "alert"
    items = warning.locator("li").all_inner_texts()
    assert len(items) == 1
    assert items[0].startswith(
        "HIPAA Privacy and Security Rules (45 CFR Parts 160 and 164) is cited"
    )
    assert "Arrests (criminal justice)" in items[0]
    press(reviewer, "form[action$='/approve'] button.primary")
    approval = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AGREEMENT_APPROVE))
        .one()
    )
    assert approval.actor_id == people.privacy2.id
    assert approval.detail["law_warnings"] == items
