"""Metrics tests: the access tests' datasets and agreement, and a hand-built history of four
requests with known timestamps (see `history`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from governance.access import requests
from governance.agreements.models import Agreement
from governance.kernel.types import utcnow
from tests.access.conftest import agreement, datasets  # noqa: F401  (fixtures)
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.support import People

HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class History:
    start: dt.datetime
    # (submitted, decided) of each request, in the order they were made.
    moments: list[tuple[dt.datetime, dt.datetime]]


@pytest.fixture
def history(
    db: Session,
    people: People,
    agreement: Agreement,  # noqa: F811  (the fixture imported above)
    datasets: Datasets,  # noqa: F811
) -> History:
    """Four requests over the next day:
    1. submitted at T, approved in full by the steward at T+2h;
    2. submitted at T+1h, approved without offence_category (narrowed) at T+7h;
    3. submitted at T+2h for person_id (a direct identifier): the steward approves at T+6h,
       the privacy officer at T+16h;
    4. submitted at T+3h, denied by the steward at T+4h.
    Submission to decision: 2, 6, 14 and 1 hours; to the steward: 2, 6, 4 and 1 hours."""
    start = utcnow().replace(microsecond=0) + HOUR
    first = ask(db, people, agreement, datasets, now=start)
    second = ask(
        db,
        people,
        agreement,
        datasets,
        columns=("sex", "age_at_arrest", "offence_category"),
        now=start + HOUR,
    )
    third = ask(db, people, agreement, datasets, columns=("person_id", "sex"), now=start + 2 * HOUR)
    fourth = ask(db, people, agreement, datasets, now=start + 3 * HOUR)
    requests.deny_request(
        db, request_id=fourth.id, reason="Not needed.", by=people.steward, now=start + 4 * HOUR
    )
    requests.steward_approve(
        db,
        request_id=first.id,
        columns=["sex", "age_at_arrest"],
        comment="",
        by=people.steward,
        now=start + 2 * HOUR,
    )
    requests.steward_approve(
        db,
        request_id=third.id,
        columns=["person_id", "sex"],
        comment="",
        by=people.steward,
        now=start + 6 * HOUR,
    )
    requests.steward_approve(
        db,
        request_id=second.id,
        columns=["sex", "age_at_arrest"],
        comment="Offence category is not needed.",
        by=people.steward,
        now=start + 7 * HOUR,
    )
    requests.privacy_approve(
        db,
        request_id=third.id,
        comment="Linkage needs the identifier.",
        by=people.privacy2,
        now=start + 16 * HOUR,
    )
    db.commit()
    return History(
        start,
        [
            (start, start + 2 * HOUR),
            (start + HOUR, start + 7 * HOUR),
            (start + 2 * HOUR, start + 16 * HOUR),
            (start + 3 * HOUR, start + 4 * HOUR),
        ],
    )
