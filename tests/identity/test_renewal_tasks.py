"""The dashboard's training renewal tasks, read as each course's latest expiry (rows, not the
person's training records as objects): a course counts by its latest record, so a renewal
already recorded ends the task; only the person's own records count."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from governance.identity import training_tasks
from governance.identity.models import TrainingCourse, TrainingRecord, User
from governance.identity.training_tasks import renewal_tasks
from governance.kernel.types import utcnow
from tests.support import People

HIPAA = TrainingCourse.HIPAA_PRIVACY
FERPA = TrainingCourse.FERPA
UK = TrainingCourse.UK_DATA_PROTECTION
PART2 = TrainingCourse.PART2_CONFIDENTIALITY


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """The day the records are dated from and the tasks read on: one moment, so that a run
    crossing midnight UTC does not move the window between the two."""
    now = utcnow()
    monkeypatch.setattr(training_tasks, "utcnow", lambda: now)
    return now.date()


def _record(
    db: Session, person: User, course: TrainingCourse, expires_in: int, today: dt.date
) -> None:
    expires = today + dt.timedelta(days=expires_in)
    db.add(
        TrainingRecord(
            user_id=person.id,
            course=course,
            completed_on=expires - dt.timedelta(days=365),
            expires_on=expires,
        )
    )


def test_each_course_counts_by_its_latest_record_and_only_the_persons_own(
    db: Session, people: People, today: dt.date
) -> None:
    checker, other = people.checker, people.analyst
    _record(db, checker, HIPAA, 10, today)  # runs out within the 30 days' window: a task
    _record(db, checker, HIPAA, -300, today)  # an older record of the same course
    _record(db, checker, FERPA, 5, today)
    _record(db, checker, FERPA, 200, today)  # renewed: no task
    _record(db, checker, UK, -3, today)  # expired three days ago: a task
    _record(db, other, PART2, 1, today)  # someone else's
    _record(db, other, HIPAA, 2, today)
    db.commit()

    tasks = renewal_tasks(db, checker)

    # The fixture's people also hold two courses running out in 335 days: no task.
    assert [(t.title, t.due, t.key) for t in tasks] == [
        (
            f"Renew your training: {HIPAA.label} (expires {today + dt.timedelta(days=10)})",
            today + dt.timedelta(days=10),
            f"training|{checker.id}|{HIPAA.value}",
        ),
        (
            f"Renew your training: {UK.label} (expired {today - dt.timedelta(days=3)})",
            today - dt.timedelta(days=3),
            f"training|{checker.id}|{UK.value}",
        ),
    ]


def test_the_window_ends_on_its_last_day(db: Session, people: People, today: dt.date) -> None:
    """A course running out on the window's last day is due; one running out the day after
    is not (the rule is in the statement, and the dashboard's question asks the same)."""
    checker = people.checker
    _record(db, checker, HIPAA, 30, today)
    _record(db, checker, FERPA, 31, today)
    db.commit()
    assert [t.key for t in renewal_tasks(db, checker)] == [f"training|{checker.id}|{HIPAA.value}"]
