"""The analyses an amendment would put out of scope, for its impact page (committees/impact.py):
queued or running runs of the agreement whose kind is no longer a permitted use or whose
datasets it no longer covers (the scope gate would refuse them when they run)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementVersion
from governance.analysis.models import AnalysisRun, RunStatus
from governance.committees.impact import ImpactSection


def analyses_out_of_scope(
    session: Session, agreement: Agreement, version: AgreementVersion
) -> ImpactSection:
    runs = session.scalars(
        select(AnalysisRun)
        .where(
            AnalysisRun.agreement_id == agreement.id,
            AnalysisRun.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
        )
        .order_by(AnalysisRun.id)
    )
    covered = set(version.covered_dataset_ids)
    lines = []
    for run in runs:
        if run.purpose not in version.permitted_uses:
            lines.append(f"Analysis #{run.id} “{run.title}”: its kind is no longer permitted")
        elif not set(run.datasets.values()) <= covered:
            lines.append(f"Analysis #{run.id} “{run.title}”: a dataset is no longer covered")
    return ImpactSection("Queued analyses that would fall out of scope", lines)
