"""The public data-use register: generated from the agreements, listed only with the parties'
consent, and never more than names, dates and released outputs.

An outsider reads it without signing in; the tests look for what must not be there (columns,
personnel, drafts, unapproved amendments, unpublished outputs) as much as for what must.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.agreements.terms import TermsInput
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from governance.register.queries import FIELDS, entries
from tests.agreements.builders import Datasets, approved, countersign, draft, make_datasets
from tests.outputs.builders import produce, published
from tests.support import People, days_since

SUMMARY = (
    "We look at whether sending people to a diversion scheme instead of court changes re-arrest."
)


@pytest.fixture
def datasets(db: Session, people: People) -> Datasets:
    return make_datasets(db, people)


def listed(db: Session, people: People, datasets: Datasets, **overrides: Any) -> Agreement:
    values: dict[str, Any] = {
        "public_register": True,
        "lay_summary": SUMMARY,
        "legal_bases": {"cjis": "Research agreement under 28 CFR 20.33(a)(7)"},
        **overrides,
    }
    return approved(db, people, datasets, **values)


def public_get(app: Flask, path: str) -> Any:
    response = app.test_client().get(path)  # nobody signed in
    assert response.status_code == 200, (path, response.status_code)
    return response


def test_only_approved_agreements_whose_parties_allow_it_are_listed(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    before = utcnow().date()
    shown = listed(db, people, datasets, title="Diversion and re-arrest")
    approved(db, people, datasets, title="Not for the public")  # the parties did not allow it
    draft(db, people, datasets, title="A draft", public_register=True, lay_summary=SUMMARY)
    found = entries(db)
    assert [e.reference for e in found] == [shown.reference]
    entry = found[0]
    assert entry.project_title == "Diversion and re-arrest"
    assert entry.lay_summary == SUMMARY
    assert entry.data_provider == people.police.name
    assert entry.recipient_organisation == people.lab.name
    assert entry.datasets == (datasets.arrests.name,)
    assert entry.laws
    assert "CJIS" in entry.laws[0]
    assert entry.legal_basis == (f"{entry.laws[0]}: Research agreement under 28 CFR 20.33(a)(7)",)
    assert entry.approved_on in days_since(before)  # the day it was approved
    assert entry.end_date == shown.current_version.expiry_date  # type: ignore[union-attr]


def test_the_page_csv_and_json_say_the_same_and_nothing_private(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = listed(db, people, datasets, title="Diversion and re-arrest")
    page = public_get(app, "/register/").get_data(as_text=True)
    data = json.loads(public_get(app, "/register/register.json").data)
    rows = list(csv.DictReader(io.StringIO(public_get(app, "/register/register.csv").text)))
    assert "Diversion and re-arrest" in page
    assert SUMMARY in page
    assert [e["reference"] for e in data["register"]] == [agreement.reference]
    assert data["witnessed_head"] is None
    assert list(rows[0]) == list(FIELDS)
    assert rows[0]["lay_summary"] == SUMMARY
    assert rows[0]["datasets"] == datasets.arrests.name
    everything = page + json.dumps(data) + json.dumps(rows)
    for private in (
        "age_at_arrest",  # a column the agreement covers
        "offence_category",
        people.analyst.name,  # the personnel
        people.analyst.email,
        "Chief Dana Reyes",  # a signatory
    ):
        assert private not in everything, private


def test_released_outputs_are_listed_and_unpublished_ones_are_not(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = listed(db, people, datasets)
    out = published(db, people, agreement, title="Re-arrest after diversion")
    produce(db, people, agreement, title="Still being checked")
    (entry,) = entries(db)
    assert [o.reference for o in entry.outputs] == [out.reference]
    page = public_get(app, "/register/").get_data(as_text=True)
    assert "Re-arrest after diversion" in page
    assert "Still being checked" not in page


def test_a_change_waits_for_the_amendment_to_be_in_force(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)  # in force without consent to be listed
    now = utcnow()
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="List on the register", by=people.privacy, now=now
    )
    working = agreement.working_version
    assert working is not None
    terms = TermsInput.from_version(working)
    terms.public_register, terms.lay_summary = True, SUMMARY
    agreements.update_draft(db, agreement_id=agreement.id, terms=terms, by=people.privacy, now=now)
    db.commit()
    assert entries(db) == []  # only the approved version in force decides
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=now)
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=now)
    db.commit()
    assert entries(db) == []  # approved, not yet countersigned by the provider
    countersign(db, people, agreement, now=now)
    db.commit()
    assert [e.reference for e in entries(db)] == [agreement.reference]


def test_listing_without_a_lay_summary_cannot_be_submitted(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = draft(db, people, datasets, public_register=True, lay_summary="  ")
    with pytest.raises(ValidationFailed) as refused:
        agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    assert "lay summary" in str(refused.value.fields.get("lay_summary", "")).lower()


def test_a_formula_in_a_lay_summary_reaches_a_spreadsheet_as_text(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    listed(db, people, datasets, lay_summary='=HYPERLINK("http://evil.example","x")')
    rows = list(csv.DictReader(io.StringIO(public_get(app, "/register/register.csv").text)))
    assert rows[0]["lay_summary"].startswith("'=")


def test_witness_json_is_404_until_a_head_is_witnessed(app: Flask) -> None:
    response = app.test_client().get("/register/witness.json")
    assert response.status_code == 404
    assert b"No audit head has been witnessed" in response.data
