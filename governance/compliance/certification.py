"""The access certification campaign: each steward confirms, narrows or revokes every grant on
their datasets by the period's deadline; reminders go out before it and once it has passed.

Confirming and narrowing go through the periodic access review (access/review.py), revoking
through the grant's own revocation: the grant, its Casbin line (through the policy epoch) and
the item change in one transaction. Nobody certifies their own grant (separation of duties).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.grants import get_grant, revoke_grant
from governance.access.review import review_grant
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.compliance.models import AuditPeriod, CertificationItem, ItemStatus, PeriodStatus
from governance.datasets.models import Dataset, DatasetSteward
from governance.identity.actors import Actor, System
from governance.identity.models import User
from governance.kernel import notify, tasks
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed
from governance.lifecycle import Lifecycle, Transition, already

REMIND_BEFORE = dt.timedelta(days=7)
_STEWARD = "steward-of-dataset, not-the-holder"


class Decision(StrEnum):
    CONFIRM = "confirm"
    NARROW = "narrow"
    REVOKE = "revoke"


LIFECYCLE: Lifecycle[ItemStatus, Decision] = Lifecycle(
    "certification item",
    CertificationItem,
    ItemStatus,
    Decision,
    [
        Transition(
            ItemStatus.PENDING,
            Decision.CONFIRM,
            ItemStatus.CONFIRMED,
            Permission.GRANT_REVIEW,
            AuditType.CERTIFICATION_CONFIRM,
            "while the period is certifying; the grant keeps every column",
            _STEWARD,
        ),
        Transition(
            ItemStatus.PENDING,
            Decision.NARROW,
            ItemStatus.NARROWED,
            Permission.GRANT_REVIEW,
            AuditType.CERTIFICATION_NARROW,
            "while the period is certifying; the grant keeps only the columns chosen",
            _STEWARD,
        ),
        Transition(
            ItemStatus.PENDING,
            Decision.REVOKE,
            ItemStatus.REVOKED,
            Permission.GRANT_REVIEW,
            AuditType.CERTIFICATION_REVOKE,
            "while the period is certifying, with a reason; the grant ends",
            _STEWARD,
        ),
    ],
    initial=[ItemStatus.PENDING],
    refusal=already("certification item", tense="was"),
)

_EVENTS = {
    Decision.CONFIRM: AuditType.CERTIFICATION_CONFIRM,
    Decision.NARROW: AuditType.CERTIFICATION_NARROW,
    Decision.REVOKE: AuditType.CERTIFICATION_REVOKE,
}


def get_item(session: Session, item_id: int) -> CertificationItem:
    item = session.get(CertificationItem, item_id)
    if item is None:
        raise NotFound(f"There is no certification item {item_id}.")
    return item


def _fields(item: CertificationItem) -> dict[str, Any]:
    return {
        "target_type": "certification_item",
        "target_id": item.id,
        "agreement_id": item.agreement_id,
        "dataset_id": item.dataset_id,
    }


def certify(
    session: Session,
    *,
    item_id: int,
    decision: str,
    keep: list[str],
    comment: str,
    by: Actor,
    now: dt.datetime,
) -> CertificationItem:
    """A steward of the grant's dataset (never its holder) decides one item."""
    item = get_item(session, item_id)
    try:
        chosen = Decision(decision)
    except ValueError:
        raise ValidationFailed(
            "Choose confirm, narrow or revoke.", {"decision": "Unknown."}
        ) from None
    refusal = {"event_type": _EVENTS[chosen], **_fields(item)}
    authz.require(by, Permission.GRANT_REVIEW, audit=refusal)
    rules.require(
        rules.steward_of_dataset,
        by,
        session.get(Dataset, item.dataset_id),
        message="Only a steward of this dataset certifies its grants.",
        audit=refusal,
    )
    rules.require(
        rules.not_the_holder,
        by,
        item.holder_id,
        message="Nobody certifies their own grant: another steward of the dataset must.",
        audit=refusal,
    )
    if item.period.status != PeriodStatus.CERTIFYING:
        raise InvalidTransition(f"The audit period is {item.period.status}: nothing to certify.")
    LIFECYCLE.check(item, chosen)
    grant = get_grant(session, item.grant_id)
    text = comment.strip()
    removed: list[str] = []
    if chosen is Decision.REVOKE:
        revoke_grant(session, grant_id=grant.id, reason=text, by=by, now=now)
        removed = list(grant.column_names)
    else:
        kept = list(grant.column_names) if chosen is Decision.CONFIRM else keep
        if chosen is Decision.NARROW and not set(kept) & set(grant.column_names):
            raise ValidationFailed(
                "Keep at least one column, or revoke the grant.", {"keep": "Choose one."}
            )
        if chosen is Decision.NARROW and set(grant.column_names) <= set(kept):
            raise ValidationFailed(
                "Narrowing removes at least one column; to keep them all, confirm.",
                {"keep": "Nothing removed."},
            )
        review = review_grant(
            session,
            grant_id=grant.id,
            keep=kept,
            comment=text or f"access certification: {item.period.name}",
            by=by,
            now=now,
        )
        removed = [c for c in review.removed_columns.split(",") if c]
    item.decided_by_id = by.id
    item.decided_at = now
    item.removed_columns = ",".join(removed)
    item.comment = text[:4000]
    LIFECYCLE.apply(
        session,
        item,
        chosen,
        by=by,
        record={
            **_fields(item),
            "now": now,
            "detail": {
                "period_id": item.period_id,
                "grant_id": item.grant_id,
                "holder_id": item.holder_id,
                "removed": removed,
            },
        },
    )
    return item


@dataclass(frozen=True)
class StewardItem:
    item: CertificationItem
    holder: str
    dataset: str
    columns: list[str]
    own: bool


def steward_items(session: Session, *, by: Actor, pending_only: bool = False) -> list[StewardItem]:
    """Items of the certifying periods on the datasets this person stewards."""
    authz.require(
        by,
        Permission.GRANT_REVIEW,
        audit={"event_type": AuditType.CERTIFICATION_CONFIRM, "target_type": "certification_item"},
    )
    query = (
        select(CertificationItem, User.name, Dataset.name)
        .join(AuditPeriod, AuditPeriod.id == CertificationItem.period_id)
        .join(DatasetSteward, DatasetSteward.dataset_id == CertificationItem.dataset_id)
        .join(User, User.id == CertificationItem.holder_id)
        .join(Dataset, Dataset.id == CertificationItem.dataset_id)
        .where(AuditPeriod.status == PeriodStatus.CERTIFYING, DatasetSteward.user_id == by.id)
        .order_by(AuditPeriod.certify_by, CertificationItem.id)
    )
    if pending_only:
        query = query.where(CertificationItem.status == ItemStatus.PENDING)
    found = []
    for item, holder, dataset in session.execute(query):
        grant = get_grant(session, item.grant_id)
        found.append(
            StewardItem(item, holder, dataset, list(grant.column_names), item.holder_id == by.id)
        )
    return found


def steward_tasks(session: Session, user: Any) -> list[tasks.Task]:
    """The dashboard's line for each certifying period with grants left to certify."""
    waiting: dict[int, list[CertificationItem]] = defaultdict(list)
    for entry in steward_items(session, by=user, pending_only=True):
        if not entry.own:
            waiting[entry.item.period_id].append(entry.item)
    return [
        tasks.Task(
            title=f"Certify {len(items)} grant(s) for {items[0].period.name}",
            kind="certification",
            endpoint="compliance.certifications",
            due=items[0].period.certify_by.date() if items[0].period.certify_by else None,
        )
        for items in waiting.values()
    ]


def remind_certifiers(session: Session, actor: System, now: dt.datetime) -> int:
    """Tell the stewards of pending items once in the week before the deadline and once when
    it has passed (the period's owner too, then); returns how many items were reminded of."""
    periods = session.scalars(
        select(AuditPeriod).where(AuditPeriod.status == PeriodStatus.CERTIFYING)
    ).all()
    reminded = 0
    for period in periods:
        deadline = period.certify_by
        if deadline is None or now < deadline - REMIND_BEFORE:
            continue
        overdue = now > deadline
        due = [
            item
            for item in period.items
            if item.status == ItemStatus.PENDING
            and (item.reminded_at is None or (overdue and item.reminded_at <= deadline))
        ]
        if not due:
            continue
        recipients = steward_emails(session, {item.dataset_id for item in due})
        if overdue:
            owner = session.get(User, period.owner_id)
            recipients |= {owner.email} if owner is not None else set()
        for item in due:
            item.reminded_at = now
        state = "overdue since" if overdue else "due by"
        notify.queue(
            session,
            to=recipients,
            subject=f"Access certification {state} {deadline:%Y-%m-%d}: {period.name}",
            body=(
                f"{len(due)} grant(s) are still to confirm, narrow or revoke, {state} "
                f"{deadline:%Y-%m-%d %H:%M} UTC: "
                f"{notify.link(session, '/compliance/certifications')}"
            ),
        )
        audit.record(
            session,
            AuditType.CERTIFICATION_REMIND,
            by=actor,
            target_type="audit_period",
            target_id=period.id,
            detail={"items": [item.id for item in due], "overdue": overdue},
            now=now,
        )
        reminded += len(due)
    return reminded


def steward_emails(session: Session, dataset_ids: set[int]) -> set[str]:
    """The active stewards' addresses of these datasets."""
    return set(
        session.scalars(
            select(User.email)
            .join(DatasetSteward, DatasetSteward.user_id == User.id)
            .where(DatasetSteward.dataset_id.in_(dataset_ids or {-1}), User.active.is_(True))
        )
    )
