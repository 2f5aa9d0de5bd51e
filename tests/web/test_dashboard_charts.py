"""The compliance manager's dashboard draws the 30 complete days before today and says today's
running counts in words; a chart drawn once is served again while its data is unchanged and
drawn anew as soon as a count changes."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.dashboard import web as dashboard_web
from governance.identity.actors import System
from governance.kernel.reports import charts
from governance.kernel.types import utcnow
from tests.conftest import Browser
from tests.support import PASSWORD, People


def _refusal(db: Session, when: dt.datetime) -> None:
    audit.record(db, AuditType.DATASET_READ, by=System("test"), outcome=Outcome.DENIED, now=when)


def test_the_dashboard_counts_today_in_words_and_draws_complete_days(
    browser: Browser, people: People, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utcnow()
    # The page's today is the refusals' today, even if the run crosses midnight UTC.
    monkeypatch.setattr(dashboard_web, "utcnow", lambda: now)
    yesterday = now - dt.timedelta(days=1)
    for _ in range(3):
        _refusal(db, yesterday)
    _refusal(db, now)
    db.commit()
    browser.login(people.compliance.email, PASSWORD)
    page = browser.get("/dashboard/compliance_manager").get_data(as_text=True)
    refused = re.search(r"Today so far: ([\d,]+) refused\.", page)
    assert refused is not None
    assert int(refused.group(1)) >= 1
    # The refusals chart's description counts the complete days only: yesterday's three.
    desc = re.search(r"Refusals per day from (\S+) to (\S+) \(30 days\): total (\d+)", page)
    assert desc is not None, "no description of the refusals chart"
    assert desc.group(2) == (now.date() - dt.timedelta(days=1)).isoformat()
    assert int(desc.group(3)) == 3


def test_a_chart_is_drawn_again_only_when_its_data_changes() -> None:
    day = dt.date(2026, 1, 1)
    first = charts.time_series({day: 3}, title="Events")
    assert charts.time_series({day: 3}, title="Events") is first
    changed = charts.time_series({day: 4}, title="Events")
    assert changed is not first
    assert "total 4" in changed
    # A generator is drawn, not used up by the cache's key: it is the same chart as its list.
    drawn = charts.bar_chart(((name, n) for name, n in [("a", 1.0), ("b", 2.0)]), title="T")
    assert charts.bar_chart([("a", 1.0), ("b", 2.0)], title="T") is drawn
    assert "a: 1" in drawn or "a" in drawn.split("<desc")[1]
