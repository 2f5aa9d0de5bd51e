"""The agreement PDF as a regulator and the two signatories read it: breach notification with
the deadlines incidents are held to, the ethics approvals recorded, the governing law, and a
signature block per party: blank lines to sign until the agreement is executed, then the
provider's countersignature and the recipient's approval filled in (read back with pypdf)."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from sqlalchemy.orm import Session

from governance.access.obligations import record_ethics_approval
from governance.agreements.document import issue_pdf
from governance.agreements.models import Agreement
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets, countersign
from tests.agreements.test_pdf import pdf_text
from tests.conftest import fresh
from tests.support import People


def text_of(
    db: Session, people: People, agreement: Agreement, deadlines: dict[str, int] | None = None
) -> str:
    issued = issue_pdf(
        fresh(db),
        agreement_id=agreement.id,
        version_number=None,
        by=people.privacy,
        now=utcnow(),
        deadlines=deadlines,
    )
    db.commit()
    return pdf_text(issued.content)


def section(text: str, heading: str, following: str) -> str:
    found = re.search(re.escape(heading) + "(.*?)" + re.escape(following), text)
    assert found is not None, f"no section {heading!r} before {following!r}"
    return found.group(1)


def test_signature_blocks_are_blank_until_executed_then_filled_in(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets, countersigned=False)
    unsigned = section(text_of(db, people, agreement), "Signatures", "Page")
    # The provider's named signatory, with lines to sign on paper and nothing filled in.
    assert "Data provider: Test Police" in unsigned
    assert "Name: Chief Dana Reyes" in unsigned
    assert "Title: Chief of Police" in unsigned
    assert "Signed (signed copy" not in unsigned
    # The recipient's block records the internal approval.
    assert "Recipient: Test Lab" in unsigned
    assert "Name: Dr Lee Park" in unsigned
    assert f"Approved for the recipient by {people.privacy2.email}" in unsigned
    approved_on = builders.today().isoformat()
    provider_block = section(unsigned, "Data provider: Test Police", "Recipient: Test Lab")
    assert approved_on not in provider_block  # the provider's date line is still blank

    countersign(db, people, fresh(db).get(Agreement, agreement.id))  # type: ignore[arg-type]
    db.commit()
    signed = section(text_of(db, people, agreement), "Signatures", "Page")
    provider_block = section(signed, "Data provider: Test Police", "Recipient")
    assert "Name: Chief Dana Reyes" in provider_block
    assert "Signed (signed copy RPD-LEGAL-2026-114)" in provider_block
    assert f"Date: {approved_on}" in provider_block


def test_breach_notification_names_each_deadline_from_the_laws_and_the_agreement(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(
        db,
        people,
        datasets,
        laws=["cjis", "hipaa", "uk_gdpr_dpa2018"],
        legal_bases={
            "hipaa": "IRB waiver (45 CFR 164.512(i))",
            "uk_gdpr_dpa2018": "Article 6(1)(e) public task",
        },
        provider_notice_hours=24,
    )
    text = text_of(db, people, agreement)
    notices = section(text, "Breach notification", "Ethics approval")
    assert "60 days (1440 hours)" in notices  # HIPAA: 45 CFR 164.410
    assert "45 CFR 164.410" in notices
    assert "72 hours" in notices  # UK GDPR Article 33
    assert "Information Commissioner" in notices
    assert "1 day (24 hours)" in notices  # the agreement's own notice to the provider
    assert "FBI CJIS" not in notices  # CJIS sets no deadline of its own
    # A deployment's override of a law's deadline is what incidents are held to, and printed.
    overridden = section(
        text_of(db, people, agreement, {"uk_gdpr_dpa2018": 48}),
        "Breach notification",
        "Ethics approval",
    )
    assert "2 days (48 hours)" in overridden
    assert "72 hours" not in overridden.split("UK GDPR Article 33")[0]


def test_without_deadlines_the_pdf_says_so(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets, laws=["cjis"])
    notices = section(text_of(db, people, agreement), "Breach notification", "Ethics approval")
    assert "sets no notice period of its own" in notices


def test_ethics_approvals_and_governing_law_are_printed(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets, ethics_required=True, countersigned=False)
    before = section(text_of(db, people, agreement), "Ethics approval", "Governing law")
    assert "No ethics approval is recorded." in before
    record_ethics_approval(
        db,
        agreement_id=agreement.id,
        board="Riverton University IRB",
        reference="IRB-2026-0412",
        approved_on=builders.today() - dt.timedelta(days=3),
        expires_on=builders.today() + dt.timedelta(days=362),
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    text = text_of(db, people, agreement)
    ethics = section(text, "Ethics approval", "Governing law")
    assert "Data is read only while an ethics board's approval" in ethics
    assert "Riverton University IRB" in ethics
    assert "IRB-2026-0412" in ethics
    assert (builders.today() + dt.timedelta(days=362)).isoformat() in ethics
    law = section(text, "Governing law", "Signatures")
    assert "FBI CJIS Security Policy" in law
    assert "jurisdiction of the data provider, Test Police" in law
