"""The figures against a hand-built history: counts per month, medians and 90th percentiles
exact, filters, overdue tasks, expiring agreements, unreviewed grants; on both databases."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant
from governance.access.queries import REVIEW
from governance.agreements.models import Agreement
from governance.kernel.config import DEFAULT_SERVICE_LEVELS
from governance.kernel.errors import PermissionDenied, ValidationFailed
from governance.metrics import figures
from governance.metrics.figures import Filters, percentile
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.metrics.conftest import History
from tests.support import People


def month(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m")


def test_counts_per_month_match_the_history(db: Session, people: People, history: History) -> None:
    found = figures.read_figures(fresh(db), filters=Filters(), by=people.privacy, now=history.start)
    received = Counter(month(s) for s, _ in history.moments)
    decided = Counter(month(d) for _, d in history.moments)
    by_month = {m.month: m for m in found.months}
    assert {k: v.received for k, v in by_month.items() if v.received} == dict(received)
    assert {k: v.decided for k, v in by_month.items() if v.decided} == dict(decided)
    assert sum(m.approved for m in found.months) == 3
    assert sum(m.narrowed for m in found.months) == 1
    assert sum(m.rejected for m in found.months) == 1


def test_medians_and_90th_percentiles_are_exact(
    db: Session, people: People, history: History
) -> None:
    found = figures.read_figures(fresh(db), filters=Filters(), by=people.privacy, now=history.start)
    steps = {s.key: s for s in found.steps}
    # Submission to decision: 1, 2, 6, 14 hours. Median (2+6)/2; p90 at rank 2.7: 6 + 0.7 * 8.
    assert steps["submission_to_decision"].count == 4
    assert steps["submission_to_decision"].median_hours == pytest.approx(4.0, abs=1e-9)
    assert steps["submission_to_decision"].p90_hours == pytest.approx(11.6, abs=1e-9)
    # To the steward: 1, 2, 4, 6 hours.
    assert steps["submission_to_steward"].median_hours == pytest.approx(3.0, abs=1e-9)
    assert steps["submission_to_steward"].p90_hours == pytest.approx(5.4, abs=1e-9)
    # Only the third request needed a second approval: 10 hours after the steward's.
    assert steps["steward_to_second_approval"].count == 1
    assert steps["steward_to_second_approval"].median_hours == pytest.approx(10.0, abs=1e-9)
    assert steps["steward_to_second_approval"].p90_hours == pytest.approx(10.0, abs=1e-9)
    # The grant is made in the same transaction as the last approval.
    assert steps["approval_to_grant"].count == 3
    assert steps["approval_to_grant"].p90_hours == pytest.approx(0.0, abs=1e-9)


def test_filters_limit_the_requests_counted(
    db: Session, people: People, history: History, datasets: Datasets
) -> None:
    other = Filters(dataset_id=datasets.probation.id)
    found = figures.read_figures(fresh(db), filters=other, by=people.privacy, now=history.start)
    assert found.months == []
    assert all(s.count == 0 and s.median_hours is None for s in found.steps)
    before = Filters(end=history.start.date() - dt.timedelta(days=1))
    assert (
        figures.read_figures(db, filters=before, by=people.privacy, now=history.start).months == []
    )
    theirs = Filters(organization_id=people.analyst.organization_id)
    kept = figures.read_figures(db, filters=theirs, by=people.privacy, now=history.start)
    assert sum(m.received for m in kept.months) == 4


def test_a_backwards_period_is_refused(db: Session, people: People) -> None:
    with pytest.raises(ValidationFailed):
        figures.read_figures(
            db,
            filters=figures.parse_filters({"start": "2026-05-02", "end": "2026-05-01"}),
            by=people.privacy,
            now=dt.datetime.now(dt.UTC),
        )
    with pytest.raises(ValidationFailed):
        figures.parse_filters({"start": "yesterday"})
    with pytest.raises(ValidationFailed):
        figures.parse_filters({"dataset_id": "1 OR 1=1"})


def test_an_analyst_is_refused(db: Session, people: People) -> None:
    with pytest.raises(PermissionDenied):
        figures.read_figures(db, filters=Filters(), by=people.analyst, now=dt.datetime.now(dt.UTC))


def test_overdue_tasks_expiring_agreements_and_unreviewed_grants(
    db: Session, people: People, history: History, agreement: Agreement, datasets: Datasets
) -> None:
    waiting = ask(db, people, agreement, datasets, now=history.start)
    # 120 days on: the waiting request was due for review 5 days after it came in (the
    # steward's dashboard task), and nobody has reviewed the grants in 90 days.
    later = history.start + dt.timedelta(days=120)
    found = figures.read_figures(fresh(db), filters=Filters(), by=people.privacy, now=later)
    grants = set(db.scalars(select(Grant.id)))
    assert len(grants) == 3
    assert {g.grant_id for g in found.unreviewed} == grants
    owners = {o.owner_id: o for o in found.overdue}
    assert owners[people.steward.id].overdue == 1
    assert owners[people.steward.id].oldest_due == waiting.submitted_at.date() + dt.timedelta(
        days=DEFAULT_SERVICE_LEVELS[REVIEW]  # the service level of a review
    )
    assert people.analyst.id not in owners
    for expiring in found.expiring:
        assert 0 <= expiring.days_left <= figures.EXPIRY_HORIZON_DAYS


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 100_000), min_size=1, max_size=20))
def test_percentiles_lie_between_the_extremes_and_the_median_is_the_middle(
    values: list[int],
) -> None:
    median, p90 = percentile(values, 0.5), percentile(values, 0.9)
    assert median is not None
    assert p90 is not None
    assert min(values) <= median <= p90 <= max(values)
    ordered = sorted(values)
    if len(values) % 2:
        assert median == ordered[len(values) // 2]
