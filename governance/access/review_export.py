"""The access review as a record a compliance manager can file: CSV and PDF.

Lists every grant that has not ended (active or paused) within the exporter's scope: holder,
agreement, dataset, columns, purpose, dates, which columns were used and unused in the last
90 days (from the audit trail), the last review and when the next is due. The PDF adds the
reviews made in the period. Both carry the audit chain head at the time of export, and the
export itself is recorded in the audit trail.
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
from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantReview
from governance.access.review import REVIEW_PERIOD, grant_usage
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.models import Agreement
from governance.agreements.obligations import attestation_summary, latest_attestations
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.models import Dataset, DatasetSteward
from governance.identity.models import User
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.errors import PermissionDenied
from governance.kernel.reports import pdf
from governance.kernel.reports.tabular import chain_head_line, iter_csv

HEADER = [
    "grant_id",
    "holder",
    "holder_email",
    "agreement",
    "dataset",
    "columns",
    "purpose",
    "status",
    "valid_from",
    "last_day",
    "used_in_90_days",
    "unused_in_90_days",
    "last_read",
    "last_review",
    "last_decision",
    "last_reviewer",
    "last_comment",
    "review_due",
    "attested_on",
    "still_needed",
    "kept_terms",
    "copies_outside",
]


@dataclass(frozen=True)
class ReviewRecord:
    grants: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    overdue: int
    head: tuple[int, str]
    since: dt.datetime
    until: dt.datetime
    now: dt.datetime


def _scope(session: Session, by: User) -> set[int] | None:
    """Dataset ids whose reviews this person may export; None means all."""
    if authz.can(by, Permission.GRANT_OVERSEE):
        return None
    if authz.can(by, Permission.GRANT_REVIEW):
        return set(
            session.scalars(
                select(DatasetSteward.dataset_id).where(DatasetSteward.user_id == by.id)
            )
        )
    raise PermissionDenied(
        "Exporting the access review needs grant:review or grant:oversee.",
        audit={"event_type": AuditType.GRANT_REVIEW_EXPORT},
    )


def _day(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else ""


def _grant_rows(
    session: Session, datasets: set[int] | None, *, now: dt.datetime
) -> list[dict[str, Any]]:
    query = (
        select(Grant, User, Agreement.reference, Dataset.name)
        .join(User, User.id == Grant.user_id)
        .join(Agreement, Agreement.id == Grant.agreement_id)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .where(Grant.status.in_(LIVE_GRANT_STATUSES))
        .order_by(Agreement.reference, Dataset.name, User.name, Grant.id)
    )
    if datasets is not None:
        query = query.where(Grant.dataset_id.in_(datasets or {-1}))
    found = session.execute(query).all()
    last: dict[int, tuple[GrantReview | None, str]] = {}
    reviews = session.execute(
        select(GrantReview, User.email)
        .join(User, User.id == GrantReview.reviewer_id)
        .where(GrantReview.grant_id.in_([grant.id for grant, *_ in found] or [-1]))
        .order_by(GrantReview.reviewed_at, GrantReview.id)
    )
    for made, reviewer in reviews:
        last[made.grant_id] = (made, reviewer)
    # Each holder's latest attestation under the grant's agreement, read once per agreement.
    attested = {
        agreement_id: latest_attestations(session, agreement_id)
        for agreement_id in {grant.agreement_id for grant, *_ in found}
    }
    rows = []
    for grant, holder, reference, dataset in found:
        usage = grant_usage(session, grant, now=now)
        review, reviewer = last.get(grant.id) or (None, "")
        due = (grant.last_reviewed_at or grant.created_at) + REVIEW_PERIOD
        rows.append(
            {
                "grant_id": grant.id,
                "holder": holder.name,
                "holder_email": holder.email,
                "agreement": reference,
                "dataset": dataset,
                "columns": ", ".join(grant.column_names),
                "purpose": grant.purpose,
                "purpose_label": AnalysisKind.label_of(grant.purpose),
                "status": str(grant.status),
                "valid_from": _day(grant.valid_from),
                "last_day": grant.last_day.isoformat(),
                "used_in_90_days": ", ".join(usage.used),
                "unused_in_90_days": ", ".join(usage.unused),
                "last_read": _day(usage.last_read_at),
                "last_review": _day(grant.last_reviewed_at) or "never",
                "last_decision": review.decision if review else "",
                "last_reviewer": reviewer,
                "last_comment": review.comment if review else "",
                "review_due": "overdue" if due < now else _day(due),
                **attestation_summary(attested[grant.agreement_id].get(grant.user_id)),
            }
        )
    return rows


def build(
    session: Session,
    *,
    since: dt.datetime,
    until: dt.datetime,
    fmt: str,
    by: User,
    now: dt.datetime,
) -> ReviewRecord:
    datasets = _scope(session, by)
    grants = _grant_rows(session, datasets, now=now)
    query = (
        select(GrantReview, Grant, User)
        .join(Grant, Grant.id == GrantReview.grant_id)
        .join(User, User.id == GrantReview.reviewer_id)
        .where(GrantReview.reviewed_at >= since, GrantReview.reviewed_at < until)
        .order_by(GrantReview.reviewed_at)
    )
    if datasets is not None:
        query = query.where(Grant.dataset_id.in_(datasets or {-1}))
    reviews = [
        {
            "reviewed_at": _day(review.reviewed_at),
            "grant_id": grant.id,
            "decision": review.decision,
            "kept_columns": review.kept_columns,
            "removed_columns": review.removed_columns,
            "unused_in_90_days": review.unused_columns,
            "reviewer": reviewer.email,
            "comment": review.comment,
        }
        for review, grant, reviewer in session.execute(query)
    ]
    overdue = sum(1 for row in grants if row["review_due"] == "overdue")
    audit.record(
        session,
        AuditType.GRANT_REVIEW_EXPORT,
        by=by,
        now=now,
        detail={
            "format": fmt,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "grants": len(grants),
            "reviews": len(reviews),
            "overdue": overdue,
        },
    )
    return ReviewRecord(
        grants=grants,
        reviews=reviews,
        overdue=overdue,
        head=audit.chain_head(session),
        since=since,
        until=until,
        now=now,
    )


def iter_review_csv(record: ReviewRecord) -> Iterator[bytes]:
    return iter_csv(
        ([row[h] for h in HEADER] for row in record.grants),
        header=HEADER,
        preamble=[
            chain_head_line(*record.head),
            f"access review on {record.now:%Y-%m-%d}: every grant that has "
            "not ended, with its columns used in the last 90 days",
        ],
        trailer=True,
    )


def render_review_pdf(record: ReviewRecord) -> bytes:
    env = pdf.report_environment(FileSystemLoader(str(PROJECT_ROOT / "templates")))
    rendered = pdf.render_pdf(
        env,
        "reports/access_review.html",
        {
            "title": "Access review",
            "subtitle": f"Grants in force on {record.now:%Y-%m-%d}; reviews from "
            f"{record.since:%Y-%m-%d} to {record.until:%Y-%m-%d} (exclusive)",
            "facts": [
                ("Grants in force", str(len(record.grants))),
                (
                    "Never reviewed",
                    str(sum(1 for g in record.grants if g["last_review"] == "never")),
                ),
                ("Overdue", f"{record.overdue} not reviewed for 90 days"),
                ("Reviews in period", str(len(record.reviews))),
            ],
            "audit_chain_head": chain_head_line(*record.head),
            "footer_note": "Access review (minimum necessary)",
            "grants": record.grants,
            "reviews": record.reviews,
        },
        stylesheet=pdf.load_stylesheet(env),
        strict=True,
    )
    return rendered.content
