"""Pictures on the dashboards, drawn on the server as SVG (readable without JavaScript).

Each role sees what it would otherwise have to count by hand: privacy officers, agreements by
status and by how soon they expire; stewards, grants and open requests by dataset; compliance
managers, audit activity over the last 30 complete days with the refusals among it, and
today's running counts in words.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, Grant, GrantStatus, RequestStatus
from governance.agreements.models import Agreement, AgreementStatus
from governance.audit.day_counts import day_counts
from governance.audit.models import Outcome
from governance.authz import Role
from governance.datasets.models import Dataset, DatasetSteward
from governance.identity.models import User
from governance.kernel.reports import charts


@dataclass(frozen=True)
class Chart:
    heading: str
    svg: Markup
    # A line under the picture, for what it does not draw (today's running count).
    caption: str = ""


def agreements_by_status(session: Session) -> Chart:
    counts = Counter(session.scalars(select(Agreement.status)))
    data = [(AgreementStatus(s).label, counts[s]) for s in AgreementStatus if counts[s]]
    return Chart(
        "Agreements by status",
        charts.bar_chart(data, title="Agreements by status", value_label="Agreements"),
    )


def agreements_by_expiry(session: Session, today: dt.date) -> Chart:
    windows = {"within 7 days": 0, "8 to 30 days": 0, "31 to 60 days": 0, "later": 0}
    active = session.scalars(select(Agreement).where(Agreement.status == AgreementStatus.ACTIVE))
    for agreement in active:
        version = agreement.current_version
        if version is None:
            continue
        days = (version.expiry_date - today).days
        key = (
            "within 7 days"
            if days <= 7
            else "8 to 30 days"
            if days <= 30
            else "31 to 60 days"
            if days <= 60
            else "later"
        )
        windows[key] += 1
    return Chart(
        "Active agreements by time to expiry",
        charts.bar_chart(
            list(windows.items()),
            title="Active agreements by time to expiry",
            value_label="Agreements",
            horizontal=False,
        ),
    )


def access_by_dataset(session: Session, user: User) -> Chart:
    datasets = select(DatasetSteward.dataset_id).where(DatasetSteward.user_id == user.id)
    names = dict(
        session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(datasets))).all()
    )
    grants = Counter(
        session.scalars(
            select(Grant.dataset_id).where(
                Grant.status == GrantStatus.ACTIVE, Grant.dataset_id.in_(datasets)
            )
        )
    )
    waiting = Counter(
        session.scalars(
            select(AccessRequest.dataset_id).where(
                AccessRequest.status.in_(
                    [RequestStatus.SUBMITTED, RequestStatus.AWAITING_PRIVACY_OFFICER]
                ),
                AccessRequest.dataset_id.in_(datasets),
            )
        )
    )
    data = {
        name: {"Active grants": float(grants[i]), "Requests waiting": float(waiting[i])}
        for i, name in sorted(names.items(), key=lambda item: item[1])
    }
    return Chart(
        "Grants and waiting requests by dataset",
        charts.grouped_bar_chart(
            data, title="Grants and waiting requests by dataset", value_label="Count"
        ),
    )


def audit_activity(session: Session, today: dt.date) -> list[Chart]:
    """The 30 complete days before today, and today's running count in words. A day still
    under way would show as a drop at the end of the line; and since every page view is
    itself an audit event, a chart that included today would change (and be drawn again, about
    150 ms of matplotlib) at each view, where complete days are drawn once a day per worker."""
    # Every day of the window is listed, so quiet days show as zero and the axis spans 30 days.
    days = [today - dt.timedelta(days=n) for n in range(30, 0, -1)]
    counted = day_counts(session, since=days[0])
    every = {day: counted.on(day) for day in days}
    denied = {day: counted.on(day, Outcome.DENIED) for day in days}
    so_far, refused_so_far = counted.on(today), counted.on(today, Outcome.DENIED)
    return [
        Chart(
            "Audit events per day, last 30 days",
            charts.time_series(every, title="Audit events per day, last 30 days"),
            f"Today so far: {so_far:,} events.",
        ),
        Chart(
            "Refused attempts per day, last 30 days",
            charts.time_series(
                denied,
                title="Refused attempts per day, last 30 days",
                value_label="Refusals per day",
            ),
            f"Today so far: {refused_so_far:,} refused.",
        ),
    ]


def charts_for(session: Session, *, user: User, role: Role, today: dt.date) -> list[Chart]:
    if role == Role.PRIVACY_OFFICER:
        return [agreements_by_status(session), agreements_by_expiry(session, today)]
    if role == Role.DATA_STEWARD:
        return [access_by_dataset(session, user)]
    if role == Role.COMPLIANCE_MANAGER:
        return audit_activity(session, today)
    return []
