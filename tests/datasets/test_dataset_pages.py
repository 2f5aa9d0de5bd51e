"""The dataset pages: listing, declaring with the column editor, schema, stewards, access."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy.orm import Session

from governance.datasets.models import Dataset
from governance.identity.models import User
from tests.conftest import Browser, fresh
from tests.datasets.support import COLUMNS
from tests.support import PASSWORD, People


def login(browser: Browser, people: People, role: str) -> Browser:
    browser.login(getattr(people, role).email, PASSWORD)
    return browser


def test_the_list_shows_what_each_person_may_see(
    browser: Browser, people: People, arrests: Dataset
) -> None:
    page = login(browser, people, "analyst").get("/datasets/").get_data(as_text=True)
    assert "Arrests" in page
    assert "Declare a dataset" not in page
    assert 'href="/datasets/"' in page  # in the navigation


def test_a_partner_of_another_agency_gets_404(
    app: object, arrests: Dataset, other_agency: User
) -> None:
    browser = Browser(app.test_client())  # type: ignore[attr-defined]
    browser.login(other_agency.email, PASSWORD)
    assert browser.get(f"/datasets/{arrests.id}").status_code == 404
    assert "Arrests" not in browser.get("/datasets/").get_data(as_text=True)


def test_the_detail_page_shows_classifications_stewards_and_no_rows(
    browser: Browser, people: People, arrests: Dataset
) -> None:
    page = login(browser, people, "steward").get(f"/datasets/{arrests.id}").get_data(as_text=True)
    for label in ("Direct identifier", "Quasi-identifier", "Sensitive", "General"):
        assert label in page
    assert "badge-direct_identifier" in page
    assert "Steward (steward@test.example)" in page
    assert "Upload and check" in page
    assert "upload.js" in page


def test_declaring_with_the_column_editor(browser: Browser, db: Session, people: People) -> None:
    login(browser, people, "steward")
    form = {
        "name": "Probation",
        "provider_id": str(people.probation.id),
        "description": "Cases",
        "columns-0-name": "case_id",
        "columns-0-type": "string",
        "columns-0-classification": "direct_identifier",
        "columns-0-required": "y",
        "columns-1-name": "risk",
        "columns-1-type": "integer",
        "columns-1-classification": "sensitive",
        "columns-2-name": "",
    }
    response = browser.post("/datasets/new", form)
    assert response.status_code == 302
    dataset = fresh(db).query(Dataset).filter_by(name="Probation").one()
    assert [(c.name, c.required) for c in dataset.columns] == [("case_id", True), ("risk", False)]
    assert dataset.steward_ids == {people.steward.id}


def test_declaring_from_a_schema_file(browser: Browser, db: Session, people: People) -> None:
    login(browser, people, "admin")
    schema = json.dumps({"columns": [c.as_dict() for c in COLUMNS]}).encode()
    response = browser.post(
        "/datasets/new",
        {
            "name": "Arrests 2",
            "provider_id": str(people.police.id),
            "description": "",
            "schema_file": (io.BytesIO(schema), "schema.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert len(fresh(db).query(Dataset).filter_by(name="Arrests 2").one().columns) == 6


def test_a_bad_column_is_a_422_naming_it(browser: Browser, db: Session, people: People) -> None:
    login(browser, people, "admin")
    response = browser.post(
        "/datasets/new",
        {
            "name": "X",
            "provider_id": str(people.police.id),
            "columns-0-name": "a",
            "columns-0-type": "string",
            "columns-0-classification": "general",
            "columns-1-name": "a",
            "columns-1-type": "string",
            "columns-1-classification": "general",
        },
    )
    assert response.status_code == 422
    assert "declared twice" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["analyst", "partner", "privacy", "checker"])
def test_only_managers_may_declare_or_edit(
    browser: Browser, people: People, arrests: Dataset, role: str
) -> None:
    login(browser, people, role)
    assert browser.get("/datasets/new").status_code == 403
    assert browser.get(f"/datasets/{arrests.id}/schema").status_code == 403


def test_editing_the_schema_and_stewards_through_the_pages(
    app: object, browser: Browser, db: Session, people: People, arrests: Dataset
) -> None:
    from governance.authz import Role
    from tests.support import add_person

    second = add_person(
        db,
        app,
        email="s2@test.example",
        name="Second Steward",  # type: ignore[arg-type]
        org=people.lab,
        roles=(Role.DATA_STEWARD,),
    )
    db.commit()
    login(browser, people, "admin")
    page = browser.get(f"/datasets/{arrests.id}/schema").get_data(as_text=True)
    assert 'value="person_id"' in page
    form = {"description": "Edited"}
    for index, column in enumerate(COLUMNS):
        form |= {
            f"columns-{index}-name": column.name,
            f"columns-{index}-type": column.type,
            f"columns-{index}-classification": column.classification,
            f"columns-{index}-description": column.description,
        }
        if column.required:
            form[f"columns-{index}-required"] = "y"
    assert browser.post(f"/datasets/{arrests.id}/schema", form).status_code == 302
    assert fresh(db).get(Dataset, arrests.id).description == "Edited"  # type: ignore[union-attr]
    assert (
        browser.post(f"/datasets/{arrests.id}/stewards", {"user_id": str(second.id)}).status_code
        == 302
    )
    assert (
        browser.post(f"/datasets/{arrests.id}/stewards/{people.steward.id}/remove", {}).status_code
        == 302
    )
    assert fresh(db).get(Dataset, arrests.id).steward_ids == {second.id}  # type: ignore[union-attr]
