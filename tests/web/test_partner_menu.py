"""A partner reviewer's menu holds no page that is always empty for them (access requests and
grants are staff's own, a steward's or an overseer's); staff keep them."""

from __future__ import annotations

import re

from tests.conftest import Browser
from tests.support import PASSWORD, People


def _menu(browser: Browser) -> list[str]:
    page = browser.get("/dashboard/", follow_redirects=True).get_data(as_text=True)
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", page, re.S)
    assert nav, "no navigation on the dashboard"
    return re.findall(r">([^<>]+)</a>", nav.group(1))


def test_a_partner_menu_has_no_always_empty_pages(browser: Browser, people: People) -> None:
    browser.login(people.partner.email, PASSWORD)
    menu = _menu(browser)
    assert "Outputs" in menu
    assert "Access requests" not in menu
    assert "Grants" not in menu


def test_staff_keep_requests_and_grants(browser: Browser, people: People) -> None:
    for person in (people.analyst, people.steward, people.privacy, people.compliance):
        browser.login(person.email, PASSWORD)
        menu = _menu(browser)
        assert {"Access requests", "Grants"} <= set(menu), person.email
        browser.post("/logout")
