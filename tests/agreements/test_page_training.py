"""The agreement page's personnel table: each named person's training as of today, read as rows
(`identity.courses`): current training shows as current, and training that expired, expires
today, starts tomorrow or was never recorded shows as missing, course by course."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements import web_view
from governance.authz import Role
from governance.identity import users
from governance.identity.models import TrainingCourse
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser
from tests.support import PASSWORD, SETUP, People, add_person

PRIVACY = TrainingCourse.PRIVACY_SECURITY
CJIS = TrainingCourse.CJIS_SECURITY_AWARENESS


def _rows(page: str) -> dict[str, tuple[str, str]]:
    """The personnel table as (role, training) by person's name."""
    section = re.search(r'id="training-heading".*?</section>', page, re.S)
    assert section is not None
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td>\s*<td>(.*?)</td></tr>", section.group(0), re.S
    )
    return {name: (role, re.sub(r"<[^>]+>", "", cell).strip()) for name, role, cell in rows}


def test_the_personnel_table_shows_current_and_missing_training(
    app: Flask,
    db: Session,
    people: People,
    datasets: Datasets,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = utcnow()
    today = now.date()  # UTC, as the page's: not the machine's local date
    # The page reads the training on the day the records were dated, even across midnight.
    monkeypatch.setattr(web_view, "utcnow", lambda: now)
    spans = {
        # name: course -> (completed_on, expires_on)
        "Expired Yesterday": {PRIVACY: (-400, 365), CJIS: (-400, -1)},
        "Expires Today": {PRIVACY: (-30, 300), CJIS: (-365, 0)},
        "Starts Tomorrow": {PRIVACY: (1, 365), CJIS: (-30, 300)},
        "Never Trained": {},
        "Fully Trained": {PRIVACY: (-30, 300), CJIS: (0, 1)},
    }
    ids = {}
    for number, (name, courses) in enumerate(spans.items()):
        person = add_person(
            db,
            app,
            email=f"person{number}@test.example",
            name=name,
            org=people.lab,
            roles=(Role.ANALYST,),
            courses=(),
        )
        for course, (completed, expires) in courses.items():
            users.record_training(
                db,
                user_id=person.id,
                course=course.value,
                completed_on=today + dt.timedelta(days=completed),
                expires_on=today + dt.timedelta(days=expires),
                by=SETUP,
            )
        ids[name] = person.id
    db.commit()
    agreement = builders.draft(
        db, people, datasets, personnel=dict.fromkeys(ids.values(), "analyst")
    )
    browser.login(people.privacy.email, PASSWORD)
    for _ in range(2):  # the second view from what the process kept
        page = browser.get(f"/agreements/{agreement.id}").get_data(as_text=True)
        rows = _rows(page)
        assert set(rows) == set(spans)
        assert {role for role, _ in rows.values()} == {"Analyst"}
        assert rows["Fully Trained"][1] == "Current"
        missing_cjis = f"Missing: {CJIS.label}"
        assert rows["Expired Yesterday"][1] == missing_cjis
        assert rows["Expires Today"][1] == missing_cjis
        assert rows["Starts Tomorrow"][1] == f"Missing: {PRIVACY.label}"
        assert (
            rows["Never Trained"][1] == f"Missing: {', '.join(sorted([PRIVACY.label, CJIS.label]))}"
        )
