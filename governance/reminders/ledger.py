"""The reminder job: every task's owner is told when it arrives, before it is due and when it
is overdue, and the overdue ones are escalated; each message once.

Tasks come from the dashboard's providers (kernel/tasks.py, listed in the registry), asked
for every active person in each of their roles, so every task has a person as owner. A task
whose workflow sets no deadline is due SERVICE_LEVELS[kind] days after the job first saw it.
The ledger (`task_notice`) records what was sent; time is the job's `now`, so
`governance expire --now ...` moves it forward like every periodic job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from governance.identity import users
from governance.identity.models import User, UserRole
from governance.kernel import notify
from governance.kernel.installed import Installed
from governance.kernel.tasks import Task, all_tasks_for, service_level_days
from governance.reminders.models import TaskNotice

# How a task's page becomes a path (endpoint, params) -> "/access/requests/3": the registry
# installs Flask's URL map here, so this module needs no Flask.
Linker = Callable[[str, Mapping[str, object]], str]
_linker: Installed[Linker] = Installed(
    "No page linker is installed: build the app (create_app) first."
)
install_linker = _linker.install


def task_path(task: Task) -> str:
    linker = _linker.get()
    try:
        path = linker(task.endpoint, task.params)
    except LookupError:
        # A provider naming a page that does not exist (werkzeug's BuildError is a
        # LookupError): the dashboard still lists the task, so the message links there.
        return "/dashboard"
    return f"{path}#{task.anchor}" if task.anchor else path


def settings_of(session: Session) -> Mapping[str, Any]:
    settings = session.info.get("settings")
    return settings if isinstance(settings, Mapping) else {}


def due_date(session: Session, task: Task, *, arrived: dt.date) -> dt.date:
    """The workflow's own deadline, else the service level of the task's kind."""
    if task.due is not None:
        return task.due
    return arrived + dt.timedelta(days=service_level_days(settings_of(session), task.kind))


# Built once: every dashboard asks it.
_OPEN_NOTICES = select(TaskNotice).where(
    TaskNotice.owner_id == bindparam("owner_id"), TaskNotice.closed_at.is_(None)
)


def with_due(session: Session, user: User, tasks: list[Task], *, today: dt.date) -> list[Task]:
    """The dashboard's tasks, each with a due date (the ledger's, else one from today), in
    their order (those the workflow dates first)."""
    if all(t.due for t in tasks):  # the ledger dates only tasks the workflow left undated
        return list(tasks)
    known = {
        row.task_key: row.due_on for row in session.scalars(_OPEN_NOTICES, {"owner_id": user.id})
    }
    return [
        t if t.due else _dated(t, known.get(t.identity) or due_date(session, t, arrived=today))
        for t in tasks
    ]


def _dated(task: Task, due: dt.date) -> Task:
    return dataclasses.replace(task, due=due)


def people_with_roles(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(True), User.id.in_(select(UserRole.user_id)))
            .order_by(User.id)
        )
    )


def remind_tasks(session: Session, _actor: object, now: dt.datetime) -> int:
    """The periodic job: returns how many messages it queued."""
    today = now.astimezone(dt.UTC).date()
    before = dt.timedelta(days=int(settings_of(session).get("REMINDER_DAYS_BEFORE_DUE") or 2))
    rows = {(r.owner_id, r.task_key): r for r in session.scalars(select(TaskNotice))}
    waiting = [
        (user, task)
        for user in people_with_roles(session)
        for task in all_tasks_for(session, user=user, roles=sorted(user.role_set))
    ]
    # Whoever holds a task is told it is overdue as its owner, not escalated to about it.
    holders: dict[str, set[str]] = {}
    for user, task in waiting:
        holders.setdefault(task.identity, set()).add(user.email)
    escalated = {identity: set(owners) for identity, owners in holders.items()}
    seen: set[tuple[int, str]] = set()
    sent = 0
    for user, task in waiting:
        key = (user.id, task.identity)
        seen.add(key)
        row = rows.get(key)
        link = notify.link(session, task_path(task))
        if row is None or row.closed_at is not None:
            row = _arrived(session, row, user, task, link, now=now, today=today)
            rows[key] = row
            sent += _tell(session, user, task, row, "task_arrived.txt", "task_arrived")
            continue
        row.title, row.kind, row.link = task.title[:300], task.kind[:200], link
        if task.due is not None:
            row.due_on = task.due
        if row.overdue_sent_at is None and today > row.due_on:
            row.overdue_sent_at = now
            sent += _overdue(session, user, task, row, escalated, holders[task.identity])
        elif row.reminder_sent_at is None and row.due_on - before <= today <= row.due_on:
            row.reminder_sent_at = now
            sent += _tell(session, user, task, row, "task_reminder.txt", "task_reminder")
    for key, row in rows.items():
        if key not in seen and row.closed_at is None:
            row.closed_at = now
    return sent


def _arrived(
    session: Session,
    row: TaskNotice | None,
    user: User,
    task: Task,
    link: str,
    *,
    now: dt.datetime,
    today: dt.date,
) -> TaskNotice:
    """A new ledger line, or a closed one opened again (a returned request submitted again)."""
    if row is None:
        row = TaskNotice(owner_id=user.id, task_key=task.identity)
        session.add(row)
    row.kind, row.title, row.link = task.kind[:200], task.title[:300], link
    row.arrived_at = now
    row.due_on = due_date(session, task, arrived=today)
    row.notice_sent_at = now
    row.reminder_sent_at = row.overdue_sent_at = row.closed_at = None
    return row


def _tell(
    session: Session, user: User, task: Task, row: TaskNotice, template: str, kind: str
) -> int:
    return notify.queue_template(
        session,
        to=[user.email],
        template=template,
        kind=kind,
        link=row.link,
        name=user.name,
        title=task.title,
        due=row.due_on.isoformat(),
        task_kind=task.kind,
    )


def _overdue(
    session: Session,
    user: User,
    task: Task,
    row: TaskNotice,
    escalated: dict[str, set[str]],
    holders: set[str],
) -> int:
    """Tell the owner, and the chair or privacy officers once per task (a task several people
    hold escalates once, not once per holder, and not to its holders)."""
    overseers = (
        {a.lower() for a in task.escalate_to}
        if task.escalate_to
        else {p.email for p in users.privacy_officers(session)}
    ) - holders
    already = escalated.setdefault(task.identity, set())
    new = overseers - already
    already.update(new)
    names = {p.email: p.name for p in people_with_roles(session)}
    told = notify.queue_template(
        session,
        to=[user.email],
        template="task_overdue.txt",
        kind="task_overdue",
        link=row.link,
        name=user.name,
        title=task.title,
        task_kind=task.kind,
        due=row.due_on.isoformat(),
        escalated_to=_who(overseers, names) if overseers else "Nobody else",
        escalated_count=len(overseers),
    )
    for address in sorted(new):
        told += notify.queue_template(
            session,
            to=[address],
            template="task_escalated.txt",
            kind="task_escalated",
            link=row.link,
            name=names.get(address, address),
            owner=user.name,
            title=task.title,
            due=row.due_on.isoformat(),
            task_kind=task.kind,
        )
    return told


def _who(addresses: set[str], names: Mapping[str, str]) -> str:
    listed = sorted(names.get(a, a) for a in addresses)
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]


def open_tasks(session: Session, user_id: int) -> list[TaskNotice]:
    return list(
        session.scalars(
            select(TaskNotice)
            .where(TaskNotice.owner_id == user_id, TaskNotice.closed_at.is_(None))
            .order_by(TaskNotice.due_on, TaskNotice.title)
        )
    )
