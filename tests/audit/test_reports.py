"""The PDF audit report and the evidence pack: aggregated, verified, with the chain head."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit import evidence as audit_evidence
from governance.audit import report as audit_report
from governance.audit import service as audit
from governance.audit.evidence import EvidenceSection
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.queries import AuditFilter
from governance.cli import main
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.extensions import database
from tests.agreements.builders import draft, make_datasets
from tests.audit.conftest import HARFBUZZ, CliInvoker
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

pytestmark = pytest.mark.filterwarnings(HARFBUZZ)


def pdf_text(data: bytes) -> str:
    """The PDF's text with whitespace collapsed (table cells wrap across lines)."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join((page.extract_text() or "") for page in pages).split())


@pytest.fixture
def activity(db: Session, people: People) -> int:
    """Under a drafted agreement (its id is returned): an approval, reads with and without
    identifiers, a denial; and a read under another agreement (10)."""
    nine = draft(db, people, make_datasets(db, people)).id
    db.commit()
    audit.record(
        db,
        AuditType.AGREEMENT_APPROVE,
        by=people.privacy,
        agreement_id=nine,
        agreement_version=2,
        target_type="agreement",
        target_id=nine,
    )
    for identifiers in ([], ["full_name"], ["full_name", "date_of_birth"]):
        audit.record(
            db,
            AuditType.DATASET_READ,
            by=people.analyst,
            outcome=Outcome.ALLOWED,
            agreement_id=nine,
            agreement_version=2,
            dataset_id=4,
            rule="grant:3",
            detail={
                "columns": ["age_band", *identifiers],
                "row_count": 25,
                "direct_identifier_columns": identifiers,
            },
        )
    audit.record(
        db,
        AuditType.DATASET_READ,
        by=people.analyst2,
        outcome=Outcome.DENIED,
        agreement_id=nine,
        dataset_id=4,
        rule="no-grant",
        clause="4.2",
        detail={"columns": ["case_id"]},
    )
    audit.record(
        db,
        AuditType.DATASET_READ,
        by=people.analyst,
        agreement_id=10,
        dataset_id=5,
        outcome=Outcome.ALLOWED,
        detail={"columns": ["x"], "direct_identifier_columns": [], "row_count": 1},
    )
    db.commit()
    return nine


def test_cli_pdf_report_aggregates_and_verifies(
    cli: CliInvoker, activity: int, db: Session, tmp_path: Path
) -> None:
    out = tmp_path / "report.pdf"
    result = cli("audit", "export", "--format", "pdf", "--since", "2000-01-01", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = pdf_text(out.read_bytes())
    head_seq, head_hash = audit.chain_head(fresh(db))
    assert f"audit chain head: seq={head_seq}" in text
    assert head_hash[:20] in text.replace(" ", "")
    assert "Intact" in text
    assert "Denied attempts" in text
    assert "no-grant / 4.2" in text
    assert "2 reads of dataset rows included direct-identifier columns" in text
    assert "full_name, date_of_birth" in text
    assert "Events by type" in text
    assert "dataset:read" in text
    report = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_REPORT))
        .one()
    )
    assert report.detail["filters"] == {"since": "2000-01-01T00:00:00Z"}


def test_page_pdf_report(browser: Browser, people: People, activity: int) -> None:
    browser.login(people.compliance.email, PASSWORD)
    response = browser.get("/audit/export?format=pdf&dataset_id=4")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    assert "dataset_id=4" in text
    assert "Events by dataset Dataset Events dataset (#4) 4" in text
    assert "Events by outcome Outcome Events allowed 3 denied 1" in text


def test_cli_evidence_pack(cli: CliInvoker, activity: int, db: Session, tmp_path: Path) -> None:
    reference = fresh(db).get(Agreement, activity).reference  # type: ignore[union-attr]
    result = cli("audit", "evidence", "--agreement", reference, "--out", str(tmp_path / "pack"))
    assert result.exit_code == 0, result.output
    pdf = (tmp_path / "pack" / f"agreement-{activity}-evidence.pdf").read_bytes()
    csv_text = (tmp_path / "pack" / f"agreement-{activity}-events.csv").read_text()
    text = pdf_text(pdf)
    assert f"Evidence pack: {reference}" in text
    assert "Agreement history as recorded" in text
    assert "agreement:approve" in text
    assert "Reads of data under this agreement" in text
    assert "full_name, date_of_birth" in text
    lines = [line for line in csv_text.splitlines() if not line.startswith("#")]
    under = fresh(db).scalars(select(AuditEvent).where(AuditEvent.agreement_id == activity)).all()
    assert len(lines) == 1 + len(under)  # the header, and every event including the export
    assert csv_text.startswith("# audit chain head: seq=")


def test_pack_and_report_never_split_numbers_dates_or_identifiers(
    browser: Browser, people: People, activity: int, db: Session
) -> None:
    """Every seq, time, event type and e-mail of a listed event is whole on one line."""
    browser.login(people.compliance.email, PASSWORD)
    pack = browser.get(f"/audit/evidence/{activity}.pdf").data
    report = browser.get("/audit/export?format=pdf").data
    events = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(
                AuditEvent.agreement_id == activity,
                AuditEvent.event_type == AuditType.DATASET_READ,
                AuditEvent.outcome == Outcome.ALLOWED,
            )
        )
        .all()
    )
    for document in (pack, report):
        pages = PdfReader(io.BytesIO(document)).pages
        assert all(page.mediabox.width > page.mediabox.height for page in pages)  # landscape
        lines = "\n".join(page.extract_text() or "" for page in pages).splitlines()
        for event in events:
            if event.detail.get("direct_identifier_columns") or document is pack:
                assert any(f"{event.occurred_at:%Y-%m-%d %H:%M}" in line for line in lines)
                assert any(people.analyst.email in line for line in lines)
                assert any(f"{event.seq} " in line for line in lines)


def test_an_evidence_pack_of_no_agreement_is_refused(
    cli: CliInvoker, browser: Browser, people: People, db: Session, tmp_path: Path
) -> None:
    result = cli(
        "audit", "evidence", "--agreement", "DUA-2099-999", "--out", str(tmp_path / "pack")
    )
    assert result.exit_code == 1
    assert "There is no agreement DUA-2099-999" in result.output
    assert not (tmp_path / "pack").exists()
    assert (
        cli("audit", "evidence", "--agreement", "424242", "--out", str(tmp_path / "pack")).exit_code
        == 1
    )
    browser.login(people.compliance.email, PASSWORD)
    assert browser.get("/audit/evidence/424242.pdf").status_code == 404
    assert browser.get("/audit/evidence/424242.csv").status_code == 404
    assert (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_EXPORT))
        .all()
        == []
    )


def test_registered_sections_join_the_pack(
    browser: Browser, people: People, activity: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = audit_evidence.SectionRegistry(list(audit_evidence.providers.providers))
    monkeypatch.setattr(audit_evidence, "providers", registry)

    @registry.register("grants", order=30)
    def grants(session: Session, agreement_id: int) -> list[EvidenceSection]:
        return [
            EvidenceSection(
                title="Grants under this agreement",
                columns=("Grant", "Until"),
                rows=[(f"grant {agreement_id}-1", "2027-01-01")],
            )
        ]

    browser.login(people.compliance.email, PASSWORD)
    response = browser.get(f"/audit/evidence/{activity}.pdf")
    assert response.status_code == 200
    text = pdf_text(response.data)
    assert (
        text.index("Events under this agreement by type")
        < text.index("Grants under this agreement")
        < text.index("Reads of data")
    )
    assert f"grant {activity}-1" in text
    csv_response = browser.get(f"/audit/evidence/{activity}.csv")
    assert csv_response.status_code == 200
    assert csv_response.get_data(as_text=True).count("dataset:read") == 4


def test_evidence_pack_needs_audit_export(browser: Browser, people: People, db: Session) -> None:
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get("/audit/evidence/9.pdf").status_code == 403
    denied = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_EXPORT))
        .one()
    )
    assert denied.agreement_id == 9
    assert denied.outcome == Outcome.DENIED


def test_an_unwritable_output_path_is_refused_in_one_line(
    cli: CliInvoker, activity: int, db: Session, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"  # a path under a file cannot be written, even by root
    blocker.write_text("")
    for args in (
        ["export", "--format", "csv", "--out", str(blocker / "a.csv")],
        ["export", "--format", "pdf", "--out", str(blocker / "a.pdf")],
        ["evidence", "--agreement", str(activity), "--out", str(blocker / "p")],
    ):
        result = CliRunner().invoke(main, ["audit", *args])
        assert result.exit_code == 1, result.output
        assert "Cannot write" in result.output
        assert "Nothing was exported" in result.output
        assert isinstance(result.exception, SystemExit), result.exception
    assert (
        fresh(db)
        .scalars(
            select(AuditEvent).where(
                AuditEvent.event_type.in_([AuditType.AUDIT_EXPORT, AuditType.AUDIT_REPORT])
            )
        )
        .all()
        == []
    )


def test_the_export_takes_the_agreement_reference_a_person_types(
    cli: CliInvoker, activity: int, db: Session, tmp_path: Path
) -> None:
    reference = fresh(db).get(Agreement, activity).reference  # type: ignore[union-attr]
    out = tmp_path / "events.csv"
    result = cli("audit", "export", "--format", "csv", "--agreement", reference, "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    under = fresh(db).scalars(select(AuditEvent).where(AuditEvent.agreement_id == activity)).all()
    assert len(rows) == 1 + len(under)  # the header, then every event under the agreement
    unknown = CliRunner().invoke(
        main,
        [
            "audit",
            "export",
            "--format",
            "csv",
            "--agreement",
            "DUA-2099-999",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert unknown.exit_code == 1
    assert "There is no agreement DUA-2099-999" in unknown.output


FIGURES = (
    "head",
    "total",
    "by_type",
    "by_outcome",
    "by_user",
    "by_dataset",
    "daily",
    "denied_total",
    "denied",
    "identifier_reads_total",
    "identifier_reads",
)


@pytest.mark.parametrize("recount", [64, 2], ids=["one-by-one", "recounted"])
def test_counts_made_before_the_report_give_the_same_figures(
    app: Flask,
    db: Session,
    people: People,
    activity: int,
    monkeypatch: pytest.MonkeyPatch,
    recount: int,
) -> None:
    # The command counts while its app is built, before `audit:report` is recorded; the
    # events recorded since (denials, identifier reads, a new user and dataset) are counted
    # when the report is made. Every figure must be what counting all at once gives, the
    # lists of the latest events included (two listed here, so that both parts are cut).
    monkeypatch.setattr(audit_report, "LISTED", 2)
    # Three events follow the early counts: counted one by one, or (beyond RECOUNT) the
    # whole period counted again.
    monkeypatch.setattr(audit_report, "RECOUNT", recount)
    engine = database(app).read_engine()
    flt = AuditFilter(since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    early = audit_report.count_early(engine, flt)
    assert early.result().head == audit.chain_head(fresh(db))
    for identifiers, outcome, by in (
        (["full_name"], Outcome.ALLOWED, people.analyst2),
        ([], Outcome.DENIED, people.compliance),
        (["date_of_birth"], Outcome.DENIED, people.analyst),
    ):
        audit.record(
            db,
            AuditType.DATASET_READ,
            by=by,
            outcome=outcome,
            agreement_id=activity,
            dataset_id=77,
            detail={"columns": identifiers, "direct_identifier_columns": identifiers},
        )
    db.commit()
    merged = audit_report.build_report(db, engine, flt, early=early)
    whole = audit_report.build_report(db, engine, flt)
    for name in FIGURES:
        assert getattr(merged, name) == getattr(whole, name), name
    assert merged.head[0] == early.result().head[0] + 3
    assert merged.denied_total == 3
    assert [event["seq"] for event in merged.denied] == [merged.head[0], merged.head[0] - 1]
    assert merged.identifier_reads_total == 4
    assert ("dataset (#77)", 3) in merged.by_dataset


def test_counts_made_for_other_filters_are_not_used(app: Flask, db: Session, activity: int) -> None:
    engine = database(app).read_engine()
    early = audit_report.count_early(engine, AuditFilter(dataset_id=5))
    report = audit_report.build_report(db, engine, AuditFilter(), early=early)
    assert report.total == audit.chain_head(fresh(db))[0]


def test_early_counts_configure_no_mapper(database_url: str, instance_path: Path) -> None:
    # `count_early` runs while the command's app imports the models: an ORM statement would
    # configure every mapper then and fail on a model not yet imported (as it did).
    probe = (
        "import sys\n"
        "from governance.audit import report\n"
        "from governance.audit.queries import AuditFilter\n"
        "from governance.kernel.db import is_sqlite, make_engine\n"
        "from sqlalchemy.orm import Mapper\n"
        "url = sys.argv[1]\n"
        "counts = report.count_early(make_engine(url, read_only=is_sqlite(url)), AuditFilter())\n"
        "print(counts.result().head[0] >= 0, report.AuditEvent.__mapper__.configured)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, database_url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert done.stdout.split() == ["True", "False"], done.stderr
