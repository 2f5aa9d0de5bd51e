"""Pages that tell a person what they need before they spend time on a form."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.authz import Role
from governance.identity.models import User
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.browser.keyboard import choose, log_in, press
from tests.support import PASSWORD, People, add_person


@pytest.fixture
def untrained(app: Flask, db: Session, people: People) -> tuple[User, Agreement]:
    """Jordan Lee is named on the agreement but has no current CJIS training."""
    jordan = add_person(
        db,
        app,
        email="jordan@test.example",
        name="Jordan Lee",
        org=people.lab,
        roles=(Role.ANALYST,),
        courses=(),
    )
    db.commit()
    datasets: Datasets = make_datasets(db, people)
    agreement = approved(
        db,
        people,
        datasets,
        personnel={people.analyst.id: "principal_investigator", jordan.id: "analyst"},
    )
    return jordan, agreement


def test_a_person_who_cannot_be_granted_is_told_before_the_form(
    untrained: tuple[User, Agreement], live_server: Any, new_page: Any
) -> None:
    jordan, agreement = untrained
    page = new_page()
    log_in(page, live_server.url, jordan.email, PASSWORD)
    page.goto(f"{live_server.url}/access/requests/new")
    choose(page, "#agreement_id", agreement.reference)
    press(page, "main form button[type=submit]")
    warning = page.locator("#cannot-be-granted")
    assert warning.is_visible()
    assert "Training is not current" in warning.inner_text()
    assert "CJIS" in warning.inner_text()
    # Nothing further to fill in: no dataset step, no columns, no justification.
    assert page.locator("#dataset_id").count() == 0
    assert page.locator("#justification").count() == 0


def test_approving_an_agreement_naming_untrained_people_warns_the_approver(
    app: Flask, db: Session, people: People, live_server: Any, new_page: Any
) -> None:
    from governance.agreements import service as agreements
    from governance.kernel.types import utcnow
    from tests.agreements.builders import draft

    jordan = add_person(
        db,
        app,
        email="jordan@test.example",
        name="Jordan Lee",
        org=people.lab,
        roles=(Role.ANALYST,),
        courses=(),
    )
    db.commit()
    drafted = draft(
        db,
        people,
        make_datasets(db, people),
        personnel={people.analyst.id: "principal_investigator", jordan.id: "analyst"},
    )
    agreements.submit(db, agreement_id=drafted.id, by=people.privacy, now=utcnow())
    db.commit()
    page = new_page()
    log_in(page, live_server.url, people.privacy2.email, PASSWORD)
    page.goto(f"{live_server.url}/agreements/{drafted.id}")
    warning = page.locator("#untrained-personnel")
    assert warning.is_visible()
    assert "Jordan Lee" in warning.inner_text()
    assert "CJIS" in warning.inner_text()
    assert page.locator("form[action$='/approve'] button.primary").is_visible()
