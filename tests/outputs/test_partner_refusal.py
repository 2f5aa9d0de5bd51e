"""A partner reviewer works for a provider agency: a refusal tells them whom to write to here,
not to ask "a privacy officer or the data steward" they do not know."""

from __future__ import annotations

from tests.conftest import Browser
from tests.support import PASSWORD, People


def test_a_partner_is_told_to_write_to_our_privacy_officer(
    browser: Browser, people: People
) -> None:
    browser.login(people.partner.email, PASSWORD)
    refused = browser.get("/audit/")
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    assert "privacy officer named on your agreement" in html
    # By name and address: a partner does not know who "our privacy officer" is.
    assert f"{people.privacy.name} ({people.privacy.email})" in html
    assert people.steward.email not in html
    assert "or the data steward" not in html
    browser.post("/logout")
    browser.login(people.analyst.email, PASSWORD)
    staff = browser.get("/audit/").get_data(as_text=True)
    assert "ask a privacy officer or the data steward" in staff
