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
