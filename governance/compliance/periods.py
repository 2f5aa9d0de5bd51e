"""Audit periods: a compliance manager opens one (the year under audit, owned by them), starts
its access certification campaign with a deadline (every grant then in force becomes an item
its dataset's stewards must decide), and closes it with the campaign's result recorded.

Open -> certifying -> closed, each step through the lifecycle table below and audited.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.models import LIVE_GRANT_STATUSES, Grant
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.compliance.certification import steward_emails
from governance.compliance.models import AuditPeriod, CertificationItem, ItemStatus, PeriodStatus
from governance.identity.actors import Actor
from governance.kernel import notify, tasks
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed
from governance.kernel.types import utcnow
from governance.lifecycle import Lifecycle, Transition


class PeriodAction(StrEnum):
    CERTIFY = "start_certification"
    CLOSE = "close"


LIFECYCLE: Lifecycle[PeriodStatus, PeriodAction] = Lifecycle(
    "audit period",
    AuditPeriod,
    PeriodStatus,
    PeriodAction,
    [
        Transition(
            PeriodStatus.OPEN,
            PeriodAction.CERTIFY,
            PeriodStatus.CERTIFYING,
            Permission.COMPLIANCE_MANAGE,
            AuditType.AUDIT_PERIOD_CERTIFY,
            "with a deadline in the future: every grant in force becomes an item for its "
            "dataset's stewards",
        ),
        Transition(
            PeriodStatus.CERTIFYING,
            PeriodAction.CLOSE,
            PeriodStatus.CLOSED,
            Permission.COMPLIANCE_MANAGE,
            AuditType.AUDIT_PERIOD_CLOSE,
            "once every item is decided or the deadline has passed (undecided items are "
            "recorded as overdue)",
        ),
    ],
    initial=[PeriodStatus.OPEN],
)


def get_period(session: Session, period_id: int) -> AuditPeriod:
    period = session.get(AuditPeriod, period_id)
    if period is None:
        raise NotFound(f"There is no audit period {period_id}.")
    return period


def _require_manager(by: Actor, event: AuditType, period_id: int | None = None) -> None:
    authz.require(
        by,
        Permission.COMPLIANCE_MANAGE,
        audit={"event_type": event, "target_type": "audit_period", "target_id": period_id},
    )


def _record(period: AuditPeriod, *, now: dt.datetime, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "target_type": "audit_period",
        "target_id": period.id,
        "detail": {"name": period.name, **detail},
        "now": now,
    }


def open_period(
    session: Session,
    *,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date,
    by: Actor,
    now: dt.datetime,
) -> AuditPeriod:
    """A compliance manager opens the period they own."""
    _require_manager(by, AuditType.AUDIT_PERIOD_OPEN)
    name = name.strip()
    if not name:
        raise ValidationFailed("Name the audit period.", {"name": "Required."})
    if ends_on < starts_on:
        raise ValidationFailed(
            "An audit period ends on or after the day it starts.", {"ends_on": "Before the start."}
        )
    if by.id is None:
        raise ValidationFailed("An audit period is owned by a person.", {})
    period = AuditPeriod(
        name=name[:200],
        starts_on=starts_on,
        ends_on=ends_on,
        owner_id=by.id,
        status=PeriodStatus.OPEN,
        created_at=now,
    )
    session.add(period)
    session.flush()
    audit.record(
        session,
        AuditType.AUDIT_PERIOD_OPEN,
        by=by,
        **_record(
            period,
            now=now,
            detail={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
        ),
    )
    return period


def start_certification(
    session: Session, *, period_id: int, certify_by: dt.datetime, by: Actor, now: dt.datetime
) -> AuditPeriod:
    """Every grant that has not ended becomes an item; its dataset's stewards are told."""
    _require_manager(by, AuditType.AUDIT_PERIOD_CERTIFY, period_id)
    period = get_period(session, period_id)
    LIFECYCLE.check(period, PeriodAction.CERTIFY)
    if certify_by <= now:
        raise ValidationFailed(
            "The certification deadline must be in the future.", {"certify_by": "In the past."}
        )
    grants = session.scalars(
        select(Grant).where(Grant.status.in_(LIVE_GRANT_STATUSES)).order_by(Grant.id)
    ).all()
    for grant in grants:
        session.add(
            CertificationItem(
                period_id=period.id,
                grant_id=grant.id,
                dataset_id=grant.dataset_id,
                agreement_id=grant.agreement_id,
                holder_id=grant.user_id,
                columns_at_start=",".join(grant.column_names),
                status=ItemStatus.PENDING,
            )
        )
    period.certify_by = certify_by
    period.certification_started_at = now
    LIFECYCLE.apply(
        session,
        period,
        PeriodAction.CERTIFY,
        by=by,
        record=_record(
            period,
            now=now,
            detail={"items": len(grants), "certify_by": certify_by.isoformat()},
        ),
    )
    session.flush()
    stewards = steward_emails(session, {grant.dataset_id for grant in grants})
    if stewards:
        notify.queue(
            session,
            to=stewards,
            subject=f"Access certification: {period.name}",
            body=(
                "Confirm, narrow or revoke each grant on your datasets by "
                f"{certify_by:%Y-%m-%d %H:%M} UTC: "
                f"{notify.link(session, '/compliance/certifications')}"
            ),
        )
    return period


@dataclass(frozen=True)
class Progress:
    total: int
    decided: int
    counts: dict[str, int]  # item status -> count
    overdue: int

    @property
    def percent(self) -> int:
        return round(100 * self.decided / self.total) if self.total else 100


def progress(period: AuditPeriod, *, now: dt.datetime) -> Progress:
    counts = Counter(str(item.status) for item in period.items)
    pending = counts.get(ItemStatus.PENDING, 0)
    return Progress(
        total=len(period.items),
        decided=len(period.items) - pending,
        counts={str(s): counts.get(s, 0) for s in ItemStatus},
        overdue=sum(1 for item in period.items if item.overdue(now)),
    )


def close_period(session: Session, *, period_id: int, by: Actor, now: dt.datetime) -> AuditPeriod:
    """Close once every item is decided or the deadline has passed; the result is kept."""
    _require_manager(by, AuditType.AUDIT_PERIOD_CLOSE, period_id)
    period = get_period(session, period_id)
    LIFECYCLE.check(period, PeriodAction.CLOSE)
    done = progress(period, now=now)
    deadline = period.certify_by
    if done.decided < done.total and deadline is not None and now <= deadline:
        raise InvalidTransition(
            f"{done.total - done.decided} grants are still to certify and the deadline "
            f"({deadline:%Y-%m-%d %H:%M} UTC) has not passed."
        )
    period.closed_at = now
    period.closed_by_id = by.id
    period.result = {**done.counts, "overdue": done.overdue, "total": done.total}
    LIFECYCLE.apply(
        session,
        period,
        PeriodAction.CLOSE,
        by=by,
        record=_record(period, now=now, detail=period.result),
    )
    return period


def list_periods(session: Session, *, by: Actor) -> list[AuditPeriod]:
    _require_manager(by, AuditType.AUDIT_PERIOD_OPEN)
    return list(session.scalars(select(AuditPeriod).order_by(AuditPeriod.starts_on.desc())))


def latest_campaign(session: Session) -> AuditPeriod | None:
    """The most recent period whose certification campaign has started."""
    return session.scalars(
        select(AuditPeriod)
        .where(AuditPeriod.certification_started_at.is_not(None))
        .order_by(AuditPeriod.certification_started_at.desc(), AuditPeriod.id.desc())
        .limit(1)
    ).first()


def view_period(session: Session, *, period_id: int, by: Actor) -> AuditPeriod:
    """A period, for a person who manages audit periods (403, recorded, otherwise)."""
    _require_manager(by, AuditType.AUDIT_PERIOD_OPEN, period_id)
    return get_period(session, period_id)


# Built once: every compliance manager's dashboard asks it.
_CAMPAIGNS_UNDER_WAY = (
    select(AuditPeriod)
    .where(AuditPeriod.status == PeriodStatus.CERTIFYING)
    .order_by(AuditPeriod.certify_by)
)


@tasks.guarded(_CAMPAIGNS_UNDER_WAY)
def manager_tasks(session: Session, user: Any) -> list[tasks.Task]:
    """The compliance manager's line for each campaign under way: its progress, the overdue
    items, and the period to close once the deadline has passed."""
    now = utcnow()
    found = []
    for period in session.scalars(_CAMPAIGNS_UNDER_WAY):
        done = progress(period, now=now)
        overdue = f", {done.overdue} overdue" if done.overdue else ""
        found.append(
            tasks.Task(
                title=f"Certification {period.name}: {done.decided} of {done.total} "
                f"decided{overdue}",
                kind="Certification campaign",
                endpoint="compliance.period",
                params={"period_id": period.id},
                due=period.certify_by.date() if period.certify_by else None,
            )
        )
    return found
