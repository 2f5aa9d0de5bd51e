"""What the trail says of rows of one kind: the successful events of some types naming them,
in the trail's order, for the comparisons of live rows with the trail (access/trail_check.py,
identity/trail_check.py). `ix_audit_event_target` answers it (migration 0054)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select

from governance.audit.models import AuditEvent, Outcome, of_type


def said_of(
    target_type: str, kinds: Iterable[str], target_ids: Iterable[str] | None = None
) -> Select[tuple[str | None, str, dict[str, Any]]]:
    """(target id, event type, detail) of each successful event of these types naming a target
    of this type (those named, when given), oldest first. Refused attempts say nothing."""
    query = (
        select(AuditEvent.target_id, AuditEvent.event_type, AuditEvent.detail)
        .where(
            of_type(*kinds),
            AuditEvent.target_type == target_type,
            AuditEvent.outcome == Outcome.SUCCESS,
        )
        .order_by(AuditEvent.seq)
    )
    if target_ids is not None:
        query = query.where(AuditEvent.target_id.in_(sorted(target_ids)))
    return query
