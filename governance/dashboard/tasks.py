"""The task lists on each role's dashboard.

Each workflow registers a provider for the roles whose work it creates (outputs to check,
previews open, requests to review, agreements expiring, grants to re-certify). A provider
returns tasks with deadlines; the dashboard shows the soonest first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from governance.authz.roles import Role
from governance.identity.models import User


@dataclass(frozen=True)
class Task:
    """One thing waiting for someone; `endpoint` and `params` name the page that does it."""

    title: str
    kind: str
    endpoint: str
    params: dict[str, object] = field(default_factory=dict)
    due: dt.date | None = None
    detail: str = ""


TaskProvider = Callable[[Session, User], list[Task]]


@dataclass
class TaskRegistry:
    providers: dict[Role, list[TaskProvider]] = field(default_factory=dict)

    def register(self, *roles: Role) -> Callable[[TaskProvider], TaskProvider]:
        def decorator(provider: TaskProvider) -> TaskProvider:
            for role in roles:
                self.providers.setdefault(role, []).append(provider)
            return provider
        return decorator


registry = TaskRegistry()


def tasks_for(session: Session, *, user: User, role: Role) -> list[Task]:
    tasks = [task for provider in registry.providers.get(role, [])
             for task in provider(session, user)]
    return sorted(tasks, key=lambda t: (t.due is None, t.due or dt.date.max, t.title))
