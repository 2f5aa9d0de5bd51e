"""An approver, in a real browser with the keyboard alone, opens an amendment's impact; a grant
is made while the page is open. Approving is refused (409) and the page is drawn again with the
impact as it now is and says so; approving what it then shows is what applies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.browser.conftest import Console
from tests.browser.keyboard import log_in, press, type_into
from tests.browser.test_journeys import world  # noqa: F401 (the fixture)
from tests.committees.test_amendment_impact import granted, narrow
from tests.conftest import fresh
from tests.support import PASSWORD, People

APPROVE_BUTTON = "section[aria-labelledby=approve-heading] button[type=submit]"


def test_an_impact_changed_while_the_page_was_open_is_shown_again_before_approval(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Console,
) -> None:
    agreement = approved(db, people, world)
    granted(db, people, ask(db, people, agreement, world))
    narrow(db, people, agreement, world)
    base = live_server.url
    approver = new_page()
    log_in(approver, base, people.privacy2.email, PASSWORD)
    approver.goto(f"{base}/committees/amendments/{agreement.id}")
    assert people.analyst2.email not in approver.content()
    assert approver.locator("#impact-changed").count() == 0

    # While the page is open a grant is made that the amendment would end (in a transaction
    # begun after the server's writes: a SQLite snapshot older than them cannot write).
    granted(db, people, ask(fresh(db), people, agreement, world, by=people.analyst2))
    console.expect("the server responded with a status of 409")
    type_into(approver, "#approve-comment", "Scope narrowed.")
    press(approver, APPROVE_BUTTON)
    alert = approver.inner_text("#impact-changed")
    assert alert.startswith("The impact changed since you opened this page: review it again")
    assert people.analyst2.email in approver.content()
    assert approver.input_value("#approve-comment") == "Scope narrowed."
    assert approvals(db) == []

    press(approver, APPROVE_BUTTON)
    assert "The amendment is approved, with the impact shown." in approver.content()
    (approval,) = approvals(db)
    assert len(approval.detail["grants"]) == 2  # the grant made while the page was open too


def approvals(db: Session) -> list[AuditEvent]:
    found = fresh(db).scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.COMMITTEE_AMENDMENT_IMPACT,
            AuditEvent.outcome == Outcome.SUCCESS,  # the refused approval is recorded too
        )
    )
    events = list(found)
    db.rollback()
    return events
