"""What the outbox page reads: messages searched by recipient, kind, status and date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select

from governance.kernel.errors import ValidationFailed
from governance.kernel.mail_model import MailStatus, OutboxMessage


@dataclass(frozen=True)
class OutboxFilter:
    recipient: str = ""
    kind: str = ""
    status: str = ""
    on: dt.date | None = None


def parse_filter(args: dict[str, str]) -> OutboxFilter:
    """The page's query string; a malformed date or an unknown status is a 422."""
    status = args.get("status", "").strip()
    if status and status not in {s.value for s in MailStatus}:
        raise ValidationFailed("Choose a status from the list.", {"status": "not a status"})
    raw_day = args.get("date", "").strip()
    try:
        on = dt.date.fromisoformat(raw_day) if raw_day else None
    except ValueError:
        raise ValidationFailed("Write the date as YYYY-MM-DD.", {"date": "not a date"}) from None
    return OutboxFilter(
        recipient=args.get("recipient", "").strip()[:320],
        kind=args.get("kind", "").strip()[:40],
        status=status,
        on=on,
    )


def outbox_query(chosen: OutboxFilter) -> Select[OutboxMessage]:
    query = select(OutboxMessage)
    if chosen.recipient:
        query = query.where(OutboxMessage.recipient.icontains(chosen.recipient, autoescape=True))
    if chosen.kind:
        query = query.where(OutboxMessage.kind == chosen.kind)
    if chosen.status:
        query = query.where(OutboxMessage.delivery == chosen.status)
    if chosen.on:
        start = dt.datetime.combine(chosen.on, dt.time(), tzinfo=dt.UTC)
        query = query.where(
            OutboxMessage.created_at >= start,
            OutboxMessage.created_at < start + dt.timedelta(days=1),
        )
    return query


KIND_LABELS = {
    "notice": "Notice",
    "output": "Output notice",
    "task_arrived": "New task",
    "task_reminder": "Reminder before due",
    "task_overdue": "Overdue",
    "task_escalated": "Escalation",
    "digest_daily": "Daily digest",
    "digest_weekly": "Weekly digest",
    "request_nudge": "Requester's reminder",
}
