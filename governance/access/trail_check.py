"""The audit trail as the record of a grant's one-way changes: a grant row put back whole to an
earlier sealed state (a backup restored after its revocation, narrowing or shortening) still
verifies its seal (access/seals.py), but it contradicts the trail, which a DBA cannot roll back
unnoticed (hash-chained and witnessed: docs/decisions/audit.md).

What the trail says of a grant (its successful `grant:*` events naming it) is a bound on what
its row may claim, never a source of access:

* a grant the trail says was revoked or expired is never live again (a re-grant is a new grant);
* a grant whose last pause or resumption was a pause is not active;
* its columns are within the last recorded set (`grant:narrow`'s `kept`);
* its end is not after the last recorded one, and it allows no download after one was taken
  away (`grant:narrow`'s `valid_until`, `allow_download`, recorded when an amendment brings the
  end forward or removes download).

A grant with no such event is bound by nothing here (its seal still holds it to what the
service wrote). The grant index asks this once per load, for all the grants it loads, with one
query on the trail (`ix_audit_event_target`); the alert job asks it of every live grant.
A grant that contradicts the trail allows nothing (rule `grant-trail`): fail closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.access import seals
from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantStatus
from governance.audit.models import AuditType
from governance.audit.targets import said_of
from governance.authz.grant_index import GRANT_TRAIL_RULE

#: The events that take something away from a grant, for good or until recorded otherwise.
RESTRICTING = (
    AuditType.GRANT_REVOKE,
    AuditType.GRANT_EXPIRE,
    AuditType.GRANT_NARROW,
    AuditType.GRANT_PAUSE,
    AuditType.GRANT_RESUME,
)
#: Above this many grants one query reads every restricting event of grants rather than
#: naming each grant (a process's first load of every live grant).
NAMED_LIMIT = 500


@dataclass
class Recorded:
    """What the trail last said of one grant."""

    ended: bool = False
    paused: bool = False
    columns: frozenset[str] | None = None
    valid_until: dt.datetime | None = None
    allow_download: bool | None = None

    def contradiction(
        self, status: str, columns: Iterable[str], valid_until: dt.datetime, allow_download: bool
    ) -> str | None:
        """Why a row with these values is not the grant the trail describes, or None."""
        if self.ended and status in LIVE_GRANT_STATUSES:
            return "the trail records that it ended"
        if self.paused and status == GrantStatus.ACTIVE:
            return "the trail records that it was paused and never resumed"
        extra = sorted(set(columns) - self.columns) if self.columns is not None else []
        if extra:
            return f"the trail records that it was narrowed to exclude {', '.join(extra)}"
        if self.valid_until is not None and _utc(valid_until) > self.valid_until:
            return f"the trail records that it ends at {self.valid_until.isoformat()}"
        if self.allow_download is False and allow_download:
            return "the trail records that its download was taken away"
        return None


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _apply(recorded: Recorded, event_type: str, detail: Mapping[str, Any]) -> None:
    if event_type in (AuditType.GRANT_REVOKE, AuditType.GRANT_EXPIRE):
        recorded.ended = True
    elif event_type == AuditType.GRANT_PAUSE:
        recorded.paused = True
    elif event_type == AuditType.GRANT_RESUME:
        recorded.paused = False
    elif event_type == AuditType.GRANT_NARROW:
        if isinstance(detail.get("kept"), list):
            recorded.columns = frozenset(str(c) for c in detail["kept"])
        if isinstance(detail.get("valid_until"), str):
            recorded.valid_until = _utc(dt.datetime.fromisoformat(detail["valid_until"]))
        if isinstance(detail.get("allow_download"), bool):
            recorded.allow_download = detail["allow_download"]


def recorded(session: Session, grant_ids: Sequence[int]) -> dict[int, Recorded]:
    """What the trail says of these grants (those it says anything of), in one query."""
    wanted = set(grant_ids)
    if not wanted:
        return {}
    named = sorted(str(i) for i in wanted) if len(wanted) <= NAMED_LIMIT else None
    query = said_of("grant", RESTRICTING, named)
    found: dict[int, Recorded] = {}
    for target_id, event_type, detail in session.execute(query):
        if target_id is None or not target_id.isdigit() or int(target_id) not in wanted:
            continue
        _apply(found.setdefault(int(target_id), Recorded()), event_type, detail or {})
    return found


def contradicted(
    session: Session, grants: Mapping[int, tuple[Any, Sequence[Any]]]
) -> dict[int, str]:
    """Of these grants (the rows of `seals.grant_rows` grouped by `seals.grouped`), those the
    trail contradicts, with why."""
    said = recorded(session, list(grants))
    found: dict[int, str] = {}
    for grant_id, trail in said.items():
        row, columns = grants[grant_id]
        why = trail.contradiction(
            row.status,
            (c.column_name for c in columns if c.column_name is not None),
            row.valid_until,
            bool(row.allow_download),
        )
        if why is not None:
            found[grant_id] = why
    return found


@dataclass(frozen=True)
class Contradiction:
    """A live grant whose row the audit trail contradicts, for the alert job
    (incidents/alerts.py), shaped as a broken seal is (`seals.Broken`)."""

    kind: str
    id: int
    user_id: int | None
    agreement_ids: tuple[int, ...]
    why: str
    rule: str = GRANT_TRAIL_RULE

    def describe(self) -> str:
        return (
            f"Grant {self.id} (person {self.user_id}) contradicts the audit trail (rule "
            f"{self.rule}): {self.why}, yet its row says otherwise. Its seal holds, so the row "
            "was put back in the database to a state the service wrote earlier (a restored "
            "backup). It allows nothing; find who had the database, and grant it again "
            "through the service if it was meant."
        )


def live_contradictions(session: Session, kind: str) -> list[Contradiction]:
    """Every live grant the trail contradicts (`kind` names grants in incidents)."""
    live = seals.grouped(
        session.execute(seals.grant_rows().where(Grant.status.in_(LIVE_GRANT_STATUSES)))
    )
    return [
        Contradiction(
            kind, grant_id, live[grant_id][0].user_id, (live[grant_id][0].agreement_id,), why
        )
        for grant_id, why in sorted(contradicted(session, live).items())
    ]


def trusted_grants(session: Session, grant_ids: Iterable[int]) -> set[int]:
    """Those of these grants whose seal holds and whose row the trail does not contradict, for
    the readers of grants outside the grant index (GA4GH visas, the grant's page)."""
    held = seals.sealed_grants(session, grant_ids)
    if not held:
        return held
    rows = seals.grouped(session.execute(seals.grant_rows().where(Grant.id.in_(sorted(held)))))
    return held - set(contradicted(session, rows))
