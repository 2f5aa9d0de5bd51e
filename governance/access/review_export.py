"""The access review as a record a compliance manager can file: CSV and PDF.

Lists every grant review in a period (who reviewed which grant, what was kept, removed and
unused in the 90 days before), plus the grants that are overdue for review, with the audit
chain head at the time of export. The export itself is recorded in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import FileSystemLoader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.models import Grant, GrantReview
from governance.access.review import grants_due_for_review
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.models import DatasetSteward
from governance.identity.models import User
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.errors import PermissionDenied
from governance.kernel.reports import pdf
from governance.kernel.reports.tabular import chain_head_line, iter_csv

HEADER = ["review_id", "reviewed_at", "grant_id", "holder", "agreement_id", "dataset_id",
          "purpose", "decision", "kept_columns", "removed_columns", "unused_in_90_days",
          "reviewer", "comment"]


@dataclass(frozen=True)
class ReviewRecord:
    rows: list[dict[str, Any]]
    overdue: list[Grant]
    head: tuple[int, str]
    since: dt.datetime
    until: dt.datetime


def _scope(session: Session, by: User) -> set[int] | None:
    """Dataset ids whose reviews this person may export; None means all."""
    if authz.can(by, Permission.GRANT_OVERSEE):
        return None
    if authz.can(by, Permission.GRANT_REVIEW):
        return set(session.scalars(select(DatasetSteward.dataset_id)
                                   .where(DatasetSteward.user_id == by.id)))
    raise PermissionDenied("Exporting the access review needs grant:review or grant:oversee.",
                           audit={"event_type": AuditType.GRANT_REVIEW_EXPORT})


def build(session: Session, *, since: dt.datetime, until: dt.datetime, fmt: str, by: User,
          now: dt.datetime) -> ReviewRecord:
    datasets = _scope(session, by)
    query = (select(GrantReview, Grant, User)
             .join(Grant, Grant.id == GrantReview.grant_id)
             .join(User, User.id == GrantReview.reviewer_id)
             .where(GrantReview.reviewed_at >= since, GrantReview.reviewed_at < until)
             .order_by(GrantReview.reviewed_at))
    if datasets is not None:
        query = query.where(Grant.dataset_id.in_(datasets or {-1}))
    holders = {u.id: u.email for u in session.scalars(select(User))}
    rows = [{"review_id": review.id, "reviewed_at": review.reviewed_at.isoformat(),
             "grant_id": grant.id, "holder": holders.get(grant.user_id, grant.user_id),
             "agreement_id": grant.agreement_id, "dataset_id": grant.dataset_id,
             "purpose": grant.purpose, "decision": review.decision,
             "kept_columns": review.kept_columns, "removed_columns": review.removed_columns,
             "unused_in_90_days": review.unused_columns, "reviewer": reviewer.email,
             "comment": review.comment}
            for review, grant, reviewer in session.execute(query)]
    overdue = [g for g in grants_due_for_review(session, now=now)
               if datasets is None or g.dataset_id in datasets]
    audit.record(session, AuditType.GRANT_REVIEW_EXPORT, by=by, now=now,
                 detail={"format": fmt, "since": since.isoformat(), "until": until.isoformat(),
                         "reviews": len(rows), "overdue": len(overdue)})
    return ReviewRecord(rows=rows, overdue=overdue, head=audit.chain_head(session),
                        since=since, until=until)


def iter_review_csv(record: ReviewRecord) -> Iterator[bytes]:
    return iter_csv(([row[h] for h in HEADER] for row in record.rows), header=HEADER,
                    preamble=[chain_head_line(*record.head),
                              f"access reviews from {record.since.date()} to "
                              f"{record.until.date()} (exclusive)"],
                    trailer=True)


def render_review_pdf(record: ReviewRecord) -> bytes:
    env = pdf.report_environment(FileSystemLoader(str(PROJECT_ROOT / "templates")))
    rendered = pdf.render_pdf(env, "reports/access_review.html", {
        "title": "Access review",
        "subtitle": f"{record.since.date()} to {record.until.date()}",
        "facts": [("Reviews", str(len(record.rows))),
                  ("Grants overdue for review", str(len(record.overdue)))],
        "audit_chain_head": chain_head_line(*record.head),
        "footer_note": "Access review (minimum necessary)",
        "rows": record.rows, "overdue": record.overdue,
    }, stylesheet=pdf.load_stylesheet(env), strict=True)
    return rendered.content
