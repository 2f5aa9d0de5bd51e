"""The keyed seals of the rows the door relies on: grants (with their columns) and training
records (governance/kernel/row_seals.py says how a seal is made), and the audit trail's record
of the one-time sealing of every sealed kind.

Both are sealed kinds, registered by registry.py with kernel/sealed_kinds.py, which seals their
rows whenever the application writes them (only rows whose seal held before the write). The
grant index checks a grant's seal each time it loads it (access/live_grants.py); the training
condition checks each training record it counts (access/conditions.py). A grant whose seal
fails allows nothing (rule `grant-seal`); a training record whose seal fails counts for
nothing (rule `training-seal`).

Rows from before their kind was sealed are sealed once, by `governance init` after the upgrade
that added the seals (`seal_unsealed_once`, `seal_kinds_once`), recorded in the audit trail;
after that record no command seals an unsealed row of the kind, so blanking a seal and waiting
for an upgrade does not launder a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import ORMExecuteState, Session

from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantColumn
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, of_type
from governance.authz.grant_index import GRANT_SEAL_RULE
from governance.identity.actors import Actor
from governance.identity.models import TrainingRecord
from governance.kernel import row_seals, sealed_kinds, sealed_rows
from governance.kernel.sealed_kinds import SealedKind
from governance.kernel.sealed_rows import Broken as Broken  # what `broken_seals` lists
from governance.kernel.sealed_rows import CompositeKind, Written

GRANT_KIND = "access_grant"
TRAINING_KIND = "training_record"
TRAINING_SEAL_RULE = "training-seal"
#: What an alert on a grant or a training record tells whoever handles it to do.
GRANT_REMEDY = "grant or record it again through the service if it was meant"

#: What decides what a grant allows, in its canonical order (the id first).
GRANT_FIELDS = (
    Grant.id,
    Grant.user_id,
    Grant.agreement_id,
    Grant.agreement_version,
    Grant.dataset_id,
    Grant.purpose,
    Grant.valid_from,
    Grant.valid_until,
    Grant.allow_download,
    Grant.status,
    Grant.granted_by_id,
    Grant.effective_until,
    Grant.effective_clause,
    Grant.effective_reason,
    Grant.effective_rule,
)
#: Each granted column: its name, the class it was granted under and its form.
COLUMN_FIELDS = (
    GrantColumn.column_name,
    GrantColumn.classification,
    GrantColumn.form,
    GrantColumn.form_key_id,
)
#: What decides which training a record proves.
TRAINING_FIELDS = (
    TrainingRecord.id,
    TrainingRecord.user_id,
    TrainingRecord.course,
    TrainingRecord.completed_on,
    TrainingRecord.expires_on,
    TrainingRecord.recorded_by_id,
)

ring = sealed_rows.ring


def grant_rows() -> Any:
    """Each grant with each of its columns (a grant without columns once, with None)."""
    return (
        select(*GRANT_FIELDS, Grant.seal, *COLUMN_FIELDS)
        .join(GrantColumn, GrantColumn.grant_id == Grant.id, isouter=True)
        .order_by(Grant.id)
    )


def grouped(rows: Iterable[Row[Any]]) -> dict[int, tuple[Row[Any], list[Row[Any]]]]:
    """The rows of `grant_rows` by grant: its first row and its column rows."""
    grants: dict[int, tuple[Row[Any], list[Row[Any]]]] = {}
    for row in rows:
        _, columns = grants.setdefault(row.id, (row, []))
        if row.column_name is not None:
            columns.append(row)
    return grants


def grant_content(row: Any, columns: Sequence[Any]) -> list[object]:
    granted = sorted(
        [getattr(c, f.key) for f in COLUMN_FIELDS] for c in columns if c.column_name is not None
    )
    return [*(getattr(row, f.key) for f in GRANT_FIELDS), granted]


def grant_seal_holds(key: Any, row: Any, columns: Sequence[Any]) -> bool:
    return row_seals.holds(key, GRANT_KIND, grant_content(row, columns), row.seal)


def training_content(row: Any) -> list[object]:
    return [getattr(row, f.key) for f in TRAINING_FIELDS]


def training_seal_holds(key: Any, row: Any) -> bool:
    return row_seals.holds(key, TRAINING_KIND, training_content(row), row.seal)


def sealed_grants(session: Session, grant_ids: Iterable[int]) -> set[int]:
    """Those of these grants whose seal holds (the flush's check before a write, and a reader
    of grants outside the grant index: the GA4GH visas asserted to other services)."""
    key = ring(session)
    held: set[int] = set()
    for batch in sealed_rows.batches(grant_ids):
        found = grouped(session.connection().execute(grant_rows().where(Grant.id.in_(batch))))
        held |= {i for i, (row, columns) in found.items() if grant_seal_holds(key, row, columns)}
    return held


def seal_grants(session: Session, grant_ids: Iterable[int]) -> int:
    """Seal these grants as they are stored now, in the session's transaction."""
    key = ring(session)
    sealed = 0
    for batch in sealed_rows.batches(grant_ids):
        found = grouped(session.connection().execute(grant_rows().where(Grant.id.in_(batch))))
        seals = {
            grant_id: row_seals.seal(key, GRANT_KIND, grant_content(row, columns))
            for grant_id, (row, columns) in found.items()
        }
        sealed_rows.store(session, Grant, seals)
        sealed += len(seals)
    return sealed


def _grants_written(session: Session, table: str, state: ORMExecuteState) -> Written | None:
    if table == GrantColumn.__tablename__:
        return Written(
            changed=sealed_rows.statement_rows(session, state, GrantColumn.grant_id, "grant_id")
        )
    if state.is_insert:
        rows = sealed_rows.listed(state)
        if not rows or not all(isinstance(p.get("id"), int) for p in rows):
            raise ValueError("A bulk INSERT of grants names each grant's id, so it can be sealed.")
        return Written(inserted=[p["id"] for p in rows])
    if not state.is_update or not sealed_rows.sets(state) - {"changed_epoch", "seal"}:
        return None  # the epoch listener's own statement (access/models.py), or the seals'
    return Written(changed=sealed_rows.statement_rows(session, state, Grant.id))


def _broken_grants(session: Session) -> list[Broken]:
    """Every live grant whose seal does not hold."""
    key = ring(session)
    live = grant_rows().where(Grant.status.in_(LIVE_GRANT_STATUSES))
    return [
        Broken(
            GRANT_KIND,
            grant_id,
            row.user_id,
            (row.agreement_id,),
            GRANT_SEAL_RULE,
            "Grant",
            GRANT_REMEDY,
        )
        for grant_id, (row, columns) in grouped(session.execute(live)).items()
        if not grant_seal_holds(key, row, columns)
    ]


GRANTS = CompositeKind(
    GRANT_KIND,
    models=(Grant, GrantColumn),
    tables=frozenset({Grant.__tablename__, GrantColumn.__tablename__}),
    # A granted column added, changed or removed changes what its grant allows.
    touched=lambda _session, changed, flush: sealed_rows.parent_touched(
        changed, flush, Grant, "grant_id"
    ),
    statement=_grants_written,
    held=sealed_grants,
    seal=seal_grants,
    unsealed=lambda session: session.scalars(select(Grant.id).where(Grant.seal.is_(None))),
    broken=_broken_grants,
)


class _TrainingKind(SealedKind):
    def concerning(self, session: Session, owner: Any) -> tuple[int, ...]:
        """The agreements under which the person holds a live grant."""
        return tuple(
            session.scalars(
                select(Grant.agreement_id)
                .where(Grant.user_id == owner, Grant.status.in_(LIVE_GRANT_STATUSES))
                .distinct()
                .order_by(Grant.agreement_id)
            )
        )


TRAINING = _TrainingKind(
    TRAINING_KIND,
    TrainingRecord,
    TRAINING_FIELDS,
    TRAINING_SEAL_RULE,
    "Training record",
    TrainingRecord.user_id,
    remedy=GRANT_REMEDY,
)
#: The door's kinds, in the order `governance init` seals them (registered with
#: kernel/sealed_kinds.py by registry.py).
KINDS = (GRANTS, TRAINING)

#: Every live grant, training record and row of another kind whose seal does not hold.
broken_seals = sealed_kinds.broken


# --- the trail's record of the one-time sealing ----------------------------------------------


@dataclass(frozen=True)
class _AuditTrail:
    """The records of the one-time sealing in the audit trail: the first
    (`grant:seals_start`), then one per kind added later with a record of its own (an
    agreement's terms: `agreement:seals_start`), each with its detail as it has always been
    written."""

    by: Actor
    now: dt.datetime

    def sealed_once(self, session: Session) -> set[str]:
        """The kinds each record names: the first in `detail.kinds` (but the oldest, written
        when it sealed only grants and training records); a later one counts each of its kinds
        beside the key id."""
        starts = {AuditType.GRANT_SEALS_START, *filter(None, sealed_kinds.starts())}
        done: set[str] = set()
        events = session.execute(
            select(AuditEvent.event_type, AuditEvent.detail).where(of_type(*sorted(starts)))
        )
        for event_type, detail in events:
            if event_type != AuditType.GRANT_SEALS_START:
                done |= set(detail or {}) - {"key_id"}
            else:
                done |= set((detail or {}).get("kinds", (GRANT_KIND, TRAINING_KIND)))
        return done

    def record(self, session: Session, start: str | None, counts: dict[str, int]) -> None:
        key_id = ring(session).current_id
        if start is not None:
            detail: dict[str, Any] = {**counts, "key_id": key_id}
        else:
            detail = {"kinds": counts, "key_id": key_id}
            if GRANT_KIND in counts:
                detail |= {"grants": counts[GRANT_KIND], "training_records": counts[TRAINING_KIND]}
        event_type = AuditType(start) if start is not None else AuditType.GRANT_SEALS_START
        audit.record(session, event_type, by=self.by, now=self.now, detail=detail)


def seal_unsealed_once(session: Session, *, by: Actor, now: dt.datetime) -> dict[str, int] | None:
    """Seal the rows stored before their kind was sealed, once per database and kind, for the
    kinds of the first record (`grant:seals_start`: grants, training records, accounts, roles,
    credentials): `governance init` calls it after every upgrade. Returns how many rows of each
    kind not sealed before it sealed, or None when the trail records that every such kind was
    done: from then on a row without a seal was written outside the application and stays
    refused."""
    trail = _AuditTrail(by, now)
    return sealed_kinds.seal_unsealed_once(session, trail, None) or None


def seal_kinds_once(session: Session, *, by: Actor, now: dt.datetime) -> dict[str, int]:
    """As `seal_unsealed_once`, for the kinds sealed under a later record of their own (an
    agreement's terms: `agreement:seals_start`), so a database whose grants were sealed by an
    earlier upgrade still seals such a kind, once. Returns how many rows of each kind it sealed
    now (none for a kind already done)."""
    trail = _AuditTrail(by, now)
    counts: dict[str, int] = {}
    for start in sealed_kinds.starts():
        if start is not None:
            counts |= sealed_kinds.seal_unsealed_once(session, trail, start)
    return counts
