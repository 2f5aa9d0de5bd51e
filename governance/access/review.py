"""The periodic access review: which granted columns were actually used, and re-certification.

For each grant the audit trail tells which columns its holder read in the last 90 days and
which were never used; the steward confirms the grant or narrows it to what is needed. A
privacy officer sees the grants nobody has reviewed in the last 90 days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.grants import narrow_grant
from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantReview
from governance.access.visibility import visible_grant
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.authz import Permission
from governance.datasets.models import Dataset
from governance.identity.actors import Actor
from governance.kernel.errors import InvalidTransition, PermissionDenied, ValidationFailed

REVIEW_PERIOD = dt.timedelta(days=90)


@dataclass(frozen=True)
class Usage:
    grant: Grant
    used: list[str]
    unused: list[str]
    last_read_at: dt.datetime | None


def grant_usage(session: Session, grant: Grant, *, now: dt.datetime) -> Usage:
    """Columns of the grant that its holder read in the last 90 days, from the audit trail."""
    events = session.execute(
        select(AuditEvent.detail, AuditEvent.occurred_at).where(
            AuditEvent.actor_id == grant.user_id,
            AuditEvent.agreement_id == grant.agreement_id,
            AuditEvent.dataset_id == grant.dataset_id,
            AuditEvent.event_type.in_([AuditType.DATASET_READ, AuditType.DATASET_DOWNLOAD]),
            AuditEvent.outcome == Outcome.ALLOWED,
            AuditEvent.occurred_at >= now - REVIEW_PERIOD,
        )
    )
    granted = set(grant.column_names)
    used: set[str] = set()
    last: dt.datetime | None = None
    for detail, occurred_at in events:
        used |= granted & set(detail.get("columns", []))
        last = occurred_at if last is None else max(last, occurred_at)
    return Usage(grant=grant, used=sorted(used), unused=sorted(granted - used), last_read_at=last)


def check_review(session: Session, grant_id: int, by: Actor) -> Grant:
    """404 (as for no such grant) if `by` may not see it, 403 unless they steward its
    dataset and do not hold it, 409 if it has ended; changes nothing (the API asks it before
    reading the body)."""
    grant = visible_grant(session, grant_id, by, event=AuditType.GRANT_REVIEW)
    refusal: dict[str, Any] = {
        "event_type": AuditType.GRANT_REVIEW,
        "target_type": "grant",
        "target_id": grant.id,
        "agreement_id": grant.agreement_id,
        "dataset_id": grant.dataset_id,
    }
    authz.require(by, Permission.GRANT_REVIEW, audit=refusal)
    dataset = session.get(Dataset, grant.dataset_id)
    if dataset is None or by.id not in dataset.steward_ids:
        raise PermissionDenied("Only a steward of this dataset reviews its grants.", audit=refusal)
    if by.id == grant.user_id:
        raise PermissionDenied("Nobody reviews their own grant.", audit=refusal)
    if grant.status not in LIVE_GRANT_STATUSES:
        raise InvalidTransition(
            f"This grant is {grant.status}; only grants that have not "
            "ended (active or paused) are reviewed."
        )
    return grant


def review_grant(
    session: Session, *, grant_id: int, keep: list[str], comment: str, by: Actor, now: dt.datetime
) -> GrantReview:
    """Confirm a grant as it is, or narrow it to the columns still needed."""
    grant = check_review(session, grant_id, by)
    unknown = set(keep) - set(grant.column_names)
    if unknown:
        raise ValidationFailed(
            "You can keep only columns the grant already has.", {"keep": ", ".join(sorted(unknown))}
        )
    usage = grant_usage(session, grant, now=now)
    removed = narrow_grant(
        session,
        grant,
        keep=keep,
        reason=comment.strip() or "access review",
        by=by,
        now=now,
        clause="access.columns",
    )
    grant.last_reviewed_at = now
    review = GrantReview(
        grant_id=grant.id,
        reviewer_id=by.id,
        reviewed_at=now,
        decision="narrowed" if removed else "confirmed",
        kept_columns=",".join(sorted(set(keep))),
        removed_columns=",".join(removed),
        unused_columns=",".join(usage.unused),
        comment=comment.strip()[:4000],
    )
    session.add(review)
    audit.record(
        session,
        AuditType.GRANT_REVIEW,
        by=by,
        now=now,
        target_type="grant",
        target_id=grant.id,
        agreement_id=grant.agreement_id,
        dataset_id=grant.dataset_id,
        agreement_version=grant.agreement_version,
        detail={
            "decision": review.decision,
            "kept": sorted(set(keep)),
            "removed": removed,
            "unused_in_90_days": usage.unused,
        },
    )
    return review


def due_for_review(now: dt.datetime) -> ColumnElement[bool]:
    """Not ended (active or paused) and not reviewed (nor created) in 90 days: a condition, so
    that the grants page narrows its own query rather than fetching the grants first."""
    cutoff = now - REVIEW_PERIOD
    return and_(
        Grant.status.in_(LIVE_GRANT_STATUSES),
        or_(
            Grant.last_reviewed_at < cutoff,
            Grant.last_reviewed_at.is_(None) & (Grant.created_at < cutoff),
        ),
    )


def grants_due_for_review(session: Session, *, now: dt.datetime) -> list[Grant]:
    """Grants not ended (active or paused) and not reviewed (nor created) in 90 days."""
    return list(
        session.scalars(select(Grant).where(due_for_review(now)).order_by(Grant.created_at))
    )
