"""The demo's annual audit: the compliance manager has opened the year's audit period and
started its access certification campaign; every grant in force waits for the steward's
decision, three weeks from now."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from governance.compliance import periods
from governance.demo.people import DemoWorld
from governance.kernel.types import utcnow

CERTIFY_WITHIN = dt.timedelta(days=21)


def create_demo_audit(session: Session, world: DemoWorld, **_options: Any) -> None:
    now = utcnow()
    manager = world.people["compliance"]
    today = now.date()
    period = periods.open_period(
        session,
        name=f"Annual audit {today.year}",
        starts_on=today - dt.timedelta(days=364),
        ends_on=today,
        by=manager,
        now=now,
    )
    periods.start_certification(
        session, period_id=period.id, certify_by=now + CERTIFY_WITHIN, by=manager, now=now
    )
