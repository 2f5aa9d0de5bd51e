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
    detail: str = ""


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


def tasks_for(session: Session, *, user: Any, role: str) -> list[Task]:
    tasks = [
        task for provider in registry.providers.get(role, []) for task in provider(session, user)
    ]
    return sorted(tasks, key=lambda t: (t.due is None, t.due or dt.date.max, t.title))
