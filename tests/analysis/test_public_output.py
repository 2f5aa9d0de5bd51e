"""The public sees the released figures of a published output, never who made it or how the
service recorded it: no analyst, no run number, no software version, no audit chain head, in
the public page and the public PDF. The team's own PDF keeps all of them."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.types import utcnow
from governance.outputs import files as output_files
from governance.outputs import preview as output_preview
from governance.outputs import public as output_public
from governance.outputs import service as outputs
from governance.outputs.models import Output
from governance.periodic import SCHEDULER
from tests.analysis.conftest import World, execute, grant_records, submit
from tests.conftest import fresh
from tests.support import People


def text_of(pdf: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.split())


@pytest.fixture
def published(app: Flask, db: Session, people: People, world: World) -> tuple[AnalysisRun, Output]:
    grant_records(db, people, world, "descriptive")
    run = execute(
        app,
        db,
        submit(db, people, world, "descriptive", {"group_by": ["sex"], "rate_of": "reoffended"}).id,
    )
    assert run.status == RunStatus.SUCCEEDED
    output = db.scalars(select(Output).where(Output.run_id == run.id)).one()
    now = utcnow()
    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.checker, now=now
    )
    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="Counts >= 10.", by=people.privacy, now=now
    )
    db.commit()
    output_preview.close_due_previews(db, SCHEDULER, now + dt.timedelta(days=40))
    db.commit()
    outputs.publish_output(
        db, output_id=output.id, by=people.privacy, now=now + dt.timedelta(days=41)
    )
    db.commit()
    return run, output


def internal_words(people: People, run: AnalysisRun) -> list[str]:
    assert run.provenance is not None
    head = run.provenance["audit_chain_head"]
    return [
        people.analyst.name,
        people.analyst.email,
        "Requested by",
        f"run {run.id}",
        f"Analysis run {run.id}",
        str(run.provenance["engine_version"]),
        "audit chain head",
        str(head["sha256"])[:16],
        "Provenance",
        "audit seq",
    ]


def test_the_public_pdf_and_page_name_no_person_and_no_internal_identifier(
    app: Flask, db: Session, people: People, world: World, published: tuple[AnalysisRun, Output]
) -> None:
    run, output = published
    client = app.test_client()
    name = output.reference.lower()
    public_pdf = client.get(f"/published/{output.id}/{name}.pdf")
    assert public_pdf.status_code == 200
    public_text = text_of(public_pdf.data)
    assert output.title in public_text
    assert world.agreement.reference in public_text
    page = client.get(f"/published/{output.id}").get_data(as_text=True)
    public_csv = client.get(f"/published/{output.id}/{name}.csv").get_data(as_text=True)
    for word in internal_words(people, run):
        assert word.lower() not in public_text.lower(), word
        assert word.lower() not in page.lower(), word
        assert word.lower() not in public_csv.lower(), word
    # The hashes the public page lists are those of the files it serves.
    sums = client.get(f"/published/{output.id}/SHA256SUMS").get_data(as_text=True)
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert f"{stored.public_pdf_sha256}  {name}.pdf" in sums
    assert stored.public_pdf_sha256 in page
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.OUTPUT_PUBLISH)
    ).one()
    assert event.detail["public_pdf_sha256"] == stored.public_pdf_sha256


def test_the_teams_pdf_keeps_the_analyst_the_run_the_version_and_the_head(
    db: Session, people: People, published: tuple[AnalysisRun, Output]
) -> None:
    run, output = published
    download = output_files.download(
        db, output_id=output.id, kind="pdf", by=people.analyst, now=utcnow()
    )
    internal = text_of(download.content)
    assert run.provenance is not None
    for word in (
        people.analyst.name,
        "Requested by",
        f"run {run.id}",
        str(run.provenance["engine_version"]),
    ):
        assert word in internal, word


def test_outputs_published_before_public_files_get_them_from_the_job(
    app: Flask, db: Session, people: People, published: tuple[AnalysisRun, Output]
) -> None:
    _, output = published
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    expected = stored.public_pdf_sha256
    stored.public_pdf = stored.public_csv = None
    stored.public_pdf_sha256 = stored.public_csv_sha256 = None
    db.commit()
    name = output.reference.lower()
    assert app.test_client().get(f"/published/{output.id}/{name}.pdf").status_code == 404
    assert output_public.make_missing_public_files(fresh(db), SCHEDULER, utcnow()) == 1
    db.commit()
    again = app.test_client().get(f"/published/{output.id}/{name}.pdf")
    assert again.status_code == 200
    assert again.headers["X-Content-SHA256"] == expected  # the same bytes as at publication
