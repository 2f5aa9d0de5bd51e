"""A dashboard asks its guarded task providers' first statements as one statement of EXISTS
questions and calls only the providers whose statement has a row: the same tasks, fewer
statements. Unit cases on a registry of their own, then the compliance manager's dashboard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from governance.identity.models import TrainingCourse, TrainingRecord
from governance.identity.organization_model import Organization
from governance.kernel.extensions import database
from governance.kernel.tasks import Task, TaskRegistry, guarded
from governance.kernel.types import utcnow
from tests.conftest import Browser
from tests.support import PASSWORD, People, statements_sent

NAMED = select(Organization).where(Organization.name == bindparam("organization"))


def _named(name: str) -> Any:
    return lambda _session, _user: {"organization": name}


def _provider(called: list[str], name: str) -> Any:
    def provider(_session: Session, _user: Any) -> list[Task]:
        called.append(name)
        return [Task(title=name, kind="test", endpoint="dashboard.home")]

    return provider


@pytest.fixture
def sent(db: Session) -> Iterator[list[str]]:
    with statements_sent(db.get_bind()) as seen:
        yield seen


def test_only_providers_whose_first_statement_has_a_row_are_asked(
    db: Session, people: People, sent: list[str]
) -> None:
    registry, called = TaskRegistry(), []
    lab = guarded(
        select(Organization).where(Organization.id == bindparam("lab")),
        lambda *_: {"lab": people.lab.id},
    )
    registry.register("r")(lab(_provider(called, "lab")))
    registry.register("r")(guarded(NAMED, _named("Nobody"))(_provider(called, "nobody")))
    registry.register("r")(_provider(called, "unguarded"))
    for _ in range(2):  # the question is built once and asked at every look
        sent.clear()
        called.clear()
        providers = registry.worth_asking(db, user=people.compliance, role="r")
        selects = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1
        assert selects[0].lstrip().upper().startswith("SELECT EXISTS")
        assert [p(db, people.compliance)[0].title for p in providers] == ["lab", "unguarded"]
        assert called == ["lab", "unguarded"]


def test_a_single_guard_is_not_asked_on_its_own(
    db: Session, people: People, sent: list[str]
) -> None:
    registry, called = TaskRegistry(), []
    registry.register("r")(guarded(NAMED, _named("Nobody"))(_provider(called, "nobody")))
    registry.register("r")(_provider(called, "unguarded"))
    sent.clear()
    assert len(registry.worth_asking(db, user=people.compliance, role="r")) == 2
    assert not [s for s in sent if s.lstrip().upper().startswith("SELECT")]


def test_two_guards_may_not_mean_two_values_by_one_parameter(db: Session, people: People) -> None:
    registry, called = TaskRegistry(), []
    registry.register("r")(guarded(NAMED, _named("A"))(_provider(called, "a")))
    registry.register("r")(guarded(NAMED, _named("B"))(_provider(called, "b")))
    with pytest.raises(ValueError, match="organization"):
        registry.worth_asking(db, user=people.compliance, role="r")


def test_a_guarded_provider_called_directly_is_the_provider(db: Session, people: People) -> None:
    called: list[str] = []
    provider = guarded(NAMED, _named("Nobody"))(_provider(called, "direct"))
    assert [t.title for t in provider(db, people.compliance)] == ["direct"]


def test_the_compliance_dashboard_with_nothing_to_do_sends_one_question(
    app: Flask, browser: Browser, db: Session, people: People
) -> None:
    """No campaign, no committee case, no waiting request, training current: one statement of
    questions, none of the four providers' own statements, and no task ledger read."""
    seen: list[str] = []
    engine = database(app).engine
    browser.login(people.compliance.email, PASSWORD)
    page = "/dashboard/compliance_manager"
    browser.get(page)

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        answer = browser.get(page)
        assert answer.status_code == 200
        assert "Renew your training" not in answer.get_data(as_text=True)
        tops = [s for s in seen if not s.startswith("SELECT EXISTS")]
        for table in ("audit_period", "committee_case", "training_record", "access_request"):
            assert not [s for s in tops if f"FROM {table}" in s], table
        assert not [s for s in seen if "FROM task_notice" in s]
        assert len([s for s in seen if s.startswith("SELECT EXISTS")]) == 1

        # A course running out within the window: the question says so, the provider runs.
        db.add(
            TrainingRecord(
                user_id=people.compliance.id,
                course=TrainingCourse.FERPA,
                completed_on=utcnow().date() - dt.timedelta(days=355),
                expires_on=utcnow().date() + dt.timedelta(days=10),
            )
        )
        db.commit()
        seen.clear()
        answer = browser.get(page)
        assert f"Renew your training: {TrainingCourse.FERPA.label}" in answer.get_data(as_text=True)
        assert [s for s in seen if "HAVING" in s and not s.startswith("SELECT EXISTS")]
    finally:
        event.remove(engine, "before_cursor_execute", note)
