"""Destroying stored data when an agreement closes, and the certificate that says so."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.destruction import CertifiedAgreement, destroy_uncovered
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.models import Dataset
from governance.datasets.service import create_dataset
from governance.kernel.errors import PermissionDenied
from tests.conftest import Browser, fresh
from tests.datasets.support import COLUMNS, data_files
from tests.datasets.test_datastore import FRAME, store
from tests.support import PASSWORD, SETUP, People

# WeasyPrint warns once, at import, about the machine's HarfBuzz
# (see tests/kernel/reports/conftest.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:HarfBuzz-Subset will be required:DeprecationWarning"
)
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
AGREEMENT = CertifiedAgreement(
    reference="DUA-2026-007",
    provider="Test Police",
    recipient="Test Lab",
    statement="All extracts wiped (NIST 800-88), certificate DC-17.",
)


def pdf_text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_destruction_removes_the_files_and_certifies_each_version(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    other = create_dataset(
        db,
        name="Probation",
        description="",
        provider_id=people.probation.id,
        columns=COLUMNS,
        steward_ids=[people.steward.id],
        by=SETUP,
    )
    db.commit()
    versions = [
        store(db, arrests),
        store(db, arrests, FRAME.head(2)),
        store(db, other, FRAME.tail(1)),
    ]
    head = audit.chain_head(db)
    certificate = destroy_uncovered(
        db,
        dataset_ids=[arrests.id],
        by=people.privacy,
        now=NOW,
        agreement_id=7,
        agreement=AGREEMENT,
    )
    db.commit()
    assert [p.name for p in data_files(app)] == [versions[2].storage_name]
    assert all(v.destroyed_at == NOW for v in versions[:2])
    assert versions[2].destroyed_at is None
    assert [(i.version_number, i.sha256, i.row_count) for i in certificate.items] == [
        (1, versions[0].sha256, 3),
        (2, versions[1].sha256, 2),
    ]
    assert certificate.pdf_sha256 == hashlib.sha256(certificate.pdf).hexdigest()
    text = pdf_text(certificate.pdf)
    squeezed = "".join(text.split())
    assert "Certificate of data destruction" in text
    assert "Arrests" in text
    assert "Test Police" in text
    assert "2026-11-23" in text
    assert "Privacy (privacy@test.example)" in text
    # Filed by the provider: the agreement by its reference with its parties, the statement
    # the certifier typed, the method, each version's destruction time and the chain head.
    assert "agreement 7" not in text.lower()
    assert "DUA-2026-007" in text
    assert "Test Lab" in text
    assert "certificate DC-17" in " ".join(text.split())
    assert "Cryptographic erasure" in text
    assert text.count("2026-11-23 09:30 UTC") >= 3  # the date, and each version's destruction
    assert (
        f"seq={head[0]}, sha256={head[1]}" in squeezed.replace("sha256=", ", sha256=")
        or head[1] in squeezed
    )
    for version in versions[:2]:
        assert version.sha256 in squeezed
    assert versions[2].sha256 not in squeezed
    fresh(db)
    events = db.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.event_type.in_(
                [AuditType.DATASET_DESTROY, AuditType.DATASET_CERTIFY_DESTRUCTION]
            )
        )
        .order_by(AuditEvent.seq)
    ).all()
    assert [e.event_type for e in events] == [
        AuditType.DATASET_DESTROY,
        AuditType.DATASET_DESTROY,
        AuditType.DATASET_CERTIFY_DESTRUCTION,
    ]
    assert events[-1].detail["pdf_sha256"] == certificate.pdf_sha256
    assert events[-1].agreement_id == 7


def test_a_certificate_with_nothing_left_to_destroy_says_why(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    never = create_dataset(
        db,
        name="Probation",
        description="",
        provider_id=people.probation.id,
        columns=COLUMNS,
        steward_ids=[people.steward.id],
        by=SETUP,
    )
    db.commit()
    store(db, arrests)
    first = destroy_uncovered(
        db, dataset_ids=[arrests.id], by=people.privacy, now=NOW, agreement=AGREEMENT
    )
    db.commit()
    second = destroy_uncovered(
        db,
        dataset_ids=[arrests.id, never.id],
        by=people.privacy,
        now=NOW + dt.timedelta(days=1),
        agreement=AGREEMENT,
    )
    db.commit()
    assert second.items == []
    text = " ".join(pdf_text(second.pdf).split())
    assert (
        "All 1 stored version had already been destroyed, the last on 2026-11-23, listed "
        f"on certificate {first.id}."
    ) in text
    assert "No data of this dataset was ever stored in the service." in text
    assert "nothing left to delete" not in text


def test_a_retry_after_files_vanished_still_certifies(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    version = store(db, arrests)
    for path in data_files(app):
        path.unlink()
    certificate = destroy_uncovered(db, dataset_ids=[arrests.id], by=people.privacy, now=NOW)
    db.commit()
    assert certificate.items[0].file_removed is False
    assert version.destroyed_at == NOW


def test_only_those_who_certify_destruction_may_destroy(
    db: Session, people: People, arrests: Dataset, app: Flask
) -> None:
    store(db, arrests)
    for person in (people.steward, people.admin, people.analyst):
        with pytest.raises(PermissionDenied):
            destroy_uncovered(db, dataset_ids=[arrests.id], by=person, now=NOW)
        db.rollback()
    assert len(data_files(app)) == 1


def test_certificates_are_listed_and_downloadable(
    browser: Browser, db: Session, people: People, arrests: Dataset
) -> None:
    store(db, arrests)
    certificate = destroy_uncovered(db, dataset_ids=[arrests.id], by=people.privacy, now=NOW)
    db.commit()
    browser.login(people.privacy.email, PASSWORD)
    listing = browser.get("/datasets/certificates").get_data(as_text=True)
    assert certificate.pdf_sha256 in listing
    response = browser.get(f"/datasets/certificates/{certificate.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data == certificate.pdf
    analyst = Browser(browser.client.application.test_client())
    analyst.login(people.analyst.email, PASSWORD)
    assert analyst.get(f"/datasets/certificates/{certificate.id}.pdf").status_code == 403
    page = browser.get(f"/datasets/{arrests.id}").get_data(as_text=True)
    assert "Destroyed 2026-11-23" in page
