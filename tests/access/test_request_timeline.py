"""Access request pages tell what happened: who asked, who reviewed and approved what, with
dates, read back from the audit trail; nothing shows as granted before the second approval of
direct identifiers, which needs a comment (422 on the form, nothing approved, without one); the
request list shows what was granted rather than what was asked; grants name their holder."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import AccessRequest, RequestStatus
from governance.agreements.models import Agreement
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

GRANTED_BADGE = '<span class="badge">granted</span>'
COMMENT = "Linkage to the court records needs the person id; it never leaves the enclave."


def login(app: Flask, email: str) -> Browser:
    browser = Browser(app.test_client())
    browser.login(email, PASSWORD)
    return browser


def page_text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def page_text(response: object) -> str:
    return page_text_of(response.get_data(as_text=True))  # type: ignore[attr-defined]


def steward_approved_identifier(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> AccessRequest:
    """The analyst asks for person_id, sex and age; the steward approves person_id and sex."""
    request = ask(db, people, agreement, datasets, columns=("person_id", "sex", "age_at_arrest"))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment="Age is not needed for the linkage.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    return request


def test_nothing_shows_as_granted_before_the_second_approval(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = steward_approved_identifier(db, people, agreement, datasets)
    analyst = login(app, people.analyst.email)
    html = analyst.get(f"/access/requests/{request.id}").get_data(as_text=True)
    detail = page_text_of(html)
    assert GRANTED_BADGE not in html
    assert "approved by the steward, not granted yet" in detail
    # The timeline: who asked and who reviewed what, with dates and the steward's comment.
    assert f"{people.analyst.name}: Asked: person_id, sex, age_at_arrest" in detail
    assert (
        f"{people.steward.name}: Reviewed by the steward: approved person_id, sex; "
        "left out age_at_arrest" in detail
    )
    assert "nothing is granted yet" in detail
    assert "Age is not needed for the linkage." in detail
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC " + re.escape(people.steward.name), detail)
    listing = page_text(analyst.get("/access/requests"))
    assert "Approved by the steward, awaiting the second approval: person_id, sex" in listing
    assert "Granted:" not in listing


def test_a_second_approval_of_identifiers_needs_a_comment(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = steward_approved_identifier(db, people, agreement, datasets)
    officer = login(app, people.privacy.email)
    url = f"/access/requests/{request.id}"
    refused = officer.post(f"{url}/approve-identifiers", {"second-comment": "   "})
    assert refused.status_code == 422
    text = page_text(refused)
    assert "Nothing was approved" in text
    assert "Required for a second approval of direct identifiers." in text
    assert 'id="second-comment"' in refused.get_data(as_text=True)  # the form, not an error page
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.AWAITING_PRIVACY_OFFICER
    assert found.grant_id is None

    assert (
        officer.post(f"{url}/approve-identifiers", {"second-comment": COMMENT}).status_code == 302
    )
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    detail = page_text(officer.get(url))
    assert f"{people.privacy.name}: Second approval of direct identifiers: person_id, sex" in detail
    assert COMMENT in detail
    assert f"Granted: person_id, sex (grant #{found.grant_id})" in detail
    assert GRANTED_BADGE in officer.get(url).get_data(as_text=True)
    listing = page_text(officer.get("/access/requests"))
    assert "Granted: person_id, sex (asked for person_id, sex, age_at_arrest)" in listing
    grants = page_text(officer.get("/access/grants?status=all"))
    assert people.analyst.name in grants  # the grant's holder


@pytest.mark.parametrize("comment", ["", "  \n "])
def test_the_service_refuses_a_second_approval_without_a_comment(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, comment: str
) -> None:
    request = steward_approved_identifier(db, people, agreement, datasets)
    with pytest.raises(ValidationFailed) as refusal:
        requests.privacy_approve(
            db, request_id=request.id, comment=comment, by=people.privacy, now=utcnow()
        )
    assert "comment" in refusal.value.fields
    db.rollback()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.AWAITING_PRIVACY_OFFICER
