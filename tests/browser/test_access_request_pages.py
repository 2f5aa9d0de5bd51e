"""An access request for a direct identifier, in a real browser with the keyboard alone: the
steward's approval does not show as granted, the privacy officer's second approval without a
comment comes back on the form, and the request's timeline names who did what and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, RequestStatus
from tests.access.test_request_timeline import COMMENT, steward_approved_identifier
from tests.agreements.builders import Datasets, approved
from tests.browser.conftest import Console
from tests.browser.keyboard import log_in, press, type_into
from tests.browser.test_journeys import world  # noqa: F401 (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_second_approval_of_an_identifier_from_the_page(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Console,
) -> None:
    console.expect("the server responded with a status of 422")
    agreement = approved(db, people, world)
    request = steward_approved_identifier(db, people, agreement, world)
    base = live_server.url
    url = f"{base}/access/requests/{request.id}"

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(url)
    badges = analyst.locator("dd .badge").all_inner_texts()
    assert "granted" not in badges
    assert "approved by the steward, not granted yet" in badges
    timeline = analyst.locator("#request-timeline li").all_inner_texts()
    assert len(timeline) == 2
    assert f"{people.analyst.name}: Asked: person_id, sex, age_at_arrest" in timeline[0]
    assert people.steward.name in timeline[1]
    assert "nothing is granted yet" in timeline[1]

    officer = new_page()
    log_in(officer, base, people.privacy.email, PASSWORD)
    officer.goto(url)
    press(officer, "form[action$='/approve-identifiers'] button.primary")
    assert "Required for a second approval of direct identifiers." in officer.content()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.AWAITING_PRIVACY_OFFICER

    type_into(officer, "#second-comment", COMMENT)
    press(officer, "form[action$='/approve-identifiers'] button.primary")
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    timeline = officer.locator("#request-timeline li").all_inner_texts()
    assert [people.analyst.name in timeline[0], people.privacy.name in timeline[2]] == [True, True]
    assert COMMENT in timeline[2]
    assert f"Granted: person_id, sex (grant #{found.grant_id})" in timeline[3]
    assert "granted" in officer.locator("dd .badge").all_inner_texts()
