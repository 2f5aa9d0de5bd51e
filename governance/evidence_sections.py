"""Evidence-pack sections from the workflow tables (see evidence.py).

The audit trail's own sections are rebuilt from events; these read the records themselves:
every version of the agreement with who approved it and when, every grant made under it with
its columns, purpose, validity, end and last review, every analysis run with the dataset
versions it read, and every output with its checks, preview and publication dates.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant
from governance.agreements.models import AgreementVersion
from governance.analysis.models import AnalysisRun
from governance.audit.evidence import ROW_LIMIT, EvidenceSection
from governance.identity.models import User
from governance.outputs.models import Output


def _day(moment: object) -> str:
    return moment.strftime("%Y-%m-%d") if moment is not None else ""  # type: ignore[attr-defined]


def versions_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    versions = session.scalars(
        select(AgreementVersion)
        .where(AgreementVersion.agreement_id == agreement_id)
        .order_by(AgreementVersion.number)
    ).all()
    rows = [
        (
            v.number,
            v.status,
            v.title,
            f"{v.effective_date} to {v.expiry_date}",
            _day(v.submitted_at),
            v.approved_by_label or "",
            _day(v.approved_at),
            v.change_summary,
        )
        for v in versions
    ]
    return [
        EvidenceSection(
            title="Versions and approvals",
            columns=(
                "Version",
                "Status",
                "Title",
                "Term",
                "Submitted",
                "Approved by",
                "Approved",
                "Change",
            ),
            rows=rows,
            summary=f"{len(rows)} versions; the approver never drafted the version.",
        )
    ]


def grants_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    grants = session.scalars(
        select(Grant).where(Grant.agreement_id == agreement_id).order_by(Grant.id)
    ).all()
    emails = dict(
        session.execute(
            select(User.id, User.email).where(User.id.in_({g.user_id for g in grants} or {-1}))
        ).all()
    )
    rows = [
        (
            f"#{g.id}",
            emails.get(g.user_id, g.user_id),
            g.dataset_id,
            ", ".join(g.column_names),
            g.purpose,
            _day(g.valid_from),
            _day(g.valid_until),
            g.status,
            g.end_reason,
            _day(g.last_reviewed_at),
        )
        for g in grants
    ]
    active = sum(1 for g in grants if g.status == "active")
    return [
        EvidenceSection(
            title="Grants (minimum necessary)",
            columns=(
                "Grant",
                "Holder",
                "Dataset",
                "Columns",
                "Purpose",
                "From",
                "Until",
                "Status",
                "Ended because",
                "Last review",
            ),
            rows=rows[:ROW_LIMIT],
            total=len(rows) if len(rows) > ROW_LIMIT else None,
            summary=f"{len(rows)} grants under the agreement, {active} active.",
        )
    ]


def analyses_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    runs = session.scalars(
        select(AnalysisRun).where(AnalysisRun.agreement_id == agreement_id).order_by(AnalysisRun.id)
    ).all()
    rows = []
    for run in runs:
        sources = (run.provenance or {}).get("sources") or {}
        versions = [
            f"{item.get('dataset', role)} v{item['version']} {str(item.get('sha256', ''))[:12]}"
            for role, item in sources.items()
            if isinstance(item, dict) and "version" in item
        ]
        rows.append(
            (
                f"#{run.id}",
                run.kind,
                run.title,
                run.status,
                _day(run.finished_at),
                "; ".join(versions),
                (run.report_sha256 or "")[:16],
                run.reason,
            )
        )
    return [
        EvidenceSection(
            title="Analyses run under the agreement",
            columns=(
                "Run",
                "Kind",
                "Title",
                "Status",
                "Finished",
                "Dataset versions read",
                "Report SHA-256",
                "Refusal or failure",
            ),
            rows=rows[:ROW_LIMIT],
            total=len(rows) if len(rows) > ROW_LIMIT else None,
            summary=f"{len(rows)} runs; each read only granted columns through the data door.",
        )
    ]


def outputs_section(session: Session, agreement_id: int) -> list[EvidenceSection]:
    found = session.scalars(
        select(Output).where(Output.agreement_id == agreement_id).order_by(Output.id)
    ).all()
    rows = [
        (
            f"#{o.id}",
            f"run #{o.run_id}",
            o.title,
            o.status,
            o.revision,
            _day(o.produced_at),
            _day(o.preview_opened_at),
            _day(o.cleared_at),
            _day(o.published_at),
            o.pdf_sha256[:16],
        )
        for o in found
    ]
    return [
        EvidenceSection(
            title="Outputs: checks, partner preview and publication",
            columns=(
                "Output",
                "From",
                "Title",
                "Status",
                "Revision",
                "Produced",
                "Preview opened",
                "Cleared",
                "Published",
                "PDF SHA-256",
            ),
            rows=rows[:ROW_LIMIT],
            total=len(rows) if len(rows) > ROW_LIMIT else None,
            summary=f"{len(rows)} outputs; only aggregate, disclosure-controlled figures.",
        )
    ]
