"""Annual audit tests: the access tests' datasets, agreement and the analyst's stored grant
(sex and age_at_arrest of the arrests), and an audit period owned by the compliance manager."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from governance.compliance import periods
from governance.compliance.models import AuditPeriod
from governance.kernel.types import utcnow
from tests.access.conftest import agreement, datasets  # noqa: F401  (fixtures)
from tests.access.test_data_door import stored  # noqa: F401  (fixture)
from tests.support import People


def open_this_year(db: Session, people: People) -> AuditPeriod:
    """The compliance manager's audit period of the last 365 days; the caller commits."""
    today = utcnow().date()
    return periods.open_period(
        db,
        name=f"FY{today.year}",
        starts_on=today - dt.timedelta(days=364),
        ends_on=today,
        by=people.compliance,
        now=utcnow(),
    )


@pytest.fixture
def period(db: Session, people: People) -> AuditPeriod:
    made = open_this_year(db, people)
    db.commit()
    return made
