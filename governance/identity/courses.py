"""The training people hold on a day, read as plain rows for a page that lists many people.

The agreement's page shows each named person's missing training. Loading every person's
training records as ORM objects (joined to the people, two or more a person) was about a
quarter of the page's load; the page needs only which courses are current, by person. The
dashboard's renewal tasks need only each course's latest expiry, read the same way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import cast

from sqlalchemy import Date, bindparam, func, select
from sqlalchemy.orm import Session

from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel.one_of import one_of

# Built once, with one parameter for the list of people (kernel.one_of) and the day as a
# parameter: the cast tells the type checker that the rule, typed for a date, is given the
# day's placeholder.
_CURRENT = select(TrainingRecord.user_id, TrainingRecord.course).where(
    one_of(TrainingRecord.user_id, "people"),
    TrainingRecord.current_on(cast(dt.date, bindparam("on", type_=Date()))),
)


def current_courses(
    session: Session, user_ids: Collection[int], on: dt.date
) -> dict[int, set[TrainingCourse]]:
    """The courses each of `user_ids` holds on `on` (an empty set for someone with none)."""
    held: dict[int, set[TrainingCourse]] = {user_id: set() for user_id in user_ids}
    if held:
        for user_id, course in session.execute(_CURRENT, {"people": list(held), "on": on}):
            held[user_id].add(TrainingCourse(course))
    return held


# Each course's latest record runs out by `until`: a renewal already recorded (a later
# expiry) ends the course's renewal task, whenever it was taken.
DUE_FOR_RENEWAL = (
    select(TrainingRecord.course, func.max(TrainingRecord.expires_on))
    .where(TrainingRecord.user_id == bindparam("person"))
    .group_by(TrainingRecord.course)
    .having(func.max(TrainingRecord.expires_on) <= bindparam("renewal_until", type_=Date()))
)


def due_for_renewal(session: Session, user_id: int, until: dt.date) -> dict[str, dt.date]:
    """When each of a person's courses runs out, for the courses whose latest record runs out
    on or before `until`."""
    rows = session.execute(DUE_FOR_RENEWAL, {"person": user_id, "renewal_until": until})
    return {course: expires for course, expires in rows}  # noqa: C416 (a Result has keys())
