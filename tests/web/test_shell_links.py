"""The header every page shares: its addresses are worked out once per process and place the
site is mounted (web/navigation.py), its dashboards once per combination of roles; neither
may leak from one mount point or one person to another."""

from __future__ import annotations

import re

from flask import Flask

from tests.conftest import Browser
from tests.support import PASSWORD, People


def _header(page: str) -> dict[str, list[str]]:
    header = re.search(r'<header class="site-header">(.*?)</header>', page, re.S)
    assert header, "no header on the page"
    text = header.group(1)
    return {
        "links": re.findall(r'href="([^"]+)"', text),
        "forms": re.findall(r'action="([^"]+)"', text),
        "labels": re.findall(r">([^<>]+)</a>", text),
    }


def _stylesheet(page: str) -> str:
    found = re.search(r'<link rel="stylesheet" href="([^"]+)">', page)
    assert found
    return found.group(1)


def test_the_header_links_follow_where_the_site_is_mounted(app: Flask, people: People) -> None:
    """The same process serves the site at / and, behind a proxy, at /gov: each page links
    within its own mount point, whichever was drawn first."""
    browser = Browser(app.test_client())
    assert browser.login(people.compliance.email, PASSWORD).status_code == 302
    for _ in range(2):
        plain = browser.get("/agreements/").get_data(as_text=True)
        mounted = browser.get("/agreements/", base_url="http://localhost/gov/").get_data(
            as_text=True
        )
        assert _stylesheet(plain) == "/static/app.css"
        assert _stylesheet(mounted) == "/gov/static/app.css"
        assert _header(plain)["forms"] == ["/logout"]
        assert _header(mounted)["forms"] == ["/gov/logout"]
        assert {"/", "/account/", "/dashboard/compliance_manager"} <= set(_header(plain)["links"])
        assert all(link.startswith("/gov/") for link in _header(mounted)["links"])
        assert "/gov/dashboard/compliance_manager" in _header(mounted)["links"]


def test_each_person_sees_their_own_dashboards_and_name(app: Flask, people: People) -> None:
    """Two people with different roles in one process, one after the other and back: each
    header names its own person and links only to that person's dashboards."""
    browsers = {}
    for person in (people.steward, people.compliance):
        browsers[person.email] = Browser(app.test_client())
        assert browsers[person.email].login(person.email, PASSWORD).status_code == 302
    for _ in range(2):
        steward = _header(browsers[people.steward.email].get("/agreements/").get_data(as_text=True))
        manager = _header(
            browsers[people.compliance.email].get("/agreements/").get_data(as_text=True)
        )
        assert "/dashboard/data_steward" in steward["links"]
        assert not [link for link in steward["links"] if "compliance_manager" in link]
        assert "/dashboard/compliance_manager" in manager["links"]
        assert not [link for link in manager["links"] if "data_steward" in link]
        assert people.steward.name in steward["labels"]
        assert people.compliance.name in manager["labels"]
        assert people.compliance.name not in steward["labels"]
