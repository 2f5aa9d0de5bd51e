"""The task lists on each role's dashboard.

Each workflow has a provider for the roles whose work it creates (outputs to check, previews
open, requests to review, agreements expiring, grants to re-certify); governance/registry.py
lists them. A provider returns tasks with deadlines; the dashboard shows the soonest first.
Roles and people are named loosely here (the kernel knows no noun): a role is its string value
(`Role` is a `StrEnum`), a person whatever the providers take.

Most dashboards, most days, have no task from most providers, and every provider asks at least
one statement to find that out. A provider `guarded` by the statement it reads first is asked
only when that statement has a row: the dashboard asks every guarded provider of the role
whether it has one in a single statement of EXISTS questions, each answered by the database
at that request (nothing is kept between requests), and skips those whose answer is no.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Task:
    """One thing waiting for someone; `endpoint` and `params` name the page that does it."""

    title: str
    kind: str
    endpoint: str
    params: dict[str, object] = field(default_factory=dict)
    due: dt.date | None = None
    # Shown on the dashboard only: e-mail never carries it (it may quote a person's comment).
    detail: str = ""
    # Who is told when it is overdue, beyond the owner (a committee's chair); empty means the
    # privacy officers.
    escalate_to: tuple[str, ...] = ()
    # What keeps it the same task while its title or kind changes; empty: kind and page.
    key: str = ""
    # The part of the page that does it (a form's id), when the page does more than one thing.
    anchor: str = ""

    @property
    def identity(self) -> str:
        """The same work for the same person has the same identity from one look to the next."""
        if self.key:
            return self.key
        params = ",".join(f"{name}={value}" for name, value in sorted(self.params.items()))
        return f"{self.kind}|{self.endpoint}|{params}"[:300]


def service_level_days(settings: Any, kind: str) -> int:
    """Days a task of this kind may wait (SERVICE_LEVELS, with its "default")."""
    levels = settings.get("SERVICE_LEVELS") if hasattr(settings, "get") else None
    if not isinstance(levels, dict):
        return 7
    days = levels.get(kind, levels.get("default", 7))
    return int(days) if days is not None else 7


TaskProvider = Callable[[Session, Any], list[Task]]
# Any statement (SQLAlchemy 2.1 types a Select by its columns).
AnySelect = Select[*tuple[Any, ...]]
# A guarded provider's parameters for its first statement, from the session and the person.
Parameters = Callable[[Session, Any], Mapping[str, object]]


def _no_parameters(_session: Session, _user: Any) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True, eq=False)
class Guarded:
    """A provider that finds no task unless its first statement (`first`) has a row; called,
    it is the provider (the reminder job and the metrics call it as any other)."""

    provider: TaskProvider
    first: AnySelect
    parameters: Parameters = _no_parameters

    def __call__(self, session: Session, user: Any) -> list[Task]:
        return self.provider(session, user)

    @property
    def maybe(self) -> ColumnElement[bool]:
        """Whether the first statement has a row (its order cannot change that)."""
        return self.first.order_by(None).exists()


def guarded(
    first: AnySelect, parameters: Parameters = _no_parameters
) -> Callable[[TaskProvider], Guarded]:
    """Declare that the provider returns no task when `first`, the statement it reads first
    (with `parameters`' values), has no row."""

    def decorator(provider: TaskProvider) -> Guarded:
        return Guarded(provider, first, parameters)

    return decorator


@dataclass
class TaskRegistry:
    providers: dict[str, list[TaskProvider]] = field(default_factory=dict)
    # Each role's guarded providers' questions as one statement, built at its first use.
    _questions: dict[str, AnySelect] = field(default_factory=dict)

    def register(self, *roles: str) -> Callable[[TaskProvider], TaskProvider]:
        """Add a provider for these roles; adding it again has no effect."""

        def decorator(provider: TaskProvider) -> TaskProvider:
            for role in roles:
                listed = self.providers.setdefault(role, [])
                if provider not in listed:
                    listed.append(provider)
                self._questions.pop(role, None)
            return provider

        return decorator

    def worth_asking(self, session: Session, *, user: Any, role: str) -> list[TaskProvider]:
        """The role's providers, but for the guarded ones whose first statement has no row."""
        providers = self.providers.get(role, [])
        guards = [p for p in providers if isinstance(p, Guarded)]
        if len(guards) < 2:  # a question for one provider costs what it saves
            return providers
        question = self._questions.get(role)
        if question is None:
            question = self._questions[role] = _question(guards)
        answers = session.execute(question, _parameters(session, user, guards)).one()
        empty = {id(g) for g, answer in zip(guards, answers, strict=True) if not answer}
        return [p for p in providers if id(p) not in empty]


def _question(guards: Sequence[Guarded]) -> AnySelect:
    return select(*(g.maybe.label(f"maybe_{n}") for n, g in enumerate(guards)))


def _parameters(session: Session, user: Any, guards: Sequence[Guarded]) -> dict[str, object]:
    """Every guard's parameters for the one statement; two guards naming one parameter must
    mean the same value by it."""
    merged: dict[str, object] = {}
    for guard in guards:
        for name, value in guard.parameters(session, user).items():
            if merged.setdefault(name, value) != value:
                raise ValueError(f"Two task guards give the parameter {name!r} two values.")
    return merged


registry = TaskRegistry()


def all_tasks_for(session: Session, *, user: Any, roles: Any) -> list[Task]:
    """Every task waiting on this person in any of their roles, each once."""
    found: dict[str, Task] = {}
    for role in roles:
        for task in tasks_for(session, user=user, role=str(role)):
            found.setdefault(task.identity, task)
    return list(found.values())


def tasks_for(session: Session, *, user: Any, role: str) -> list[Task]:
    providers = registry.worth_asking(session, user=user, role=role)
    tasks = [task for provider in providers for task in provider(session, user)]
    return sorted(tasks, key=lambda t: (t.due is None, t.due or dt.date.max, t.title))
