"""Closing an agreement destroys the partner's cohort files and its destruction certificate
lists them; the evidence pack lists runs."""

from __future__ import annotations

import io
import re

from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.destruction_model import DestructionCertificate
from governance.audit.evidence import providers
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.cohort_model import CohortFile
from governance.kernel.types import utcnow
from tests.analysis.conftest import World, execute, grant_records, submit, upload
from tests.conftest import fresh
from tests.support import People


def test_closing_the_agreement_destroys_its_cohort_files(
    db: Session, people: People, world: World
) -> None:
    cohort_id = upload(db, people, world)
    now = utcnow()
    agreements.terminate(
        db, agreement_id=world.agreement.id, reason="Funding ended.", by=people.privacy2, now=now
    )
    agreements.certify_destruction(
        db,
        agreement_id=world.agreement.id,
        by=people.privacy,
        now=now,
        statement="All copies deleted.",
    )
    db.commit()
    cohort = fresh(db).get(CohortFile, cohort_id)
    assert cohort is not None
    assert cohort.destroyed_at is not None


def test_the_destruction_certificate_lists_the_cohort_files_destroyed(
    db: Session, people: People, world: World
) -> None:
    cohort_id = upload(db, people, world)
    stored = fresh(db).get(CohortFile, cohort_id)
    assert stored is not None
    sha256, rows = stored.sha256, stored.row_count
    now = utcnow()
    agreements.terminate(
        db, agreement_id=world.agreement.id, reason="Funding ended.", by=people.privacy2, now=now
    )
    agreements.certify_destruction(
        db, agreement_id=world.agreement.id, by=people.privacy, now=now, statement="Deleted."
    )
    db.commit()
    (certificate,) = fresh(db).scalars(
        select(DestructionCertificate).where(
            DestructionCertificate.agreement_id == world.agreement.id
        )
    )
    text = re.sub(
        r"\s+",
        " ",
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(certificate.pdf)).pages),
    )
    cohorts = text.split("Partner cohort files destroyed", 1)[1].split("Certification", 1)[0]
    assert f"Cohort file {cohort_id}: Mentoring programme 2016-2019 (partner.csv)" in cohorts
    assert f"{rows:,} rows" in cohorts
    assert sha256 in cohorts.replace(" ", "")
    assert f"destroyed {now:%Y-%m-%d}" in cohorts
    # The certification event names the cohort files with the datasets' versions.
    event = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.DATASET_CERTIFY_DESTRUCTION,
            AuditEvent.target_id == str(certificate.id),
        )
    ).one()
    assert event.detail["cohort_files"] == [{"id": cohort_id, "sha256": sha256}]
    assert event.detail["pdf_sha256"] == certificate.pdf_sha256


def test_the_evidence_pack_lists_the_agreements_runs_and_outputs(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    sections = {s.title: s for s in providers.sections(db, world.agreement.id)}
    runs = sections["Analyses run under the agreement"]
    assert [row[0] for row in runs.rows] == [f"#{run.id}"]
    assert "v1" in runs.rows[0][5]
    outputs = sections["Outputs: checks, partner preview and publication"]
    assert [row[1] for row in outputs.rows] == [f"run #{run.id}"]
