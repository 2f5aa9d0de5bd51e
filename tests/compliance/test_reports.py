"""The annual audit's documents: the training completion page and CSV, the certification
result and the controls report, each CSV and PDF sealed with the audit head they were read at
(after their own recorded export), with live evidence from the database."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import training_report
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditHead, AuditType
from governance.compliance import certification, controls, evidence, periods
from governance.compliance.models import AuditPeriod, CertificationItem
from governance.kernel.types import utcnow
from tests.access.test_data_door import view_url
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def comment_lines(body: str) -> list[str]:
    return [line[2:] for line in body.splitlines() if line.startswith("# ")]


def last_report(db: Session) -> AuditEvent:
    return (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.AUDIT_REPORT)
            .order_by(AuditEvent.seq.desc())
        )
        .first()
    )  # type: ignore[return-value]


def test_the_catalogue_is_data_and_names_only_known_measures(tmp_path: Path) -> None:
    catalogue = controls.load_catalogue()
    refs = {(c.family.split()[0], c.ref) for c in catalogue}
    for ref in ("3.1", "3.3", "3.5", "3.8", "3.13"):
        assert ("NIST", ref) in refs
    for letter in "abcde":
        assert ("HIPAA", f"164.312({letter})") in refs
    for ref in ("5.4", "5.5", "5.6", "5.10"):
        assert ("CJIS", ref) in refs
    assert all(c.service and c.organisation and c.evidence for c in catalogue)
    broken = tmp_path / "controls.toml"
    broken.write_text(controls.CATALOGUE.read_text().replace('"decisions"', '"made_up_measure"', 1))
    with pytest.raises(ValueError, match="made_up_measure"):
        controls.load_catalogue(broken)


def test_controls_report_carries_live_evidence_and_the_audit_seal(
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    period: AuditPeriod,
    browser: Browser,
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, stored, "columns=sex")).status_code == 200
    assert browser.get(view_url(agreement, stored, "columns=ethnicity")).status_code == 403
    assert browser.get(view_url(agreement, stored, "columns=sex")).status_code == 200
    browser.post("/logout")
    browser.login(people.compliance.email, PASSWORD)
    assert browser.get(f"/compliance/periods/{period.id}/controls.csv").status_code == 200
    answer = browser.get(f"/compliance/periods/{period.id}/controls.csv")
    body = answer.get_data(as_text=True)
    seq, sha = audit.chain_head(fresh(db))
    head = fresh(db).get(AuditHead, audit.HEAD_ID)
    assert head is not None
    preamble = comment_lines(body)
    assert preamble[0] == f"audit chain head: seq={seq}, sha256={sha}"
    assert preamble[1].endswith(str(head.signature))
    assert preamble[2].startswith("last signed checkpoint")
    event = last_report(db)
    assert event.seq == seq  # the head includes the export's own event
    assert (event.detail["report"], event.detail["verified"]) == ("controls", True)
    rows = list(csv.DictReader(line for line in body.splitlines() if not line.startswith("#")))
    by_ref = {row["control"]: row for row in rows if row["control"]}
    assert "2 decisions on reads of dataset rows" not in by_ref["3.1"]["evidence"]
    assert "3 decisions on reads of dataset rows: 2 allowed, 1 refused" in by_ref["3.1"]["evidence"]
    assert "the whole chain verifies" in by_ref["3.3"]["evidence"]
    assert "stored dataset files, all encrypted" in by_ref["3.8"]["evidence"]
    assert "No access certification campaign" in by_ref["5.5"]["evidence"]
    assert by_ref["164.312(e)"]["organisation_does"]

    answer = browser.get(f"/compliance/periods/{period.id}/controls.pdf")
    assert answer.status_code == 200
    text = pdf_text(answer.data)
    seq, sha = audit.chain_head(fresh(db))
    assert f"seq={seq}" in text
    assert sha[:16] in text
    for ref in ("3.13", "164.312(a)", "5.10"):
        assert ref in text
    assert "organisation" in text.lower()
    assert last_report(db).detail["format"] == "pdf"


def test_certification_result_exports_with_overdue_flagged(
    db: Session, people: People, stored: Datasets, period: AuditPeriod, browser: Browser
) -> None:
    periods.start_certification(
        db,
        period_id=period.id,
        certify_by=utcnow() + dt.timedelta(days=7),
        by=people.compliance,
        now=utcnow(),
    )
    db.commit()
    item = fresh(db).scalars(select(CertificationItem)).one()
    certification.certify(
        db,
        item_id=item.id,
        decision="narrow",
        keep=["sex"],
        comment="=HYPERLINK(1)",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    browser.login(people.compliance.email, PASSWORD)
    page = browser.get(f"/compliance/periods/{period.id}").get_data(as_text=True)
    assert "1 of 1 grants decided (100%)" in page
    dashboard = browser.get("/dashboard/compliance_manager").get_data(as_text=True)
    assert f"Certification {period.name}: 1 of 1 decided" in dashboard
    body = browser.get(f"/compliance/periods/{period.id}/certification.csv").get_data(as_text=True)
    rows = list(csv.DictReader(line for line in body.splitlines() if not line.startswith("#")))
    assert rows[0]["decision"] == "narrowed"
    assert rows[0]["removed_columns"] == "age_at_arrest"
    assert rows[0]["decided_by"] == people.steward.email
    assert rows[0]["comment"].startswith("'=")  # neutralised for spreadsheets
    assert comment_lines(body)[0].startswith("audit chain head: seq=")
    pdf = browser.get(f"/compliance/periods/{period.id}/certification.pdf")
    text = pdf_text(pdf.data)
    assert "Access certification" in text
    assert "narrowed" in text
    assert "audit chain head" in text
    assert last_report(db).detail["report"] == "certification"
    # The evidence sentence of the controls report reads the same campaign.
    window = evidence.Window(
        since=utcnow() - dt.timedelta(days=1),
        until=utcnow() + dt.timedelta(days=1),
        now=utcnow() + dt.timedelta(days=8),
        verification=None,
        settings={},
    )
    said = evidence.certification(fresh(db), window)
    assert "1 grants; 0 confirmed, 1 narrowed, 0 revoked; 0 undecided, 0 overdue" in said


def test_training_page_and_csv_per_period(
    db: Session, people: People, agreement: Agreement, period: AuditPeriod, browser: Browser
) -> None:
    lines = training_report.training_lines(fresh(db), today=utcnow().date())
    summary = training_report.summarise(lines)
    assert sum(s.people for s in summary if s.required_by == "every agreement") == sum(
        1 for line in lines if "every agreement" in line.required_by
    )
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(f"/compliance/periods/{period.id}/training").status_code == 403
    browser.post("/logout")
    browser.login(people.compliance.email, PASSWORD)
    page = browser.get(f"/compliance/periods/{period.id}/training").get_data(as_text=True)
    assert people.analyst.email in page
    assert "Training completion" in page
    body = browser.get(f"/compliance/periods/{period.id}/training.csv").get_data(as_text=True)
    assert f"for the audit period {period.name}" in body
    assert last_report(db).detail == {
        "report": "training",
        "rows": len(lines),
        "lapsing_within_days": 90,
        "period": period.name,
    }
