"""Attachments of an agreement (issue 17): stored encrypted beside the datasets under a key of
their own, with a size and type limit, a SHA-256 and versions; the declared type must match
the content and PDFs must open. Every view and download is recorded, refused ones too. What an
insider would try (an oversized file, a wrong type, a PDF that is HTML, a zip bomb dressed as
a DOCX, a path for a name) is refused with 400, 413 or 422 and leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfWriter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access import obligations
from governance.agreements import attachments
from governance.agreements.attachment_checks import BadFileName, clean_filename
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.authz.roles import Role
from governance.datasets.attachment_model import Attachment
from governance.datasets.datastore import files
from governance.kernel.errors import (
    InvalidTransition,
    PermissionDenied,
    TooLarge,
    ValidationFailed,
)
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets, approved
from tests.conftest import Browser, csrf_token, fresh
from tests.support import PASSWORD, People, add_person


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    return {"TESTING": True, "DATABASE_URL": database_url, "ATTACHMENT_MAX_MB": 1}


def pdf_bytes(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(document: bytes = b"<w:document/>") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document)
    return out.getvalue()


def stored_files(db: Session) -> list[Path]:
    directory = files.config_of(db).attachment_dir
    return sorted(directory.iterdir()) if directory.is_dir() else []


def upload(db: Session, agreement: Agreement, by: Any, **overrides: Any) -> Attachment:
    values: dict[str, Any] = {
        "kind": "ethics_letter",
        "title": "REC approval",
        "filename": "rec-approval.pdf",
        "declared_type": "pdf",
        "content": pdf_bytes(),
        **overrides,
    }
    return attachments.upload(db, agreement_id=agreement.id, by=by, now=utcnow(), **values)


def count(db: Session, model: Any) -> int:
    return fresh(db).scalar(select(func.count()).select_from(model)) or 0


def test_an_upload_is_stored_encrypted_hashed_and_versioned(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    content = pdf_bytes()
    first = upload(db, agreement, people.privacy, content=content)
    db.commit()
    second = upload(db, agreement, people.privacy, content=pdf_bytes(pages=2))
    other = upload(
        db,
        agreement,
        people.privacy,
        kind="data_management_plan",
        title="DMP",
        filename="dmp.txt",
        declared_type="txt",
        content=b"Plan.\n",
    )
    db.commit()
    assert (first.version, second.version, other.version) == (1, 2, 1)
    import hashlib

    assert first.sha256 == hashlib.sha256(content).hexdigest()
    assert first.wrapped_key is not None
    assert first.wrapping_key_id
    # On disk: encrypted (neither the PDF header nor its bytes appear), one file per version.
    on_disk = stored_files(db)
    assert len(on_disk) == 3
    raw = b"".join(p.read_bytes() for p in on_disk)
    assert b"%PDF" not in raw
    assert b"Plan." not in raw
    # Both versions are kept and readable.
    _, back = attachments.open_attachment(
        db, attachment_id=first.id, download=True, by=people.compliance, now=utcnow()
    )
    assert back == content
    assert [
        a.version
        for a in attachments.listed(db, agreement_id=agreement.id, by=people.privacy)
        if a.kind == "ethics_letter"
    ] == [2, 1]


@pytest.mark.parametrize(
    ("name", "declared", "content", "error", "field"),
    [
        # a PDF that is really an HTML page
        ("letter.pdf", "pdf", b"<html><script>alert(1)</script></html>", ValidationFailed, "file"),
        # the PDF signature, then nothing that opens
        ("letter.pdf", "pdf", b"%PDF-1.7\n<html>not a pdf</html>", ValidationFailed, "file"),
        # a PNG declared as a PDF
        ("letter.pdf", "pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, ValidationFailed, "file"),
        # a PDF declared as a JPEG
        ("scan.jpg", "jpeg", pdf_bytes(), ValidationFailed, "file"),
        # an HTML page sent as plain text
        ("notes.txt", "txt", b"<script>fetch('/')</script>", ValidationFailed, "file"),
        # a type the service does not accept
        ("tool.exe", "exe", b"MZ\x90\x00", ValidationFailed, "file_type"),
        # the extension does not match the type
        ("letter.html", "pdf", pdf_bytes(), ValidationFailed, "file"),
        # a zip that is no Word document
        ("plan.docx", "docx", b"PK\x03\x04" + b"\0" * 40, ValidationFailed, "file"),
        # empty
        ("letter.pdf", "pdf", b"", ValidationFailed, "file"),
    ],
)
def test_content_that_is_not_what_it_claims_is_refused_and_nothing_is_stored(
    db: Session,
    people: People,
    datasets: Datasets,
    name: str,
    declared: str,
    content: bytes,
    error: type[Exception],
    field: str,
) -> None:
    agreement = approved(db, people, datasets)
    db.commit()
    with pytest.raises(error) as refused:
        upload(
            db, agreement, people.privacy, filename=name, declared_type=declared, content=content
        )
    db.rollback()
    assert field in refused.value.fields  # type: ignore[attr-defined]
    assert count(db, Attachment) == 0
    assert stored_files(db) == []


def test_a_zip_bomb_dressed_as_a_docx_is_refused_before_it_is_expanded(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    db.commit()
    bomb = docx_bytes(b"\0" * (20 * 1024 * 1024))
    assert len(bomb) < 100_000
    with pytest.raises(ValidationFailed) as refused:
        upload(
            db, agreement, people.privacy, filename="plan.docx", declared_type="docx", content=bomb
        )
    assert "zip bomb" in refused.value.message
    db.rollback()
    # A real (small) DOCX passes.
    filed = upload(
        db,
        agreement,
        people.privacy,
        kind="data_management_plan",
        title="DMP",
        filename="plan.docx",
        declared_type="docx",
        content=docx_bytes(),
    )
    db.commit()
    assert filed.content_type.endswith("wordprocessingml.document")


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd.pdf",
        "..\\secret.pdf",
        "/var/x.pdf",
        ".hidden.pdf",
        "a\x00b.pdf",
        "line\nbreak.pdf",
        "   ",
    ],
)
def test_path_like_or_odd_file_names_are_refused(name: str) -> None:
    with pytest.raises(BadFileName) as refused:
        clean_filename(name)
    assert refused.value.status == 400


def test_a_file_over_the_configured_limit_is_413_and_nothing_is_stored(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    db.commit()
    big = b"x" * (1024 * 1024 + 1)
    with pytest.raises(TooLarge) as refused:
        upload(db, agreement, people.privacy, filename="big.txt", declared_type="txt", content=big)
    assert refused.value.status == 413
    db.rollback()
    assert count(db, Attachment) == 0
    assert stored_files(db) == []


def test_only_a_privacy_officer_files_and_a_recipient_only_their_own_attestation(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    db.commit()
    with pytest.raises(PermissionDenied):
        upload(db, agreement, people.analyst)
    db.rollback()
    with pytest.raises(PermissionDenied):
        upload(
            db,
            agreement,
            people.analyst,
            kind="destruction_attestation",
            attesting_user_id=people.privacy.id,
        )
    db.rollback()
    own = upload(
        db,
        agreement,
        people.analyst,
        kind="destruction_attestation",
        title="Analyst's destruction attestation",
        attesting_user_id=people.analyst.id,
    )
    db.commit()
    assert own.attesting_user_id == people.analyst.id
    with pytest.raises(PermissionDenied):
        upload(db, agreement, people.checker)


def test_every_view_and_download_is_recorded_and_a_refused_one_too(
    app: Flask, browser: Browser, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    filed = upload(db, agreement, people.privacy)
    # Someone of an organisation that is no party to the agreement.
    outsider = add_person(
        db,
        app,
        email="outsider@test.example",
        name="Outsider",
        org=people.probation,
        roles=(Role.ANALYST,),
    )
    db.commit()
    browser.login(people.compliance.email, PASSWORD)
    viewed = browser.get(f"/agreements/attachments/{filed.id}")
    assert viewed.status_code == 200
    assert viewed.headers["Content-Disposition"].startswith("inline")
    assert viewed.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in viewed.headers["Content-Security-Policy"]
    downloaded = browser.get(f"/agreements/attachments/{filed.id}?download=1")
    assert downloaded.headers["Content-Disposition"].startswith("attachment")
    assert downloaded.data[:5] == b"%PDF-"
    browser.post("/logout")
    browser.login(outsider.email, PASSWORD)
    assert browser.get(f"/agreements/attachments/{filed.id}?download=1").status_code == 403
    events = (
        fresh(db)
        .execute(
            select(AuditEvent.event_type, AuditEvent.outcome, AuditEvent.actor_id)
            .where(AuditEvent.target_type == "attachment")
            .order_by(AuditEvent.seq)
        )
        .all()
    )
    assert [(e, o) for e, o, _ in events] == [
        (AuditType.ATTACHMENT_UPLOAD, Outcome.SUCCESS),
        (AuditType.ATTACHMENT_VIEW, Outcome.SUCCESS),
        (AuditType.ATTACHMENT_DOWNLOAD, Outcome.SUCCESS),
        (AuditType.ATTACHMENT_DOWNLOAD, Outcome.DENIED),
    ]
    assert events[-1][2] == outsider.id


def test_hostile_uploads_through_the_page_answer_400_413_422(
    browser: Browser, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    db.commit()
    browser.login(people.privacy.email, PASSWORD)
    url = f"/agreements/{agreement.id}/attachments"

    def send(name: str, content: bytes, file_type: str = "pdf") -> int:
        # The multipart body is built here: the test client would spool a large one to a
        # temporary file it never closes.
        boundary = "----attachment-test"
        fields = {
            "csrf_token": csrf_token(browser.client, "/login"),
            "kind": "signed_agreement",
            "title": "Signed agreement",
            "file_type": file_type,
        }
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        body += content + f"\r\n--{boundary}--\r\n".encode()
        return int(
            browser.client.post(
                url, data=body, content_type=f"multipart/form-data; boundary={boundary}"
            ).status_code
        )

    assert send("signed.pdf", b"<html>phish</html>") == 422
    assert send("../../signed.pdf", pdf_bytes()) == 400
    assert send("signed.pdf", b"%PDF-" + b"x" * (1024 * 1024)) == 413
    assert count(db, Attachment) == 0
    assert stored_files(db) == []
    assert send("signed.pdf", pdf_bytes()) == 302
    assert count(db, Attachment) == 1
    page = browser.get(url).get_data(as_text=True)
    assert "Signed agreement" in page
    assert "signed.pdf" in page


def test_an_ethics_approval_references_its_approved_protocol(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    protocol = upload(
        db, agreement, people.privacy, kind="protocol", title="Protocol v3", filename="protocol.pdf"
    )
    plan = upload(
        db,
        agreement,
        people.privacy,
        kind="data_management_plan",
        title="DMP",
        filename="dmp.txt",
        declared_type="txt",
        content=b"Plan.\n",
    )
    db.commit()
    today = utcnow().date()
    with pytest.raises(ValidationFailed) as wrong:
        obligations.record_ethics_approval(
            db,
            agreement_id=agreement.id,
            board="REC",
            reference="R1",
            approved_on=today,
            expires_on=today + dt.timedelta(days=300),
            protocol_attachment_id=plan.id,
            by=people.privacy,
            now=utcnow(),
        )
    assert "protocol_attachment_id" in wrong.value.fields
    db.rollback()
    approval = obligations.record_ethics_approval(
        db,
        agreement_id=agreement.id,
        board="REC",
        reference="R1",
        approved_on=today,
        expires_on=today + dt.timedelta(days=300),
        protocol_attachment_id=protocol.id,
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    assert approval.protocol_attachment_id == protocol.id


def test_nothing_can_be_filed_once_the_data_is_destroyed(
    db: Session, people: People, datasets: Datasets
) -> None:
    from governance.agreements import service as agreements

    agreement = approved(db, people, datasets)
    upload(db, agreement, people.privacy)
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Ended.", by=people.privacy, now=utcnow()
    )
    agreements.certify_destruction(
        db, agreement_id=agreement.id, statement="Wiped.", by=people.privacy, now=utcnow()
    )
    db.commit()
    with pytest.raises(InvalidTransition):
        upload(db, agreement, people.privacy, title="Late letter")
    db.rollback()
    (filed,) = fresh(db).scalars(select(Attachment)).all()
    assert filed.destroyed_at is not None
    assert filed.wrapped_key is None
    assert stored_files(db) == []
    with pytest.raises(InvalidTransition):
        attachments.open_attachment(
            db, attachment_id=filed.id, download=True, by=people.privacy, now=utcnow()
        )
