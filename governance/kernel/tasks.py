"""The task lists on each role's dashboard.

Each workflow has a provider for the roles whose work it creates (outputs to check, previews
open, requests to review, agreements expiring, grants to re-certify); governance/registry.py
lists them. A provider returns tasks with deadlines; the dashboard shows the soonest first.
Roles and people are named loosely here (the kernel knows no noun): a role is its string value
(`Role` is a `StrEnum`), a person whatever the providers take.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class TaskRegistry:
    providers: dict[str, list[TaskProvider]] = field(default_factory=dict)

    def register(self, *roles: str) -> Callable[[TaskProvider], TaskProvider]:
        """Add a provider for these roles; adding it again has no effect."""

        def decorator(provider: TaskProvider) -> TaskProvider:
            for role in roles:
                listed = self.providers.setdefault(role, [])
                if provider not in listed:
                    listed.append(provider)
            return provider

        return decorator


registry = TaskRegistry()


def all_tasks_for(session: Session, *, user: Any, roles: Any) -> list[Task]:
    """Every task waiting on this person in any of their roles, each once."""
    found: dict[str, Task] = {}
    for role in roles:
        for task in tasks_for(session, user=user, role=str(role)):
            found.setdefault(task.identity, task)
    return list(found.values())


def tasks_for(session: Session, *, user: Any, role: str) -> list[Task]:
    tasks = [
        task for provider in registry.providers.get(role, []) for task in provider(session, user)
    ]
    return sorted(tasks, key=lambda t: (t.due is None, t.due or dt.date.max, t.title))
