"""Grants: created from approved requests, ended by expiry, revocation or the agreement.

A grant stops working at once when it expires (its end time is in every Casbin line), when a
steward revokes it, when its holder leaves the agreement's personnel, or when the agreement
expires, is terminated, closes, or is amended to drop its columns; and, while they have lapsed,
when a condition it depends on fails (conditions.py: the line's end is the earliest of
all of them). Every change bumps the policy epoch in the same transaction as the grant row and
its audit event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access import column_forms
from governance.access.grant_lifecycle import LIFECYCLE, Action
from governance.access.models import (
    LIVE_GRANT_STATUSES,
    ColumnForm,
    Grant,
    GrantColumn,
    GrantStatus,
    bump_epoch,
)
from governance.access.visibility import visible_grant
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.datasets.models import Classification, Dataset
from governance.identity.actors import Actor
from governance.kernel.errors import NotFound, ValidationFailed


def get_grant(session: Session, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(f"There is no grant {grant_id}.")
    return grant


def create_grant(
    session: Session,
    *,
    user_id: int,
    agreement_id: int,
    agreement_version: int,
    dataset_id: int,
    columns: Mapping[str, Classification],
    purpose: str,
    valid_until: dt.datetime,
    allow_download: bool,
    by: Actor,
    now: dt.datetime,
    request_id: int | None = None,
    forms: Mapping[str, ColumnForm] | None = None,
) -> Grant:
    """Write a grant and its audit event; the caller has checked eligibility and approval.

    `columns` maps each granted column to the classification it was approved under, which
    the grant keeps whatever later happens to the dataset's column. `forms` names the columns
    granted coarsened or pseudonymised (column_forms.py); a pseudonym keeps the id of the data
    key its secret comes from."""
    from governance.access import conditions as grant_conditions

    names = sorted(columns)
    if not names:
        raise ValidationFailed("A grant needs at least one column.", {"columns": "Choose one."})
    if valid_until <= now:
        raise ValidationFailed("A grant must end in the future.", {"end_date": "In the past."})
    grant = Grant(
        user_id=user_id,
        agreement_id=agreement_id,
        agreement_version=agreement_version,
        dataset_id=dataset_id,
        purpose=purpose,
        valid_from=now,
        valid_until=valid_until,
        allow_download=allow_download,
        status=GrantStatus.ACTIVE,
        granted_by_id=by.id,
        changed_epoch=bump_epoch(session),
    )
    forms = {name: form for name, form in (forms or {}).items() if name in columns}
    key_id = (
        column_forms.current_key_id(session) if ColumnForm.PSEUDONYMISED in forms.values() else None
    )
    grant.columns = [
        GrantColumn(
            column_name=name,
            classification=columns[name],
            form=forms.get(name),
            form_key_id=key_id if forms.get(name) == ColumnForm.PSEUDONYMISED else None,
        )
        for name in names
    ]
    session.add(grant)
    session.flush()
    end = grant_conditions.effective_ends(session, [grant], now)[grant.id]
    grant.effective_until, grant.effective_clause = end.at, end.clause
    grant.effective_reason = end.reason
    audit.record(
        session,
        AuditType.GRANT_CREATE,
        by=by,
        agreement_id=agreement_id,
        agreement_version=agreement_version,
        dataset_id=dataset_id,
        target_type="grant",
        target_id=grant.id,
        clause="scope.datasets",
        detail={
            "user_id": user_id,
            "columns": names,
            "purpose": purpose,
            "classification": {name: str(columns[name]) for name in names},
            **({"forms": {n: str(f) for n, f in sorted(forms.items())}} if forms else {}),
            "valid_until": valid_until.isoformat(),
            "effective_until": end.at.isoformat(),
            "ends_by": end.clause,
            "allow_download": allow_download,
            "request_id": request_id,
        },
        now=now,
    )
    return grant


def can_manage(by: Actor, dataset: Dataset) -> bool:
    """Stewards of the dataset and privacy officers may revoke and review its grants."""
    return authz.can(by, Permission.GRANT_REVOKE) and rules.manages_grants_of(by, dataset)


def check_revoke(session: Session, grant_id: int, by: Actor) -> Grant:
    """404 (as for no such grant) if `by` may not see it, 403 if they may not revoke it, 409
    if it has ended; changes nothing (the API asks it before reading the body)."""
    grant = visible_grant(session, grant_id, by, event=AuditType.GRANT_REVOKE)
    refusal = {
        "event_type": AuditType.GRANT_REVOKE,
        "target_type": "grant",
        "target_id": grant_id,
        "agreement_id": grant.agreement_id,
        "dataset_id": grant.dataset_id,
    }
    authz.require(by, Permission.GRANT_REVOKE, audit=refusal)
    rules.require(
        rules.manages_grants_of,
        by,
        session.get(Dataset, grant.dataset_id),
        message="Only the dataset's stewards or a privacy officer may revoke its grants.",
        audit=refusal,
    )
    LIFECYCLE.check(grant, Action.REVOKE)
    return grant


def revoke_grant(
    session: Session, *, grant_id: int, reason: str, by: Actor, now: dt.datetime
) -> Grant:
    grant = check_revoke(session, grant_id, by)
    if not reason.strip():
        raise ValidationFailed("Say why the grant is revoked.", {"reason": "Required."})
    end_grant(
        session,
        grant,
        action=Action.REVOKE,
        status=GrantStatus.REVOKED,
        reason=reason.strip(),
        by=by,
        now=now,
    )
    return grant


def end_grant(
    session: Session,
    grant: Grant,
    *,
    status: GrantStatus,
    reason: str,
    by: Actor,
    now: dt.datetime,
    clause: str | None = None,
    action: Action = Action.END,
) -> None:
    """End a live grant (revoked or expired, as `status` says) with its audit event."""
    grant.ended_at = now
    grant.ended_by_id = by.id
    grant.end_reason = reason
    grant.changed_epoch = bump_epoch(session)
    LIFECYCLE.apply(
        session,
        grant,
        action,
        by=by,
        target=status,
        record={
            "agreement_id": grant.agreement_id,
            "agreement_version": grant.agreement_version,
            "dataset_id": grant.dataset_id,
            "target_type": "grant",
            "target_id": grant.id,
            "clause": clause,
            "now": now,
            "detail": {"user_id": grant.user_id, "columns": grant.column_names, "reason": reason},
        },
    )


def narrow_grant(
    session: Session,
    grant: Grant,
    *,
    keep: Iterable[str],
    reason: str,
    by: Actor,
    now: dt.datetime,
    clause: str | None = None,
) -> list[str]:
    """Keep only some columns (minimum necessary); ends the grant if none remain."""
    kept = set(keep)
    removed = sorted(set(grant.column_names) - kept)
    if not removed:
        return []
    if not kept & set(grant.column_names):
        end_grant(
            session, grant, status=GrantStatus.REVOKED, reason=reason, by=by, now=now, clause=clause
        )
        return removed
    grant.columns = [c for c in grant.columns if c.column_name in kept]
    grant.changed_epoch = bump_epoch(session)
    record_narrowing(session, grant, removed=removed, reason=reason, by=by, now=now, clause=clause)
    return removed


def record_narrowing(
    session: Session,
    grant: Grant,
    *,
    removed: list[str],
    reason: str,
    by: Actor,
    now: dt.datetime,
    clause: str | None,
    **more: object,
) -> None:
    """The `grant:narrow` event: what the grant keeps (and, from an amendment, its new end and
    download), which a row later put back must not exceed (access/trail_check.py)."""
    audit.record(
        session,
        AuditType.GRANT_NARROW,
        by=by,
        agreement_id=grant.agreement_id,
        agreement_version=grant.agreement_version,
        dataset_id=grant.dataset_id,
        target_type="grant",
        target_id=grant.id,
        clause=clause,
        detail={
            "user_id": grant.user_id,
            "removed": removed,
            "kept": sorted(grant.column_names),
            **more,
            "reason": reason,
        },
        now=now,
    )


def active_grants(session: Session, **filters: int) -> list[Grant]:
    """Grants that have not ended (active, or paused while a condition has lapsed)."""
    query = select(Grant).where(Grant.status.in_(LIVE_GRANT_STATUSES))
    for name, value in filters.items():
        query = query.where(getattr(Grant, name) == value)
    return list(session.scalars(query.order_by(Grant.id)))


def expire_grants(session: Session, actor: Actor, now: dt.datetime) -> int:
    """Mark grants past their end as expired. They already stopped working at their end
    time (the Casbin line carries it); this keeps lists and dashboards truthful."""
    due = session.scalars(
        select(Grant).where(Grant.status.in_(LIVE_GRANT_STATUSES), Grant.valid_until <= now)
    ).all()
    for grant in due:
        end_grant(
            session,
            grant,
            status=GrantStatus.EXPIRED,
            reason="reached its end date",
            by=actor,
            now=now,
            clause="access.valid_until",
            action=Action.EXPIRE,
        )
    return len(due)
