"""A column granted coarsened, in a real browser with the keyboard alone: the steward picks the
form beside the column, the grant's figures push it above the agreement's threshold, the
requester's page says why it waits for a privacy officer (the figure and the threshold), and
once granted the analyst's row page shows age bands only."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, RequestStatus
from tests.access.test_request_risk import limit_unique_share
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.browser.conftest import Console
from tests.browser.keyboard import choose, log_in, press, type_into
from tests.browser.test_journeys import world  # noqa: F401 (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_a_coarsened_grant_from_the_page_to_the_rows(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Console,
) -> None:
    agreement = approved(db, people, world)
    limit_unique_share(db, agreement, 0.1)  # 100% as asked; 16.7% with age in bands
    request = ask(db, people, agreement, world, columns=("sex", "age_at_arrest"))
    base = live_server.url
    url = f"{base}/access/requests/{request.id}"

    steward = new_page()
    log_in(steward, base, people.steward.email, PASSWORD)
    steward.goto(url)
    choose(steward, "select[name='approve-form-age_at_arrest']", "coarsened")
    press(steward, "form[action$='/approve'] button.primary")
    assert "As granted" in steward.content()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.AWAITING_PRIVACY_OFFICER

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(url)
    why = analyst.locator("#privacy-officer-because").inner_text()
    assert "16.7% of the records are unique" in why
    assert "age_at_arrest coarsened" in why
    assert "10.0% the agreement allows" in why
    assert "Re-identification figures" not in analyst.content()

    officer = new_page()
    log_in(officer, base, people.privacy.email, PASSWORD)
    officer.goto(url)
    type_into(officer, "#second-comment", "Bands of five years are acceptable here.")
    press(officer, "form[action$='/approve-identifiers'] button.primary")
    assert fresh(db).get(AccessRequest, request.id).status == RequestStatus.APPROVED  # type: ignore[union-attr]

    analyst.goto(
        f"{base}/data/view?agreement={agreement.id}&dataset={world.arrests.id}"
        "&purpose=descriptive&columns=age_at_arrest"
    )
    ages = [a.strip() for a in analyst.locator("tbody td").all_inner_texts()]
    assert ages
    assert all(re.fullmatch(r"\d+-\d+", a) for a in ages), ages
