"""The certification campaign's result as a record to file: every item with the grant it
covered, the steward's decision and what was removed, undecided items flagged overdue once
the deadline has passed. CSV and PDF, sealed with the audit head; the export is recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.compliance.documents import render
from governance.compliance.models import AuditPeriod, CertificationItem
from governance.compliance.periods import Progress, get_period, progress
from governance.compliance.seal import Seal, seal
from governance.datasets.models import Dataset
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.reports.tabular import iter_csv

COLUMNS = (
    "item",
    "grant",
    "holder",
    "holder_email",
    "agreement",
    "dataset",
    "columns_at_start",
    "decision",
    "overdue",
    "decided_by",
    "decided_at",
    "removed_columns",
    "comment",
)


@dataclass(frozen=True)
class CertificationRecord:
    period: AuditPeriod
    rows: list[dict[str, Any]]
    progress: Progress
    seal: Seal
    now: dt.datetime


def item_rows(session: Session, period: AuditPeriod, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Every item of the period with the names it refers to (the page shows the same)."""
    deciders = {
        user.id: user.email
        for user in session.scalars(
            select(User).where(
                User.id.in_({item.decided_by_id for item in period.items if item.decided_by_id})
                | (User.id == -1)
            )
        )
    }
    found = session.execute(
        select(CertificationItem, User, Agreement.reference, Dataset.name)
        .join(User, User.id == CertificationItem.holder_id)
        .join(Agreement, Agreement.id == CertificationItem.agreement_id)
        .join(Dataset, Dataset.id == CertificationItem.dataset_id)
        .where(CertificationItem.period_id == period.id)
        .order_by(CertificationItem.id)
    )
    return [
        {
            "item": item.id,
            "grant": item.grant_id,
            "holder": holder.name,
            "holder_email": holder.email,
            "agreement": reference,
            "dataset": dataset,
            "columns_at_start": item.columns_at_start.replace(",", ", "),
            "decision": str(item.status),
            "overdue": "overdue" if item.overdue(now) else "",
            "decided_by": deciders.get(item.decided_by_id or -1, ""),
            "decided_at": f"{item.decided_at:%Y-%m-%d %H:%M}" if item.decided_at else "",
            "removed_columns": item.removed_columns.replace(",", ", "),
            "comment": item.comment,
        }
        for item, holder, reference, dataset in found
    ]


def build(
    session: Session, *, period_id: int, fmt: str, by: Actor, now: dt.datetime
) -> CertificationRecord:
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
    rows = item_rows(session, period, now=now)
    done = progress(period, now=now)
    audit.record(
        session,
        AuditType.AUDIT_REPORT,
        by=by,
        target_type="audit_period",
        target_id=period.id,
        detail={"report": "certification", "format": fmt, **done.counts, "overdue": done.overdue},
        now=now,
    )
    return CertificationRecord(period, rows, done, seal(session), now)


def iter_certification_csv(record: CertificationRecord) -> Iterator[bytes]:
    return iter_csv(
        ([row[c] for c in COLUMNS] for row in record.rows),
        header=COLUMNS,
        preamble=[
            *record.seal.lines(),
            f"access certification for the audit period {record.period.name} at "
            f"{record.now:%Y-%m-%d %H:%M} UTC",
        ],
        trailer=True,
    )


def render_certification_pdf(record: CertificationRecord) -> bytes:
    from governance.kernel.reports import charts  # matplotlib loads only for a PDF

    period, done = record.period, record.progress
    chart = charts.bar_chart(
        [(k, v) for k, v in done.counts.items()] + [("overdue", done.overdue)],
        title="Certification decisions",
        value_label="Grants",
    )
    deadline = f"{period.certify_by:%Y-%m-%d %H:%M} UTC" if period.certify_by else "not started"
    return render(
        "reports/certification.html",
        record.seal,
        {
            "title": "Access certification",
            "subtitle": f"Audit period {period.name}: {period.starts_on} to {period.ends_on}",
            "facts": [
                ("Generated", f"{record.now:%Y-%m-%d %H:%M} UTC"),
                ("Deadline", deadline),
                ("Grants to certify", str(done.total)),
                ("Decided", f"{done.decided} ({done.percent}%)"),
                ("Overdue", str(done.overdue)),
            ],
            "rows": record.rows,
            "chart": chart,
        },
    )
