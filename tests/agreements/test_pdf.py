"""The agreement PDF: every clause in its text, typed text shown literally, the SHA-256 of each
issued copy stored with the version, and nothing fetched while rendering."""

from __future__ import annotations

import hashlib
import io
import re
import sys
from typing import Any

from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.document import render_agreement_html
from governance.agreements.parts_model import AgreementDocument
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

HOSTILE_TITLE = '<b>Bold</b> & <img src="file:///etc/passwd"> (a, b)'


def pdf_text(content: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return re.sub(r"\s+", " ", text)


def squash(value: str) -> str:
    return re.sub(r"\s+", " ", value)


def test_the_pdf_contains_every_clause_and_records_its_hash(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser
) -> None:
    agreement = builders.approved(
        db,
        people,
        datasets,
        title=HOSTILE_TITLE,
        third_party_recipients=["University IRB (audit only)"],
        excluded_offence_categories=["sexual", "terrorism"],
        laws=["cjis", "hipaa"],
        legal_bases={"hipaa": "IRB waiver (45 CFR 164.512(i))"},
    )
    browser.login(people.analyst.email, PASSWORD)  # a party's staff may read their agreement
    response = browser.get(f"/agreements/{agreement.id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert f"{agreement.reference}-v1.pdf" in response.headers["Content-Disposition"]
    text = pdf_text(response.data)

    version = fresh(db).get(type(agreement), agreement.id).display_version  # type: ignore[union-attr]
    for clause_id, label, value in version.clauses():
        assert clause_id in text, clause_id
        assert squash(label) in text, label
        for line in value.split("\n"):
            assert squash(line)[:60] in text, (clause_id, line)
    assert HOSTILE_TITLE in text
    assert f"{agreement.reference} version 1" in text
    assert "privacy2@test.example" in text  # the approval, with who approved
    assert agreement.reference in text

    digest = hashlib.sha256(response.data).hexdigest()
    assert response.headers["X-Content-SHA256"] == digest
    document = db.scalars(select(AgreementDocument)).one()
    assert (document.sha256, document.byte_size, document.issued_by_id) == (
        digest,
        len(response.data),
        people.analyst.id,
    )
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert (event.event_type, event.agreement_id, event.agreement_version) == (
        AuditType.AGREEMENT_PDF,
        agreement.id,
        1,
    )
    assert event.detail["sha256"] == digest
    listing = browser.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert digest in listing


def test_a_draft_pdf_says_it_is_not_in_force(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser
) -> None:
    agreement = builders.draft(db, people, datasets)
    browser.login(people.privacy.email, PASSWORD)
    text = pdf_text(browser.get(f"/agreements/{agreement.id}/pdf").data)
    assert "DRAFT: not in force" in text


def test_an_earlier_version_can_be_issued(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser
) -> None:
    agreement = builders.approved(db, people, datasets)
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Rename", by=people.privacy, now=utcnow()
    )
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=utcnow(),
        terms=builders.terms(people, datasets, title="Renamed project"),
    )
    db.commit()
    browser.login(people.privacy.email, PASSWORD)
    first = pdf_text(browser.get(f"/agreements/{agreement.id}/pdf?version=1").data)
    second = pdf_text(browser.get(f"/agreements/{agreement.id}/pdf?version=2").data)
    assert "Diversion programme evaluation" in first
    assert "Renamed project" in second
    assert "DRAFT: not in force" in second
    assert browser.get(f"/agreements/{agreement.id}/pdf?version=9").status_code == 404


def test_rendering_escapes_typed_markup_and_opens_no_file_or_socket(
    db: Session, people: People, datasets: Datasets
) -> None:
    from governance.kernel.reports import pdf

    agreement = builders.draft(db, people, datasets, title=HOSTILE_TITLE)
    html = render_agreement_html(agreement, agreement.display_version)
    assert '<img src="file:///etc/passwd">' not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html

    seen: list[tuple[str, Any]] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if recording and (
            event.startswith("socket.")
            or (event == "open" and isinstance(args[0], str) and "passwd" in args[0])
        ):
            seen.append((event, args))

    recording = False
    sys.addaudithook(hook)
    recording = True
    try:
        rendered = pdf.html_to_pdf(
            html.replace(
                "</body>", '<img src="file:///etc/passwd"><img src="http://192.0.2.1/x.png"></body>'
            )
        )
    finally:
        recording = False
    assert seen == []
    assert set(rendered.blocked_urls) == {"file:///etc/passwd", "http://192.0.2.1/x.png"}


def test_someone_not_party_to_the_agreement_cannot_get_its_pdf(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser
) -> None:
    agreement = builders.draft(db, people, datasets)
    other = builders.make_probation_partner(db, app, people)
    browser.login(other.email, PASSWORD)
    assert browser.get(f"/agreements/{agreement.id}/pdf").status_code == 403
    assert fresh(db).scalars(select(AgreementDocument)).first() is None
