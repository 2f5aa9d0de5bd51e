"""The dashboard's events per day are counted once, then only the events added since, and always
equal what a plain count of the trail gives: for events recorded in any order of days, with
views in between, from several threads, and after the database under the process changed."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from governance.audit import day_counts as kept_counts
from governance.audit import service as audit
from governance.audit.day_counts import day_counts
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.identity.actors import System
from governance.kernel.extensions import database
from governance.kernel.types import utcnow


@pytest.fixture(autouse=True)
def _one_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test dates its events and names its days from one moment, taken when it starts
    (not at import: a later test runs on a later day): a run that crosses midnight (UTC)
    between recording an event today and asking for today's count would look on the next
    day."""
    now = utcnow()
    monkeypatch.setitem(globals(), "utcnow", lambda: now)


def _today() -> dt.date:
    return utcnow().date()


def _since() -> dt.date:
    return _today() - dt.timedelta(days=30)


def _record(db: Session, days_ago: int, outcome: Outcome) -> None:
    when = utcnow() - dt.timedelta(days=days_ago)
    audit.record(db, AuditType.DATASET_READ, by=System("test"), outcome=outcome, now=when)


def _plain(db: Session) -> dict[tuple[dt.date, Outcome], int]:
    """What a count of the whole trail gives, day by day (the reference)."""
    counts: dict[tuple[dt.date, Outcome], int] = {}
    for when, outcome in db.execute(select(AuditEvent.occurred_at, AuditEvent.outcome)):
        day = when.astimezone(dt.UTC).date()
        if day >= _since():
            key = (day, Outcome(outcome))
            counts[key] = counts.get(key, 0) + 1
    return counts


def _kept(db: Session) -> dict[tuple[dt.date, Outcome], int]:
    return {k: n for k, n in day_counts(db, _since()).counts.items() if n}


@pytest.fixture
def statements(db: Session) -> Iterator[list[str]]:
    """The SQL the test's session sends, as it sends it."""
    sent: list[str] = []
    engine = db.get_bind()

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    yield sent
    event.remove(engine, "before_cursor_execute", seen)


days_ago = st.sampled_from([0, 0, 0, 1, 2, 29, 30, 31, 45])
outcomes = st.sampled_from([Outcome.ALLOWED, Outcome.DENIED])
steps = st.lists(st.one_of(st.tuples(days_ago, outcomes), st.just("view")), max_size=12)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps)
def test_the_kept_counts_equal_a_plain_count_after_any_appends(
    db: Session, plan: list[Any]
) -> None:
    for step in plan:
        if step == "view":
            db.commit()
            assert _kept(db) == _plain(db)
        else:
            _record(db, *step)
    db.commit()
    assert _kept(db) == _plain(db)


def test_a_later_view_counts_only_the_events_after_the_last_it_counted(
    db: Session, statements: list[str]
) -> None:
    for i in range(5):
        _record(db, i, Outcome.ALLOWED)
    db.commit()
    first = day_counts(db, _since())
    assert any("occurred_at >=" in s for s in statements), "the first view counts the window"
    _record(db, 0, Outcome.DENIED)
    _record(db, 3, Outcome.DENIED)  # recorded now, dated three days ago: lands on its day
    db.commit()
    statements.clear()
    second = day_counts(db, _since())
    assert not any("occurred_at >=" in s for s in statements), statements
    # One statement: the kept last event's hash, the new events' counts, the newest event.
    assert len(_selects(statements)) == 1, statements
    assert second.last_seq == first.last_seq + 2
    assert second.on(_today(), Outcome.DENIED) == first.on(_today(), Outcome.DENIED) + 1
    assert second.on(_today() - dt.timedelta(days=3), Outcome.DENIED) == 1
    assert second.on(_today()) == first.on(_today()) + 1
    statements.clear()
    assert day_counts(db, _since()) == second  # nothing new: the same counts, one statement
    assert len(_selects(statements)) == 1, statements
    assert _kept(db) == _plain(db)


def _selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_a_changed_database_under_the_process_is_counted_afresh(
    db: Session, intruder: Callable[..., None]
) -> None:
    for _ in range(3):
        _record(db, 1, Outcome.DENIED)
    db.commit()
    assert day_counts(db, _since()).on(_today() - dt.timedelta(days=1), Outcome.DENIED) >= 3
    # As a restore would: the events the process counted are gone and others take their seqs.
    last = db.scalar(select(func.max(AuditEvent.seq)))
    intruder(
        "UPDATE audit_event SET hash = :other, outcome = 'allowed' WHERE outcome = 'denied'",
        other="0" * 64,
    )
    db.commit()
    assert db.scalar(select(func.max(AuditEvent.seq))) == last
    assert day_counts(db, _since()).on(_today() - dt.timedelta(days=1), Outcome.DENIED) == 0
    assert _kept(db) == _plain(db)


def test_an_earlier_window_than_the_kept_one_is_counted_afresh(db: Session) -> None:
    _record(db, 35, Outcome.ALLOWED)
    db.commit()
    day_counts(db, _since())
    earlier = _today() - dt.timedelta(days=40)
    assert day_counts(db, earlier).on(_today() - dt.timedelta(days=35)) >= 1
    # And a later one forgets the days before it.
    assert day_counts(db, _since()).on(_today() - dt.timedelta(days=35)) == 0


def test_threads_viewing_at_once_never_count_an_event_twice(app: Flask, db: Session) -> None:
    for _ in range(20):
        _record(db, 0, Outcome.ALLOWED)
    db.commit()
    day_counts(db, _since())
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def view() -> None:
        try:
            with database(app).session() as session:
                start.wait()
                for _ in range(5):
                    day_counts(session, _since())
                    session.commit()
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    for _ in range(30):
        _record(db, 0, Outcome.DENIED)
    db.commit()
    threads = [threading.Thread(target=view) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    with database(app).session() as session:
        assert {k: n for k, n in day_counts(session, _since()).counts.items() if n} == _plain(db)
    assert kept_counts._KEPT  # the counts are kept between views
