"""Session hardening in a real browser: signing out everywhere ends the other browser's
session on its next page, and approving an agreement after a while asks for the password
again, then goes on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement, AgreementStatus
from governance.identity.session_model import UserSession
from governance.kernel.types import utcnow
from tests.agreements.builders import draft, make_datasets
from tests.browser.keyboard import log_in, press, type_into
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_signing_out_everywhere_ends_the_other_browser(
    people: People, live_server: Any, new_page: Any
) -> None:
    laptop, phone = new_page(), new_page()
    for page in (laptop, phone):
        log_in(page, live_server.url, people.analyst.email, PASSWORD)
    phone.goto(f"{live_server.url}/account/")
    assert "Where you are signed in" in phone.content()
    laptop.goto(f"{live_server.url}/account/")
    press(laptop, "form[action$='/account/sign-out-everywhere'] button")
    assert "/login" in laptop.url
    phone.goto(f"{live_server.url}/account/")
    assert "/login" in phone.url


def test_approving_an_agreement_asks_for_the_password_after_a_while(
    db: Session, people: People, live_server: Any, new_page: Any
) -> None:
    drafted = draft(db, people, make_datasets(db, people))
    agreements.submit(db, agreement_id=drafted.id, by=people.privacy, now=utcnow())
    db.commit()
    page = new_page()
    log_in(page, live_server.url, people.privacy2.email, PASSWORD)
    db.execute(
        update(UserSession)
        .where(UserSession.user_id == people.privacy2.id)
        .values(authenticated_at=utcnow() - dt.timedelta(minutes=30))
    )
    db.commit()
    page.goto(f"{live_server.url}/agreements/{drafted.id}")
    press(page, "form[action$='/approve'] button.primary")
    assert "/account/reauthenticate" in page.url
    assert "Confirm it is you" in page.content()
    type_into(page, "#reauth-password", PASSWORD)
    press(page, "main form button[type=submit]")
    assert f"/agreements/{drafted.id}" in page.url
    agreement = fresh(db).get(Agreement, drafted.id)
    assert agreement is not None
    assert agreement.status == AgreementStatus.SUBMITTED  # nothing was approved on the way
    press(page, "form[action$='/approve'] button.primary")
    assert "Approved" in page.content()
    agreement = fresh(db).get(Agreement, drafted.id)
    assert agreement is not None
    assert agreement.status in {AgreementStatus.APPROVED, AgreementStatus.ACTIVE}
    sessions = (
        fresh(db)
        .scalars(select(UserSession).where(UserSession.user_id == people.privacy2.id))
        .all()
    )
    assert all(s.authenticated_at > utcnow() - dt.timedelta(minutes=5) for s in sessions)
