"""A returned request is changed and sent again through its own page and API operation
(the RESUBMIT transition), only by the person who asked, only once it was returned."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import AccessRequest, RequestStatus
from governance.agreements.models import Agreement
from governance.audit.models import AuditType
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask, last_event
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def returned(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> AccessRequest:
    request = ask(db, people, agreement, datasets)
    requests.return_request(
        db, request_id=request.id, comment="Say why age is needed.", by=people.steward, now=utcnow()
    )
    db.commit()
    return request


def changed(request: AccessRequest) -> dict[str, object]:
    return {
        "columns": ["sex"],
        "purpose": "descriptive",
        "justification": "Only sex is needed after all.",
        "end_date": (utcnow().date() + dt.timedelta(days=30)).isoformat(),
    }


def test_the_requester_changes_and_resends_a_returned_request_on_its_page(
    app: object,
    browser: Browser,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
) -> None:
    request = returned(db, people, agreement, datasets)
    browser.login(people.analyst.email, PASSWORD)
    detail = browser.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert f"/access/requests/{request.id}/resubmit" in detail
    page = browser.get(f"/access/requests/{request.id}/resubmit")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Say why age is needed." in text
    assert "Describe the cohort by sex and age." in text  # the form starts from the request
    sent = browser.post(f"/access/requests/{request.id}/resubmit", changed(request))
    assert sent.status_code == 302
    again = fresh(db).get(AccessRequest, request.id)
    assert again is not None
    assert again.status == RequestStatus.SUBMITTED
    assert again.requested_columns == ["sex"]
    event = last_event(db)
    assert event.event_type == AuditType.ACCESS_REQUEST_SUBMIT
    assert event.detail["resubmitted"] is True
    # Submitted now: sending it again is refused with 409 and changes nothing.
    assert (
        browser.post(f"/access/requests/{request.id}/resubmit", changed(request)).status_code == 409
    )


def test_only_the_requester_may_resend(
    app: object, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = returned(db, people, agreement, datasets)
    steward = Browser(app.test_client())  # type: ignore[attr-defined]
    steward.login(people.steward.email, PASSWORD)
    assert steward.get(f"/access/requests/{request.id}/resubmit").status_code == 403
    assert (
        steward.post(f"/access/requests/{request.id}/resubmit", changed(request)).status_code == 403
    )
    still = fresh(db).get(AccessRequest, request.id)
    assert still is not None
    assert still.status == RequestStatus.RETURNED
