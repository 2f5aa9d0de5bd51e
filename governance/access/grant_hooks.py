"""Grants follow their agreement: ended when it ends, narrowed when an amendment narrows it.

Runs inside the agreement's own transition (see agreements/events.py), so an agreement never
expires, ends or drops a column while a grant made under it keeps working.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.access.conditions import refresh
from governance.access.eligibility import agreement_end
from governance.access.grants import (
    active_grants,
    end_grant,
    expire_grants,
    narrow_grant,
    record_narrowing,
)
from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantStatus, bump_epoch
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


NOT_COVERED = "the amendment no longer covers these columns"


@dataclass(frozen=True)
class GrantChange:
    """What an amendment does to one live grant: end it, or narrow its columns, end or
    download. The same plan is shown before approval and applied on approval."""

    grant: Grant
    ends: tuple[GrantStatus, str, str] | None = None  # (status, reason, clause)
    removed_columns: tuple[str, ...] = ()
    new_valid_until: dt.datetime | None = None  # when the amendment brings the end forward
    download_removed: bool = False

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.ends or self.removed_columns or self.new_valid_until or self.download_removed
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "grant_id": self.grant.id,
            "holder_id": self.grant.user_id,
            "ends": self.ends[1] if self.ends else None,
            "removed_columns": list(self.removed_columns),
            "new_valid_until": self.new_valid_until.isoformat() if self.new_valid_until else None,
            "download_removed": self.download_removed,
        }


def amendment_plan(
    session: Session, agreement: Agreement, version: AgreementVersion
) -> list[GrantChange]:
    """Each live grant of the agreement and what approving `version` would do to it."""
    end = agreement_end(version)
    plan = []
    for grant in active_grants(session, agreement_id=agreement.id):
        if not version.is_personnel(grant.user_id):
            plan.append(
                GrantChange(
                    grant,
                    ends=(
                        GrantStatus.REVOKED,
                        "the holder is no longer authorised personnel",
                        "personnel",
                    ),
                )
            )
            continue
        if grant.purpose not in version.permitted_uses:
            plan.append(
                GrantChange(
                    grant,
                    ends=(
                        GrantStatus.REVOKED,
                        "the purpose is no longer a permitted use",
                        "scope.permitted_uses",
                    ),
                )
            )
            continue
        covered = version.covered_columns(grant.dataset_id)
        removed = tuple(sorted(set(grant.column_names) - covered))
        if removed and not set(grant.column_names) & covered:
            # A grant left with no column ends (as narrow_grant would end it).
            plan.append(
                GrantChange(
                    grant,
                    ends=(GrantStatus.REVOKED, NOT_COVERED, "scope.datasets"),
                    removed_columns=removed,
                )
            )
            continue
        plan.append(
            GrantChange(
                grant,
                removed_columns=removed,
                new_valid_until=end if end < grant.valid_until else None,
                download_removed=grant.allow_download and not version.allows_row_level_download,
            )
        )
    return plan


def _apply_amendment(
    session: Session,
    agreement: Agreement,
    version: AgreementVersion,
    *,
    by: Actor,
    now: dt.datetime,
) -> None:
    kept = []
    for change in amendment_plan(session, agreement, version):
        grant = change.grant
        if change.ends is not None:
            status, reason, clause = change.ends
            end_grant(session, grant, status=status, by=by, now=now, reason=reason, clause=clause)
            continue
        narrow_grant(
            session,
            grant,
            keep=version.covered_columns(grant.dataset_id),
            reason=NOT_COVERED,
            by=by,
            now=now,
            clause="scope.datasets",
        )
        if grant.status not in LIVE_GRANT_STATUSES:
            continue
        grant.agreement_version = version.number
        if change.new_valid_until is not None:
            grant.valid_until = change.new_valid_until
        if change.download_removed:
            grant.allow_download = False
        if change.new_valid_until is not None or change.download_removed:
            _record_shortened(session, change, by=by, now=now)
        grant.changed_epoch = bump_epoch(session)
        kept.append(grant)
    # The amended terms may require other training, or end sooner.
    refresh(session, kept, by=by, now=now)


def _record_shortened(
    session: Session, change: GrantChange, *, by: Actor, now: dt.datetime
) -> None:
    """The trail keeps a grant's new end and download: a row later put back with the old ones
    contradicts it and allows nothing (access/trail_check.py)."""
    grant = change.grant
    record_narrowing(
        session,
        grant,
        removed=[],
        reason="the amendment brings its end forward or removes row-level download",
        by=by,
        now=now,
        clause="term.expiry_date" if change.new_valid_until else "access.row_level_download",
        valid_until=grant.valid_until.isoformat(),
        allow_download=grant.allow_download,
    )


def expire_due_grants(session: Session, actor: System, now: dt.datetime) -> int:
    return expire_grants(session, actor, now)
