"""Which training is current on a day is one rule (`TrainingRecord.current_on`), read two ways:
on a person's loaded records (`User.current_courses`, used when access is decided) and as SQL
over many people's rows (`identity.courses.current_courses`, the agreement page's personnel
table). Both must give the same courses for every day, above all on the edges: training that
expires on the day or starts the day after is not current, training completed that day is."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from governance.authz import Role
from governance.identity.courses import current_courses
from governance.identity.models import TrainingCourse, TrainingRecord, User
from tests.support import People, add_person

DAY = dt.date(2026, 3, 1)
COURSES = [TrainingCourse.PRIVACY_SECURITY, TrainingCourse.CJIS_SECURITY_AWARENESS]

# A few days either side of the day asked about, so most examples sit on an edge.
spans = st.lists(
    st.tuples(st.sampled_from(COURSES), st.integers(-4, 4), st.integers(1, 5)), max_size=5
)


def _expected(span_list: list[tuple[TrainingCourse, int, int]]) -> set[TrainingCourse]:
    """The rule as a person would say it: completed on or before the day, expiring after it."""
    return {course for course, start, length in span_list if start <= 0 < start + length}


def test_the_sql_and_the_python_forms_agree_on_every_day(
    app: Flask, db: Session, people: People
) -> None:
    person_id = add_person(
        db,
        app,
        email="rule.checked@test.example",
        name="Rule Checked",
        org=people.lab,
        roles=(Role.ANALYST,),
        courses=(),
    ).id
    db.commit()

    @settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
    @given(span_list=spans)
    @example(span_list=[(COURSES[0], -30, 30)])  # expires on the day
    @example(span_list=[(COURSES[0], 1, 30)])  # starts the day after
    @example(span_list=[(COURSES[0], 0, 1), (COURSES[1], -1, 1)])  # completed that day; expired
    def agree(span_list: list[tuple[TrainingCourse, int, int]]) -> None:
        # Each example in a session of its own, which closing rolls back: the next has none.
        with Session(bind=db.get_bind(), info=db.info) as session:
            session.add_all(
                TrainingRecord(
                    user_id=person_id,
                    course=course,
                    completed_on=DAY + dt.timedelta(days=start),
                    expires_on=DAY + dt.timedelta(days=start + length),
                )
                for course, start, length in span_list
            )
            session.flush()
            from_rows = current_courses(session, [person_id], DAY)[person_id]
            from_objects = session.get_one(User, person_id).current_courses(DAY)
        assert from_rows == from_objects == _expected(span_list)

    agree()
