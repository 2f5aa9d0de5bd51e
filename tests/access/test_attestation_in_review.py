"""Stewards see each holder's latest attestation (date, answers, copies declared) where they
review access: the grant page and the access review's CSV and PDF (issue 17)."""

from __future__ import annotations

import csv
import io

from pypdf import PdfReader
from sqlalchemy.orm import Session

from governance.access import obligations
from governance.kernel.types import utcnow
from tests.access.test_obligations_at_every_read import the_grant, with_grant
from tests.agreements.builders import Datasets
from tests.conftest import Browser
from tests.support import PASSWORD, People


def review_rows(browser: Browser) -> list[dict[str, str]]:
    response = browser.get("/access/reviews.csv")
    lines = response.get_data(as_text=True).splitlines()
    response.close()  # the streamed export keeps its request open until closed
    return list(csv.DictReader(line for line in lines if not line.startswith("#")))


def test_stewards_see_the_latest_attestation_in_the_review(
    browser: Browser, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, attestation_months=12, row_level_download=True)
    grant_id = the_grant(db, agreement).id
    db.rollback()

    now = utcnow()
    for copies in ("", "encrypted laptop: arrests_extract.csv"):
        obligations.record_attestation(
            db,
            agreement_id=agreement.id,
            still_needed=True,
            kept_terms=True,
            copies_outside=copies,
            by=people.analyst,
            now=now,
        )
        db.commit()

    browser.login(people.steward.email, PASSWORD)
    (row,) = review_rows(browser)
    assert row["attested_on"] == f"{now:%Y-%m-%d}"
    assert (row["still_needed"], row["kept_terms"]) == ("yes", "yes")
    # The latest of the two attestations, not the first.
    assert row["copies_outside"] == "encrypted laptop: arrests_extract.csv"
    page = browser.get(f"/access/grants/{grant_id}").get_data(as_text=True)
    assert "Latest attestation" in page
    assert "arrests_extract.csv" in page
    document = browser.get("/access/reviews.pdf").data
    text = " ".join(
        "".join(p.extract_text() for p in PdfReader(io.BytesIO(document)).pages).split()
    )
    assert "Latest attestation" in text
    assert "arrests_extract.csv" in text.replace(" ", "")
    browser.post("/logout")

    # A checker neither holds nor manages the grant: no review export for them.
    browser.login(people.checker.email, PASSWORD)
    assert browser.get("/access/reviews.csv").status_code == 403


def test_a_holder_who_never_attested_shows_as_never(
    browser: Browser, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, attestation_months=12)
    grant_id = the_grant(db, agreement).id
    db.rollback()
    browser.login(people.steward.email, PASSWORD)
    (row,) = review_rows(browser)
    assert (row["attested_on"], row["copies_outside"]) == ("never", "")
    assert "has not attested" in browser.get(f"/access/grants/{grant_id}").get_data(as_text=True)
