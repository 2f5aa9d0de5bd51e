"""The periodic access review: usage from the audit trail, confirm or narrow, export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant, GrantReview
from governance.access.review import grant_usage, grants_due_for_review, review_grant
from governance.agreements.models import Agreement
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.access.test_data_door import stored, view_url  # noqa: F401  (fixture)
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def test_usage_counts_columns_read_and_never_used(
    browser: Browser, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, stored, "columns=sex")).status_code == 200
    grant = fresh(db).scalars(select(Grant)).one()
    usage = grant_usage(db, grant, now=utcnow())
    assert usage.used == ["sex"]
    assert usage.unused == ["age_at_arrest"]


def test_steward_narrows_to_what_is_used_and_reads_then_stop(
    browser: Browser, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    grant = db.scalars(select(Grant)).one()
    with pytest.raises(PermissionDenied):
        review_grant(
            db, grant_id=grant.id, keep=["sex"], comment="", by=people.analyst, now=utcnow()
        )
    db.rollback()
    review = review_grant(
        db,
        grant_id=grant.id,
        keep=["sex"],
        comment="Age never used.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    assert review.decision == "narrowed"
    assert review.removed_columns == "age_at_arrest"
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, stored, "columns=age_at_arrest")).status_code == 403


def test_grants_not_reviewed_in_90_days_are_listed(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    later = utcnow() + dt.timedelta(days=91)
    assert [g.id for g in grants_due_for_review(db, now=later)] == [
        g.id for g in db.scalars(select(Grant))
    ]
    assert grants_due_for_review(db, now=utcnow()) == []


def test_review_exports_as_csv_and_pdf(
    browser: Browser, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    grant = db.scalars(select(Grant)).one()
    review_grant(
        db,
        grant_id=grant.id,
        keep=grant.column_names,
        comment="=HYPERLINK(1)",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    browser.login(people.steward.email, PASSWORD)
    csv_text = browser.get("/access/reviews.csv").get_data(as_text=True)
    assert "# audit chain head: seq=" in csv_text
    assert "confirmed" in csv_text
    assert "'=HYPERLINK(1)" in csv_text
    pdf = browser.get("/access/reviews.pdf")
    assert pdf.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Access review" in text
    assert "confirmed" in text
    assert fresh(db).scalars(select(GrantReview)).one().decision == "confirmed"
    browser.post("/logout")
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get("/access/reviews.csv").status_code == 403


def test_the_review_lists_every_grant_in_force_even_never_reviewed(
    browser: Browser, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    grant = db.scalars(select(Grant)).one()
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, stored, "columns=sex")).status_code == 200
    browser.post("/logout")
    browser.login(people.steward.email, PASSWORD)
    lines = browser.get("/access/reviews.csv").get_data(as_text=True).splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert len(rows) == 1
    row = rows[0]
    assert (row["grant_id"], row["holder"], row["holder_email"]) == (
        str(grant.id),
        people.analyst.name,
        people.analyst.email,
    )
    assert (row["agreement"], row["dataset"]) == (agreement.reference, stored.arrests.name)
    assert row["columns"] == "age_at_arrest, sex"
    assert (row["used_in_90_days"], row["unused_in_90_days"]) == ("sex", "age_at_arrest")
    assert row["last_review"] == "never"
    assert row["purpose"] == grant.purpose
    assert row["valid_from"]
    assert row["last_day"]
    document = browser.get("/access/reviews.pdf").data
    text = " ".join(
        "".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages).split()
    )
    assert "Every active grant has been reviewed" not in text
    assert people.analyst.email in text.replace(" ", "")
    assert agreement.reference in text
    assert "never" in text


def test_the_evidence_pack_lists_versions_and_grants(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    from governance.audit.evidence import providers

    sections = {s.title: s for s in providers.sections(db, agreement.id)}
    versions = sections["Versions and approvals"]
    assert versions.rows[0][0] == 1
    assert "privacy2@test.example" in versions.rows[0][5]
    grants = sections["Grants (minimum necessary)"]
    assert len(grants.rows) == 1
    assert grants.rows[0][3] == "age_at_arrest, sex"


@pytest.mark.parametrize(
    ("status", "created_days_ago", "reviewed_days_ago"),
    [
        ("active", 100, None),  # never reviewed, created long ago: due
        ("active", 10, None),  # new: not due
        ("active", 100, 10),  # reviewed lately: not due
        ("active", 200, 100),  # reviewed long ago: due
        ("paused", 100, None),  # not ended: due, shown when the status filter allows
        ("revoked", 100, None),  # ended: never due
        ("expired", 200, 100),
    ],
)
def test_the_overdue_page_lists_exactly_the_grants_due_for_review(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    status: str,
    created_days_ago: int,
    reviewed_days_ago: int | None,
) -> None:
    """The grants page narrows its own query by the review's condition: it lists what
    grants_due_for_review finds, within the page's status filter and what the viewer sees."""
    now = utcnow()
    grant = db.scalars(select(Grant)).one()
    grant.status = status
    grant.created_at = now - dt.timedelta(days=created_days_ago)
    grant.last_reviewed_at = (
        None if reviewed_days_ago is None else now - dt.timedelta(days=reviewed_days_ago)
    )
    db.commit()
    due = {g.id for g in grants_due_for_review(fresh(db), now=utcnow())}
    for who in (people.steward, people.privacy):
        browser = Browser(app.test_client())
        browser.login(who.email, PASSWORD)
        for query, shown_statuses in [
            ("review=overdue", {"active"}),
            ("status=all&review=overdue", {"active", "paused", "revoked", "expired"}),
            ("status=paused&review=overdue", {"paused"}),
        ]:
            page = browser.get(f"/access/grants?{query}")
            assert page.status_code == 200
            listed = f'">#{grant.id}</a>' in page.get_data(as_text=True)
            assert listed == (grant.id in due and status in shown_statuses), (who.email, query)
