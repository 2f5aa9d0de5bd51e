"""Renew training: a task for each person whose training in a course runs out soon.

A course counts by its latest record: a renewal already recorded ends the task. The window is
TRAINING_RENEWAL_DAYS before the expiry date, which is the task's due date (access pauses on
that day for grants whose agreement requires the course).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from governance.identity.courses import DUE_FOR_RENEWAL, due_for_renewal
from governance.identity.models import TrainingCourse, User
from governance.kernel.tasks import Task, guarded
from governance.kernel.types import utcnow

KIND = "Training to renew"


def renewal_until(session: Session, today: dt.date) -> dt.date:
    """The last expiry day whose course is due for renewal today (the window's end)."""
    settings: Mapping[str, Any] = session.info.get("settings") or {}
    return today + dt.timedelta(days=int(settings.get("TRAINING_RENEWAL_DAYS") or 30))


def _renewal_parameters(session: Session, user: User) -> dict[str, object]:
    return {"person": user.id, "renewal_until": renewal_until(session, utcnow().date())}


@guarded(DUE_FOR_RENEWAL, _renewal_parameters)
def renewal_tasks(session: Session, user: User) -> list[Task]:
    today = utcnow().date()
    due = due_for_renewal(session, user.id, renewal_until(session, today))
    return [
        Task(
            title=f"Renew your training: {TrainingCourse(course).label} "
            f"({'expired' if expires <= today else 'expires'} {expires})",
            kind=KIND,
            endpoint="account.index",
            due=expires,
            key=f"training|{user.id}|{course}",
        )
        for course, expires in sorted(due.items())
    ]
