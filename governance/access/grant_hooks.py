"""Grants follow their agreement: ended when it ends, narrowed when an amendment narrows it.

Runs inside the agreement's own transition (see agreements/events.py), so an agreement never
expires, ends or drops a column while a grant made under it keeps working.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from governance.access.conditions import refresh
from governance.access.eligibility import agreement_end
from governance.access.grants import (
    active_grants,
    end_grant,
    expire_grants,
    narrow_grant,
)
from governance.access.models import LIVE_GRANT_STATUSES, GrantStatus, bump_epoch
from governance.agreements.events import AgreementEvent
from governance.agreements.models import Agreement, AgreementVersion
from governance.identity.actors import Actor, System

ENDINGS = {
    AgreementEvent.EXPIRED: (GrantStatus.EXPIRED, "the agreement expired", "term.expiry_date"),
    AgreementEvent.TERMINATED: (
        GrantStatus.REVOKED,
        "the agreement was terminated",
        "term.termination",
    ),
    AgreementEvent.DESTROYED: (
        GrantStatus.REVOKED,
        "the agreement's data was destroyed",
        "retention.destruction_days",
    ),
    AgreementEvent.CLOSED: (
        GrantStatus.REVOKED,
        "the agreement was closed",
        "retention.destruction_days",
    ),
}


def follow_agreement(
    session: Session,
    *,
    agreement: Agreement,
    event: AgreementEvent,
    previous_version: AgreementVersion | None,
    new_version: AgreementVersion | None,
    by: Actor,
    now: dt.datetime,
) -> None:
    if event in ENDINGS:
        status, reason, clause = ENDINGS[event]
        for grant in active_grants(session, agreement_id=agreement.id):
            end_grant(session, grant, status=status, reason=reason, by=by, now=now, clause=clause)
    elif event == AgreementEvent.AMENDED and new_version is not None:
        _apply_amendment(session, agreement, new_version, by=by, now=now)


def _apply_amendment(
    session: Session,
    agreement: Agreement,
    version: AgreementVersion,
    *,
    by: Actor,
    now: dt.datetime,
) -> None:
    end = agreement_end(version)
    kept = []
    for grant in active_grants(session, agreement_id=agreement.id):
        if not version.is_personnel(grant.user_id):
            end_grant(
                session,
                grant,
                status=GrantStatus.REVOKED,
                by=by,
                now=now,
                reason="the holder is no longer authorised personnel",
                clause="personnel",
            )
            continue
        if grant.purpose not in version.permitted_uses:
            end_grant(
                session,
                grant,
                status=GrantStatus.REVOKED,
                by=by,
                now=now,
                reason="the purpose is no longer a permitted use",
                clause="scope.permitted_uses",
            )
            continue
        narrow_grant(
            session,
            grant,
            keep=version.covered_columns(grant.dataset_id),
            reason="the amendment no longer covers these columns",
            by=by,
            now=now,
            clause="scope.datasets",
        )
        if grant.status not in LIVE_GRANT_STATUSES:
            continue
        grant.agreement_version = version.number
        grant.valid_until = min(grant.valid_until, end)
        if not version.allows_row_level_download:
            grant.allow_download = False
        grant.changed_epoch = bump_epoch(session)
        kept.append(grant)
    # The amended terms may require other training, or end sooner.
    refresh(session, kept, by=by, now=now)


def expire_due_grants(session: Session, actor: System, now: dt.datetime) -> int:
    return expire_grants(session, actor, now)
