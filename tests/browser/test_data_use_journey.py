"""GA4GH DUO in a real browser, with the keyboard alone: a steward states the dataset's
data-use conditions; a requester's purpose that cannot fit comes back on the form naming the
term; a fitting one is sent, and the steward's review page shows the match table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest
from tests.agreements.builders import Datasets, approved
from tests.browser.conftest import Console
from tests.browser.keyboard import choose, log_in, press, set_checked, type_date, type_into
from tests.browser.test_journeys import world  # noqa: F401 (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People

IRB = "input[name='modifiers'][value='DUO:0000021']"


def test_conditions_purpose_refusal_and_match_table(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Console,
) -> None:
    console.expect("the server responded with a status of 422")
    agreement = approved(db, people, world)
    base = live_server.url
    arrests = world.arrests.id

    steward = new_page()
    log_in(steward, base, people.steward.email, PASSWORD)
    steward.goto(f"{base}/datasets/{arrests}")
    choose(steward, "#permission", "health or medical or biomedical research")
    set_checked(steward, IRB, True)
    press(steward, "#data-use-form button")
    terms = steward.locator("#data-use-terms").inner_text()
    assert "health or medical or biomedical research" in terms
    assert "ethics approval required" in terms

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(f"{base}/access/requests/new?agreement_id={agreement.id}&dataset_id={arrests}")
    set_checked(analyst, "input[name='columns'][value='sex']", True)
    type_into(analyst, "#justification", "Describe the cohort by sex.")
    type_date(analyst, "#end_date", (dt.date.today() + dt.timedelta(days=30)).isoformat())
    choose(analyst, "#duo_purpose", "general research use")
    press(analyst, "form:has(#duo_purpose) button.primary")
    refused = analyst.content()
    assert "health or medical or biomedical research (DUO:0000006) failed" in refused
    assert fresh(db).scalars(select(AccessRequest)).first() is None

    choose(analyst, "#duo_purpose", "health or medical or biomedical research")
    type_into(analyst, "#ethics_approval", "REC 26/LO/0001")
    press(analyst, "form:has(#duo_purpose) button.primary")
    made = fresh(db).scalars(select(AccessRequest)).one()
    assert made.data_use is not None
    assert made.data_use["term"] == "DUO:0000006"

    steward.goto(f"{base}/access/requests/{made.id}")
    assert "The purpose fits every condition." in steward.locator("#duo-verdict").inner_text()
    rows = steward.locator("#duo-match tbody tr").all_inner_texts()
    assert len(rows) == 2
    assert "DUO:0000006" in rows[0]
    assert "DUO:0000021" in rows[1]
