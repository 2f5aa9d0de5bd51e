"""The request and review journey through the pages."""

from __future__ import annotations

import datetime as dt
import html

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, Grant, RequestStatus
from governance.agreements.models import Agreement
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def test_analyst_requests_and_steward_grants_fewer_columns(
    app: object,
    browser: Browser,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    scope = browser.get(f"/access/requests/new?agreement_id={agreement.id}")
    assert scope.status_code == 200
    url = f"/access/requests/new?agreement_id={agreement.id}&dataset_id={datasets.arrests.id}"
    form = browser.get(url).get_data(as_text=True)
    assert 'value="offence_category"' in form
    assert 'value="district"' not in form
    sent = browser.post(
        url,
        {
            "columns": ["sex", "age_at_arrest", "offence_category"],
            "purpose": "descriptive",
            "justification": "Age and sex profile; offence mix.",
            "end_date": (utcnow().date() + dt.timedelta(days=30)).isoformat(),
        },
    )
    assert sent.status_code == 302
    request = fresh(db).scalars(select(AccessRequest)).one()
    assert request.status == RequestStatus.SUBMITTED

    steward = Browser(app.test_client())  # type: ignore[attr-defined]
    steward.login(people.steward.email, PASSWORD)
    dashboard = steward.get("/dashboard/data_steward").get_data(as_text=True)
    assert f"Review access request #{request.id}" in dashboard
    page = steward.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Approve the checked columns" in page
    approved = steward.post(
        f"/access/requests/{request.id}/approve",
        {
            "approve-columns": ["sex", "age_at_arrest"],
            "approve-comment": "Offence mix is available in published tables.",
        },
    )
    assert approved.status_code == 302
    grant = fresh(db).scalars(select(Grant)).one()
    assert grant.column_names == ["age_at_arrest", "sex"]
    # The page says where the approval left the request.
    shown = steward.get(approved.headers["Location"]).get_data(as_text=True)
    assert "Done: the request is now approved." in shown

    # The analyst cannot review; the 409 names what is possible now.
    again = steward.post(f"/access/requests/{request.id}/approve", {"approve-columns": ["sex"]})
    assert again.status_code == 409
    assert '"approve" is not possible now' in html.unescape(again.get_data(as_text=True))


def test_a_requester_cannot_open_someone_elses_request(
    app: object,
    browser: Browser,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
) -> None:
    from tests.access.test_requests_and_grants import ask

    request = ask(db, people, agreement, datasets)
    browser.login(people.analyst2.email, PASSWORD)
    assert browser.get(f"/access/requests/{request.id}").status_code == 404
