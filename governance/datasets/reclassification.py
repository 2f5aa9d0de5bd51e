"""Lowering a stored column's classification takes two people: one asks, a privacy officer
approves.

Classification decides who must approve access (a direct identifier needs a steward and a
privacy officer) and what may appear in an output. If whoever manages a dataset could lower a
stored column to "general" alone, a steward could then approve real names alone. So once data
is stored, a change to a less protected class (see `Classification.is_less_protected_than`)
only records a pending reclassification; it takes effect when a privacy officer other than the
person who asked approves it. Raising protection takes effect at once. Either way, requests
and grants keep the classification recorded when they were decided (access/requests.py): a
reclassification never changes what a pending request needs or what a grant gave without a
new review.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.datasets.models import (
    Classification,
    ColumnReclassification,
    Dataset,
    DatasetColumn,
    ReclassificationStatus,
)
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from governance.kernel.tasks import Task
from governance.kernel.text import clean_text
from governance.lifecycle import Lifecycle, Transition, already


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


_R = ReclassificationStatus
# Lowering a column's class needs two people: the data manager who asks and a privacy officer.
LIFECYCLE: Lifecycle[ReclassificationStatus, Action] = Lifecycle(
    "column reclassification",
    ColumnReclassification,
    ReclassificationStatus,
    Action,
    [
        Transition(
            _R.PENDING,
            Action.APPROVE,
            _R.APPROVED,
            Permission.DATASET_APPROVE_RECLASSIFICATION,
            AuditType.DATASET_RECLASSIFY,
            "the column is still of the class the request lowers",
            "two-people-reclassify",
        ),
        Transition(
            _R.PENDING,
            Action.REJECT,
            _R.REJECTED,
            Permission.DATASET_APPROVE_RECLASSIFICATION,
            AuditType.DATASET_RECLASSIFY_REJECT,
        ),
    ],
    initial=[_R.PENDING],
    refusal=already("reclassification"),
)

MAX_TEXT = 4000


def pending(session: Session, *, dataset_id: int | None = None) -> list[ColumnReclassification]:
    statement = select(ColumnReclassification).where(
        ColumnReclassification.status == ReclassificationStatus.PENDING
    )
    if dataset_id is not None:
        statement = statement.where(ColumnReclassification.dataset_id == dataset_id)
    return list(session.scalars(statement.order_by(ColumnReclassification.id)))


def ask_to_lower(
    session: Session,
    *,
    dataset: Dataset,
    column: DatasetColumn,
    to: Classification,
    reason: str,
    by: Actor,
    now: dt.datetime,
) -> ColumnReclassification:
    """Record that `by` asks to lower a stored column's class; the column keeps its class.
    The caller has checked `dataset:manage` (update_schema)."""
    current = Classification(column.classification)
    waiting = [r for r in pending(session, dataset_id=dataset.id) if r.column_name == column.name]
    if any(r.to_classification == to for r in waiting):
        return waiting[0]
    if waiting:
        raise Conflict(
            f"Lowering {column.name!r} to {waiting[0].to_classification} is already "
            "waiting for a privacy officer; it must be decided first."
        )
    text = _text(reason, "reason")
    asked = ColumnReclassification(
        dataset_id=dataset.id,
        column_name=column.name,
        from_classification=current,
        to_classification=to,
        reason=text,
        status=ReclassificationStatus.PENDING,
        requested_by_id=by.id,
        requested_by_label=by.email,
        requested_at=now,
        decision_comment="",
    )
    session.add(asked)
    session.flush()
    audit.record(
        session,
        AuditType.DATASET_RECLASSIFY_REQUEST,
        by=by,
        dataset_id=dataset.id,
        target_type="column_reclassification",
        target_id=asked.id,
        now=now,
        detail={"column": column.name, "from": str(current), "to": str(to), "reason": text},
    )
    return asked


def _for_decision(
    session: Session, reclassification_id: int, *, by: Actor, event: AuditType
) -> tuple[ColumnReclassification, dict[str, Any]]:
    refusal: dict[str, Any] = {
        "event_type": event,
        "target_type": "column_reclassification",
        "target_id": reclassification_id,
    }
    authz.require(by, Permission.DATASET_APPROVE_RECLASSIFICATION, audit=refusal)
    audit.take_writer_lock(session)  # the head first, then the row: one lock order
    asked = session.get(
        ColumnReclassification, reclassification_id, with_for_update=True, populate_existing=True
    )
    if asked is None:
        raise NotFound(f"There is no reclassification {reclassification_id}.")
    refusal["dataset_id"] = asked.dataset_id
    return asked, refusal


def approve(
    session: Session, *, reclassification_id: int, comment: str, by: Actor, now: dt.datetime
) -> ColumnReclassification:
    """The second person: the column takes the lower class from now on; requests and grants
    already decided keep the class recorded with them."""
    asked, refusal = _for_decision(
        session, reclassification_id, by=by, event=AuditType.DATASET_RECLASSIFY
    )
    rules.require(
        rules.not_the_asker,
        by,
        asked,
        message="Lowering a classification needs two people: someone other than "
        "the person who asked must approve it.",
        audit=refusal,
    )
    _check_pending(asked)
    dataset = session.get(Dataset, asked.dataset_id)
    column = dataset.column(asked.column_name) if dataset else None
    if column is None or column.classification != asked.from_classification:
        raise InvalidTransition(
            f"{asked.column_name!r} is no longer classified {asked.from_classification}, so "
            "this request is out of date.",
            allowed=["reject"],
        )
    column.classification = Classification(asked.to_classification)
    text = _text(comment, "comment")
    _decide(
        session,
        asked,
        Action.APPROVE,
        text,
        by=by,
        now=now,
        record={
            "dataset_id": asked.dataset_id,
            "target_type": "dataset",
            "target_id": asked.dataset_id,
            "now": now,
            "detail": {
                "changes": [
                    {
                        "column": asked.column_name,
                        "from": str(asked.from_classification),
                        "to": str(asked.to_classification),
                    }
                ],
                "reclassification_id": asked.id,
                "requested_by": asked.requested_by_label,
                "reason": asked.reason,
                "approved_by": by.email,
                "comment": text,
            },
        },
    )
    return asked


def reject(
    session: Session, *, reclassification_id: int, comment: str, by: Actor, now: dt.datetime
) -> ColumnReclassification:
    asked, _ = _for_decision(
        session, reclassification_id, by=by, event=AuditType.DATASET_RECLASSIFY_REJECT
    )
    _check_pending(asked)
    text = _text(comment, "comment")
    _decide(
        session,
        asked,
        Action.REJECT,
        text,
        by=by,
        now=now,
        record={
            "dataset_id": asked.dataset_id,
            "target_type": "column_reclassification",
            "target_id": asked.id,
            "now": now,
            "detail": {
                "column": asked.column_name,
                "from": str(asked.from_classification),
                "to": str(asked.to_classification),
                "requested_by": asked.requested_by_label,
                "comment": text,
            },
        },
    )
    return asked


def _text(raw: str, field: str) -> str:
    errors: dict[str, str] = {}
    value = clean_text(raw, field, errors, max_length=MAX_TEXT, required=False)
    if errors:
        raise ValidationFailed(f"The {field} needs correcting; nothing was saved.", errors)
    return value


def _check_pending(asked: ColumnReclassification) -> None:
    LIFECYCLE.check(asked, Action.APPROVE)


def _decide(
    session: Session,
    asked: ColumnReclassification,
    action: Action,
    comment: str,
    *,
    by: Actor,
    now: dt.datetime,
    record: dict[str, Any],
) -> None:
    asked.decision_comment = comment
    asked.decided_by_id, asked.decided_by_label, asked.decided_at = by.id, by.email, now
    LIFECYCLE.apply(session, asked, action, by=by, record=record)


def privacy_officer_tasks(session: Session, user: User) -> list[Task]:
    return [
        Task(
            title=f"Lowering {r.column_name} to {r.to_classification} (dataset #{r.dataset_id})",
            kind="Classification to approve",
            endpoint="datasets.detail",
            params={"dataset_id": r.dataset_id},
            due=r.requested_at.date() + dt.timedelta(days=5),
        )
        for r in pending(session)
        if r.requested_by_label != user.email
    ]
