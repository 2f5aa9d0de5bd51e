"""A grant ends on the agreement's last day: the pages name that day, not the day after (the
stored end is 00:00 UTC of the next day)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from governance.access.models import Grant
from governance.agreements.models import Agreement
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def test_a_grant_to_the_agreements_end_shows_the_agreements_last_day(
    browser: Browser, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    version = agreement.current_version
    assert version is not None
    request = ask_and_grant(db, people, agreement, datasets, end_date=version.expiry_date)
    grant = fresh(db).get(Grant, fresh(db).get(type(request), request.id).grant_id)
    assert grant is not None
    assert grant.valid_until.date() == version.expiry_date + dt.timedelta(days=1)
    assert grant.last_day == version.expiry_date
    browser.login(people.analyst.email, PASSWORD)
    listing = browser.get("/access/grants").get_data(as_text=True)
    assert version.expiry_date.isoformat() in listing
    assert (version.expiry_date + dt.timedelta(days=1)).isoformat() not in listing
    detail = browser.get(f"/access/grants/{grant.id}").get_data(as_text=True)
    assert f"last day {version.expiry_date.isoformat()}" in detail
