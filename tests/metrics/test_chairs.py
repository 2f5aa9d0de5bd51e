"""A committee's chair reads the governance metrics (page, CSV and API) without holding the
role-based `metrics:read`; an ordinary member of the same committee is refused (403)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.committees.conftest import make_committee
from tests.compliance.test_api import token_of
from tests.conftest import Browser
from tests.support import PASSWORD, People


def test_a_chair_reads_the_metrics_and_a_member_is_refused(
    app: Flask, browser: Browser, client: FlaskClient, db: Session, people: People
) -> None:
    make_committee(db, people, None, [(people.checker, "chair"), (people.analyst2, "member")])

    browser.login(people.checker.email, PASSWORD)
    assert browser.get("/governance-metrics/").status_code == 200
    assert browser.get("/governance-metrics/export.csv").status_code == 200
    assert client.get("/api/v1/metrics", headers=token_of(db, people.checker)).status_code == 200

    member = Browser(app.test_client())
    member.login(people.analyst2.email, PASSWORD)
    assert member.get("/governance-metrics/").status_code == 403
    assert client.get("/api/v1/metrics", headers=token_of(db, people.analyst2)).status_code == 403


def test_the_menu_offers_the_metrics_to_a_chair_and_not_to_a_member(
    app: Flask, browser: Browser, db: Session, people: People
) -> None:
    """The entry follows the page's own rule: a chair (no `metrics:read`) sees it, an
    ordinary member of the same committee, who would be refused, does not."""
    make_committee(db, people, None, [(people.checker, "chair"), (people.analyst2, "member")])

    browser.login(people.checker.email, PASSWORD)
    assert 'href="/governance-metrics/"' in browser.get("/", follow_redirects=True).get_data(
        as_text=True
    )

    member = Browser(app.test_client())
    member.login(people.analyst2.email, PASSWORD)
    assert 'href="/governance-metrics/"' not in member.get("/", follow_redirects=True).get_data(
        as_text=True
    )

    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    assert 'href="/governance-metrics/"' in officer.get("/", follow_redirects=True).get_data(
        as_text=True
    )


def test_a_person_named_chair_sees_the_entry_at_their_next_page(
    browser: Browser, db: Session, people: People
) -> None:
    """Each process draws a menu once per combination of roles, but asks the chair rule at
    every page: the same person with the same roles gains the entry as soon as they chair."""
    browser.login(people.checker.email, PASSWORD)
    assert 'href="/governance-metrics/"' not in browser.get("/", follow_redirects=True).get_data(
        as_text=True
    )
    make_committee(db, people, None, [(people.checker, "chair"), (people.analyst2, "member")])
    assert 'href="/governance-metrics/"' in browser.get("/", follow_redirects=True).get_data(
        as_text=True
    )
