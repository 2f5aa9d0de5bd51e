"""In a real browser, a form sent with a mistake comes back on its own page: the mistake beside
the field, what was typed kept, nothing saved. The training form posts to another address than
the page it is on, so the page is found from the browser's own Referer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from governance.identity.models import User
from tests.browser.keyboard import log_in, press, type_date
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_a_mistake_comes_back_beside_its_field_with_what_was_typed(
    db: Session, people: People, live_server: Any, new_page: Any, console: Any
) -> None:
    before = len(people.analyst.training)
    page = new_page()
    console.expect("422")  # the browser logs the status of the refused post
    log_in(page, live_server.url, people.admin.email, PASSWORD)
    page.goto(f"{live_server.url}/admin/users/{people.analyst.id}")
    type_date(page, "#training-completed_on", "2026-11-02")
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.request.method == "POST" else None)
    press(page, "form[action$='/training'] button[type=submit]")
    assert answers == [422]
    assert page.url.endswith("/training")  # the same page, shown again, not a redirect
    assert page.locator(".error-page").count() == 0
    expires = page.locator("#training-expires_on")
    field = expires.locator("xpath=ancestor::div[contains(@class, 'field')][1]")
    assert "This field is required." in field.inner_text()
    assert page.input_value("#training-completed_on") == "2026-11-02"
    assert "Some fields need correcting" in page.locator(".form-refusal").inner_text()
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    assert len(analyst.training) == before, "nothing was saved"
