"""An incident from report to closure in a real browser, with the keyboard alone: an analyst
reports a lost laptop; a privacy officer sees the deadlines the agreement sets, freezes the
agreement (the analyst's reads stop), records the notice to the provider, and closes the case
with its root cause (the reads work again)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.incidents.models import Incident
from governance.kernel.types import utcnow
from tests.access.test_data_door import view_url
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.browser.keyboard import choose, log_in, press, type_into
from tests.browser.test_journeys import world  # noqa: F401  (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_an_incident_runs_from_report_to_closure_with_its_deadlines(
    db: Session,
    people: People,
    world: Datasets,
    live_server: Any,
    new_page: Any,
    console: Any,
) -> None:
    console.expect("status of 403 (FORBIDDEN)")
    agreement = approved(db, people, world, provider_notice_hours=24)
    request = ask(db, people, agreement, world, columns=("sex", "age_at_arrest"))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["sex", "age_at_arrest"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    base = live_server.url
    rows = base + view_url(agreement, world)

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(f"{base}/incidents/")
    choose(analyst, "#kind", "Lost device")
    choose(analyst, "#agreement_ids", agreement.reference)
    type_into(analyst, "#description", "Laptop with an export left on a train at 08:10.")
    press(analyst, "main form button.primary")
    assert re.search(r"/incidents/\d+$", analyst.url), analyst.content()[:2000]
    incident_url = analyst.url
    assert "notice period to the provider: 24 hours" in analyst.content()

    officer = new_page()
    log_in(officer, base, people.privacy.email, PASSWORD)
    officer.goto(incident_url)
    incident = fresh(db).scalars(select(Incident)).one()
    due = incident.clocks[0].due_at
    assert due - incident.reported_at == dt.timedelta(hours=24)
    assert f"{due:%Y-%m-%d %H:%M} UTC" in officer.content()
    press(officer, "form[action$='/freeze'] button")
    assert "frozen since" in officer.content()
    assert "incidents.freeze" in officer.content()

    page = analyst.goto(rows)
    assert page is not None
    assert page.status == 403
    assert f"incident #{incident.id}" in analyst.content()

    press(officer, "form[action$='/sent'] button")
    type_into(officer, "#root_cause", "The export was saved unencrypted to the laptop.")
    type_into(officer, "#actions_taken", "Laptop wiped remotely; exports disabled.")
    press(officer, "form[action$='/close'] button.primary")
    assert "The export was saved unencrypted" in officer.content()
    assert fresh(db).scalars(select(Incident)).one().status == "closed"

    page = analyst.goto(rows)
    assert page is not None
    assert page.status == 200
