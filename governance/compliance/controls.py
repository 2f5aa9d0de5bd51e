"""The controls report: each control of NIST SP 800-171, the HIPAA Security Rule's technical
safeguards and the CJIS Security Policy that the service evidences, with what the service
does, the live evidence for the audit period and what remains the organisation's own job.

The catalogue is data (policies/controls.toml, read at run time); the measures are
evidence.MEASURES. Both the PDF and the CSV are sealed with the audit head (seal.py), and the
export is recorded as an `audit:report` event before the head is read.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.audit.verify import Verification
from governance.authz import Permission
from governance.compliance import evidence
from governance.compliance.documents import render
from governance.compliance.models import AuditPeriod
from governance.compliance.periods import get_period
from governance.compliance.seal import Seal, seal
from governance.identity.actors import Actor
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.reports.tabular import iter_csv

CATALOGUE = PROJECT_ROOT / "policies" / "controls.toml"
COLUMNS = ("family", "control", "title", "service_does", "evidence", "organisation_does")


@dataclass(frozen=True)
class Control:
    family: str  # the family's name
    ref: str
    title: str
    service: str
    evidence: tuple[str, ...]
    organisation: str


def load_catalogue(path: Path = CATALOGUE) -> list[Control]:
    """The controls, in the catalogue's order; an unknown family or measure is an error."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    families = {f["id"]: f["name"] for f in data.get("family", [])}
    controls = []
    for entry in data.get("control", []):
        if entry["family"] not in families:
            raise ValueError(f"{path.name}: control {entry['ref']} names no known family")
        unknown = set(entry["evidence"]) - set(evidence.MEASURES)
        if unknown:
            raise ValueError(f"{path.name}: control {entry['ref']} cites {sorted(unknown)}")
        controls.append(
            Control(
                family=families[entry["family"]],
                ref=str(entry["ref"]),
                title=entry["title"],
                service=entry["service"],
                evidence=tuple(entry["evidence"]),
                organisation=entry["organisation"],
            )
        )
    return controls


@dataclass(frozen=True)
class ControlsReport:
    period: AuditPeriod
    rows: list[dict[str, Any]]
    measures: dict[str, str]
    figures: dict[str, int]
    verification: Verification | None
    seal: Seal
    now: dt.datetime


def build(
    session: Session,
    *,
    period_id: int,
    fmt: str,
    by: Actor,
    now: dt.datetime,
    verification: Verification | None,
    settings: Mapping[str, Any],
) -> ControlsReport:
    """Check compliance:manage, record the export, compute every measure once, seal."""
    authz.require(
        by,
        Permission.COMPLIANCE_MANAGE,
        audit={
            "event_type": AuditType.AUDIT_REPORT,
            "target_type": "audit_period",
            "target_id": period_id,
        },
    )
    period = get_period(session, period_id)
    window = evidence.Window(
        since=dt.datetime.combine(period.starts_on, dt.time(), tzinfo=dt.UTC),
        until=dt.datetime.combine(period.ends_on + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC),
        now=now,
        verification=verification,
        settings=settings,
    )
    controls = load_catalogue()
    names = sorted({name for control in controls for name in control.evidence})
    measures = {name: evidence.MEASURES[name](session, window) for name in names}
    allowed, denied = evidence.reads(session, window)
    figures = {
        "Reads allowed": allowed,
        "Reads refused": denied,
        "Sign-ins failed": evidence.count_events(session, window, [AuditType.LOGIN_FAILED]),
        "Grants narrowed": evidence.count_events(session, window, [AuditType.GRANT_NARROW]),
        "Grants revoked": evidence.count_events(session, window, [AuditType.GRANT_REVOKE]),
    }
    audit.record(
        session,
        AuditType.AUDIT_REPORT,
        by=by,
        target_type="audit_period",
        target_id=period.id,
        detail={
            "report": "controls",
            "format": fmt,
            "controls": len(controls),
            "verified": None if verification is None else verification.intact,
            "unchecked_signatures": None if verification is None else verification.unchecked,
        },
        now=now,
    )
    rows = [
        {
            "family": control.family,
            "control": control.ref,
            "title": control.title,
            "service_does": control.service,
            "evidence": " ".join(measures[name] for name in control.evidence),
            "organisation_does": control.organisation,
        }
        for control in controls
    ]
    return ControlsReport(period, rows, measures, figures, verification, seal(session), now)


def iter_controls_csv(report: ControlsReport) -> Iterator[bytes]:
    period = report.period
    return iter_csv(
        ([row[c] for c in COLUMNS] for row in report.rows),
        header=COLUMNS,
        preamble=[
            *report.seal.lines(),
            f"controls report for the audit period {period.name} "
            f"({period.starts_on} to {period.ends_on}) at {report.now:%Y-%m-%d %H:%M} UTC",
        ],
        trailer=True,
    )


def render_controls_pdf(report: ControlsReport) -> bytes:
    from governance.kernel.reports import charts  # matplotlib loads only for a PDF

    period = report.period
    chart = charts.bar_chart(
        report.figures, title="Decisions and changes in the period", value_label="Events"
    )
    verification = (
        "not run"
        if report.verification is None
        else "intact"
        if report.verification.intact
        else "FAILED"
    )
    return render(
        "reports/controls_report.html",
        report.seal,
        {
            "title": "Controls report",
            "subtitle": f"Audit period {period.name}: {period.starts_on} to {period.ends_on}",
            "facts": [
                ("Generated", f"{report.now:%Y-%m-%d %H:%M} UTC"),
                ("Controls", str(len(report.rows))),
                ("Chain verification", verification),
                *(
                    [("Time-stamp witnesses", report.verification.witnesses.statement())]
                    if report.verification is not None and report.verification.intact
                    else []
                ),
                ("Last certification", report.measures.get("certification", "")),
            ],
            "rows": report.rows,
            "chart": chart,
        },
    )
