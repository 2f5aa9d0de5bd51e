"""The keyed seals of the rows the door relies on: grants (with their columns) and training
records (governance/kernel/row_seals.py says how a seal is made).

The application seals a row whenever it writes one: after every flush that touched a grant, a
granted column or a training record, and after every ORM statement (a bulk UPDATE) on those
tables, the rows are read back as stored and their seals written beside them, in the same
transaction. The grant index checks a grant's seal each time it loads it
(access/live_grants.py); the training condition checks each training record it counts
(access/conditions.py). A grant whose seal fails allows nothing (rule `grant-seal`); a training
record whose seal fails counts for nothing (rule `training-seal`).

Rows from before seals were kept are sealed once, by `governance init` after the upgrade that
added them (`seal_unsealed_once`), recorded in the audit trail; after that record no command
seals an unsealed row, so blanking a seal and waiting for an upgrade does not launder a row.

Other kinds of rows are sealed by the same hooks through a `SealedKind` registered here (an
agreement's terms: access/agreement_seals.py), each sealed once after its own upgrade under its
own start event (`seal_kinds_once`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, event, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import set_committed_value

from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantColumn
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, of_type
from governance.authz.grant_index import GRANT_SEAL_RULE
from governance.identity.actors import Actor
from governance.identity.models import TrainingRecord
from governance.kernel import row_seals, sealed_kinds
from governance.kernel.keys import KeyRing, rings_of

log = logging.getLogger(__name__)

GRANT_KIND = "access_grant"
TRAINING_KIND = "training_record"
TRAINING_SEAL_RULE = "training-seal"
#: Rows sealed per statement.
BATCH = 1000

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


def ring(session: Session) -> KeyRing:
    return rings_of(session).audit


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


def grant_seal_holds(key: KeyRing, row: Any, columns: Sequence[Any]) -> bool:
    return row_seals.holds(key, GRANT_KIND, grant_content(row, columns), row.seal)


def training_content(row: Any) -> list[object]:
    return [getattr(row, f.key) for f in TRAINING_FIELDS]


def training_seal_holds(key: KeyRing, row: Any) -> bool:
    return row_seals.holds(key, TRAINING_KIND, training_content(row), row.seal)


def sealed_grants(session: Session, grant_ids: Iterable[int]) -> set[int]:
    """Those of these grants whose seal holds, for a reader of grants outside the grant index
    (the GA4GH visas asserted to other services)."""
    key = ring(session)
    held: set[int] = set()
    for batch in _batches(grant_ids):
        found = grouped(session.connection().execute(grant_rows().where(Grant.id.in_(batch))))
        held |= {i for i, (row, columns) in found.items() if grant_seal_holds(key, row, columns)}
    return held


def seal_grants(session: Session, grant_ids: Iterable[int]) -> int:
    """Seal these grants as they are stored now, in the session's transaction."""
    key = ring(session)
    connection = session.connection()
    sealed = 0
    for batch in _batches(grant_ids):
        found = grouped(connection.execute(grant_rows().where(Grant.id.in_(batch))))
        seals = {
            grant_id: row_seals.seal(key, GRANT_KIND, grant_content(row, columns))
            for grant_id, (row, columns) in found.items()
        }
        _store(session, Grant, seals)
        sealed += len(seals)
    return sealed


def seal_training(session: Session, record_ids: Iterable[int]) -> int:
    """Seal these training records as they are stored now."""
    key = ring(session)
    sealed = 0
    for batch in _batches(record_ids):
        rows = session.connection().execute(
            select(*TRAINING_FIELDS).where(TrainingRecord.id.in_(batch))
        )
        seals = {row.id: row_seals.seal(key, TRAINING_KIND, training_content(row)) for row in rows}
        _store(session, TrainingRecord, seals)
        sealed += len(seals)
    return sealed


def _batches(ids: Iterable[int]) -> Iterator[list[int]]:
    """The ids, sorted, in lists short enough for any database's bound parameters."""
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), BATCH):
        yield ordered[start : start + BATCH]


def _store(session: Session, model: type[Any], seals: dict[int, str]) -> None:
    if not seals:
        return
    table = cast(Table, model.__table__)
    session.connection().execute(
        update(table).where(table.c.id == bindparam("row_id")).values(seal=bindparam("new_seal")),
        [{"row_id": row_id, "new_seal": value} for row_id, value in seals.items()],
    )
    # The instances this session holds: as stored, so nothing marks them changed.
    for row_id, value in seals.items():
        instance = session.identity_map.get(session.identity_key(model, row_id))
        if instance is not None:
            set_committed_value(instance, "seal", value)


_HELD = "row_seals_held"


def sealed_training(session: Session, record_ids: Iterable[int]) -> set[int]:
    """Those of these training records whose seal holds."""
    key = ring(session)
    held: set[int] = set()
    for batch in _batches(record_ids):
        rows = session.connection().execute(
            select(*TRAINING_FIELDS, TrainingRecord.seal).where(TrainingRecord.id.in_(batch))
        )
        held |= {row.id for row in rows if training_seal_holds(key, row)}
    return held


def _stored_id(instance: object) -> Any:
    """The first part of a persistent instance's primary key, without loading it; None for
    one not yet stored."""
    identity = sa_inspect(instance).identity
    return None if identity is None else identity[0]


def _touched(session: Session) -> tuple[set[int], set[int], set[int], set[int]]:
    """Stored grants and training records this flush changes, and the new ones (with ids
    only after the flush)."""
    grants: set[int] = set()
    training: set[int] = set()
    new_grants: set[int] = set()
    new_training: set[int] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Grant | TrainingRecord):
            stored = _stored_id(instance)
            kept, fresh = (
                (grants, new_grants) if isinstance(instance, Grant) else (training, new_training)
            )
            if instance in session.new:
                if instance.id is not None:
                    fresh.add(instance.id)
            elif stored is not None and instance not in session.deleted:
                kept.add(stored)
        elif isinstance(instance, GrantColumn):
            grant_id = instance.grant_id if instance in session.new else _stored_id(instance)
            if grant_id is not None:
                grants.add(grant_id)
    return grants, training, new_grants, new_training


@event.listens_for(Session, "before_flush")
def _held_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Which of the stored rows this flush changes are sealed before it: only those are sealed
    again after it. A row written outside the service stays unsealed when the service later
    writes it (the conditions job setting its effective end...): the write does not launder
    it."""
    grants, training, _, _ = _touched(session)
    if not grants and not training:
        return
    session.info[_HELD] = (
        sealed_grants(session, grants) if grants else set(),
        sealed_training(session, training) if training else set(),
    )


@event.listens_for(Session, "after_flush")
def _seal_flushed(session: Session, _context: Any) -> None:
    held_grants, held_training = session.info.pop(_HELD, (set(), set()))
    grants, training, new_grants, new_training = _touched(session)
    if not (grants or training or new_grants or new_training):
        return
    _refused(GRANT_KIND, grants - held_grants - new_grants)
    _refused(TRAINING_KIND, training - held_training - new_training)
    seal_grants(session, new_grants | (grants & held_grants))
    seal_training(session, new_training | (training & held_training))


def _refused(kind: str, ids: set[int]) -> None:
    if ids:
        log.critical(
            "%s %s changed by the service but not sealed again: its seal did not hold before",
            kind,
            ", ".join(str(i) for i in sorted(ids)),
        )


def _listed(parameters: Any) -> list[dict[str, Any]]:
    """A statement's parameters as a list of dicts (an executemany's, or the one set)."""
    listed = parameters if isinstance(parameters, list) else [parameters] if parameters else []
    return [p for p in listed if isinstance(p, dict)]


@event.listens_for(Session, "do_orm_execute")
def _seal_after_statement(state: ORMExecuteState) -> Any:
    """A bulk UPDATE (or INSERT, DELETE of granted columns) through the session: the rows it
    touched are sealed again once it has run."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    table = getattr(getattr(state.statement, "table", None), "name", None)
    where = getattr(state.statement, "whereclause", None)
    session = state.session
    if table == Grant.__tablename__ and state.is_insert:
        listed = _listed(state.parameters)
        if not listed or not all(isinstance(p.get("id"), int) for p in listed):
            raise ValueError("A bulk INSERT of grants names each grant's id, so it can be sealed.")
        result = state.invoke_statement()
        seal_grants(session, [p["id"] for p in listed])
        return result
    if table == Grant.__tablename__ and state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        if not {getattr(k, "key", k) for k in values} - {"changed_epoch", "seal"}:
            return None  # the epoch listener's own statement, or this module's
        query = select(Grant.id) if where is None else select(Grant.id).where(where)
        held = sealed_grants(session, session.scalars(query))
        result = state.invoke_statement()
        seal_grants(session, held)
        return result
    if table == GrantColumn.__tablename__:
        named = {p["grant_id"] for p in _listed(state.parameters) if "grant_id" in p}
        before: set[int] = set()
        if where is not None:
            before = set(session.scalars(select(GrantColumn.grant_id).where(where)))
        if state.is_insert and not named:
            named = set(session.scalars(select(GrantColumn.grant_id).distinct()))
        held = sealed_grants(session, before | named)
        result = state.invoke_statement()
        seal_grants(session, held)
        return result
    if table == TrainingRecord.__tablename__ and state.is_update:
        query = select(TrainingRecord.id)
        held = sealed_training(
            session, session.scalars(query if where is None else query.where(where))
        )
        result = state.invoke_statement()
        seal_training(session, held)
        return result
    return None


def seal_unsealed_once(session: Session, *, by: Actor, now: dt.datetime) -> dict[str, int] | None:
    """Seal the rows of each sealed kind stored before that kind was sealed, once per
    database and kind: `governance init` calls it after every upgrade. Returns how many rows
    of each kind not sealed before it sealed, or None when the trail records that every kind
    was done: from then on a row without a seal was written outside the application and stays
    refused. Each run is one `grant:seals_start` event naming its kinds (the first, from
    before other kinds were sealed, names none: it did grants and training records)."""
    done: set[str] = set()
    for detail in session.scalars(
        select(AuditEvent.detail).where(of_type(AuditType.GRANT_SEALS_START))
    ):
        done |= set((detail or {}).get("kinds", (GRANT_KIND, TRAINING_KIND)))
    counts: dict[str, int] = {}
    if GRANT_KIND not in done:
        counts[GRANT_KIND] = seal_grants(
            session, session.scalars(select(Grant.id).where(Grant.seal.is_(None)))
        )
    if TRAINING_KIND not in done:
        counts[TRAINING_KIND] = seal_training(
            session,
            session.scalars(select(TrainingRecord.id).where(TrainingRecord.seal.is_(None))),
        )
    for kind in sealed_kinds.KINDS.values():
        if kind.kind not in done:
            counts[kind.kind] = sealed_kinds.seal_unsealed(session, kind)
    if not counts:
        return None
    recorded: dict[str, Any] = {"kinds": counts, "key_id": ring(session).current_id}
    if GRANT_KIND in counts:
        recorded |= {"grants": counts[GRANT_KIND], "training_records": counts[TRAINING_KIND]}
    audit.record(session, AuditType.GRANT_SEALS_START, by=by, now=now, detail=recorded)
    return counts


@dataclass(frozen=True)
class Broken:
    """A row whose seal does not hold: written or changed outside the application."""

    kind: str  # GRANT_KIND, TRAINING_KIND or a registered kind's
    id: int | str  # a row with a key of several columns: them joined by ":"
    user_id: int | None
    agreement_ids: tuple[int, ...]
    rule: str
    #: What the row is ("Role assignment", "Agreement version"), for a registered kind, and
    #: what to do about it.
    label: str = ""
    remedy: str = "grant or record it again through the service if it was meant"

    def describe(self) -> str:
        what = self.label or ("Grant" if self.kind == GRANT_KIND else "Training record")
        whose = f" (person {self.user_id})" if self.user_id is not None else ""
        return (
            f"{what} {self.id}{whose} fails its seal check (rule {self.rule}): "
            "it was written or changed in the database outside the service, by someone "
            "with the database but not the audit key. It allows nothing; find who had the "
            f"database, and {self.remedy}."
        )


def broken_seals(session: Session) -> list[Broken]:
    """Every live grant, training record and row of a registered kind (identity/seals.py)
    whose seal does not hold, for the alert
    job (incidents/alerts.py): tampering is reported whether or not anyone reads with it."""
    key = ring(session)
    found: list[Broken] = []
    live = grant_rows().where(Grant.status.in_(LIVE_GRANT_STATUSES))
    for grant_id, (row, columns) in grouped(session.execute(live)).items():
        if not grant_seal_holds(key, row, columns):
            found.append(
                Broken(GRANT_KIND, grant_id, row.user_id, (row.agreement_id,), GRANT_SEAL_RULE)
            )
    records = session.execute(
        select(*TRAINING_FIELDS, TrainingRecord.seal).order_by(TrainingRecord.id)
    )
    for record in records:
        if not training_seal_holds(key, record):
            agreements = tuple(
                session.scalars(
                    select(Grant.agreement_id)
                    .where(Grant.user_id == record.user_id, Grant.status.in_(LIVE_GRANT_STATUSES))
                    .distinct()
                    .order_by(Grant.agreement_id)
                )
            )
            found.append(
                Broken(TRAINING_KIND, record.id, record.user_id, agreements, TRAINING_SEAL_RULE)
            )
    for kind in sealed_kinds.KINDS.values():
        for row_key, owner in sealed_kinds.broken(session, kind):
            row_id = row_key[0] if len(row_key) == 1 else ":".join(str(k) for k in row_key)
            found.append(Broken(kind.kind, row_id, owner, (), kind.rule, kind.label, kind.remedy))
    for composite in COMPOSITE_KINDS:
        found.extend(composite.broken(session))
    return found


# --- kinds whose rows span several tables ------------------------------------------------


@dataclass(frozen=True)
class CompositeKind:
    """A kind of row whose sealed content spans several tables (an agreement version with its
    covered columns and personnel: access/agreement_seals.py), sealed by the same hooks as
    grants and training records: what the flush and statement hooks, the one-time sealing
    and the alert job need of it. Its rows are sealed when the application writes them, and
    sealed again after a change only when their seal held before it. A kind of one table
    declares its columns instead (kernel/sealed_kinds.py)."""

    kind: str
    #: The classes whose instances, changed in a flush, change its rows.
    models: tuple[type[Any], ...]
    #: Of these changed instances (of `models`), the stored rows this flush changes and the
    #: new rows (whose ids are known after the flush).
    touched: Callable[[Session, list[Any]], tuple[set[int], set[int]]]
    #: Tables whose ORM statements (bulk UPDATE, INSERT, DELETE) change its rows, and the rows
    #: such a statement touches: (session, table, where clause or None, parameters).
    tables: frozenset[str]
    statement_rows: Callable[[Session, str, Any, list[dict[str, Any]]], set[int]]
    #: Those of these rows whose seal holds; seal these rows as stored; the unsealed rows.
    held: Callable[[Session, Iterable[int]], set[int]]
    seal: Callable[[Session, Iterable[int]], int]
    unsealed: Callable[[Session], Iterable[int]]
    #: The audit event recording that the rows stored before this kind was sealed were sealed.
    start: AuditType
    broken: Callable[[Session], list[Broken]] = field(default=lambda _session: [])


#: What a registered kind seals with: the ids in batches, and the seals written beside them.
batches = _batches
store = _store
#: The registered kinds, in the order they are sealed.
COMPOSITE_KINDS: list[CompositeKind] = []
_HELD_KINDS = "row_seals_held_kinds"


def register_composite(kind: CompositeKind) -> None:
    if all(k.kind != kind.kind for k in COMPOSITE_KINDS):
        COMPOSITE_KINDS.append(kind)


def _changed(session: Session) -> list[tuple[CompositeKind, list[Any]]]:
    """Each registered kind this flush changes, with its changed instances: the session's
    changed instances are listed once (`session.dirty` walks the identity map), and a flush
    that touches no sealed kind (an audit event's) costs one type check per instance."""
    instances = [*session.new, *session.dirty, *session.deleted]
    found = []
    for sealed in COMPOSITE_KINDS:
        mine = [i for i in instances if isinstance(i, sealed.models)]
        if mine:
            found.append((sealed, mine))
    return found


@event.listens_for(Session, "before_flush")
def _kinds_held_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """As `_held_before_flush`, for the registered kinds."""
    held: dict[str, set[int]] = {}
    for sealed, instances in _changed(session):
        stored, _ = sealed.touched(session, instances)
        if stored:
            held[sealed.kind] = sealed.held(session, stored)
    if held:
        session.info[_HELD_KINDS] = held


@event.listens_for(Session, "after_flush")
def _seal_kinds_flushed(session: Session, _context: Any) -> None:
    held = session.info.pop(_HELD_KINDS, {})
    for sealed, instances in _changed(session):
        stored, new = sealed.touched(session, instances)
        if not stored and not new:
            continue
        kept = held.get(sealed.kind, set())
        _refused(sealed.kind, stored - kept - new)
        sealed.seal(session, new | (stored & kept))


@event.listens_for(Session, "do_orm_execute")
def _seal_kinds_after_statement(state: ORMExecuteState) -> Any:
    """As `_seal_after_statement`, for the registered kinds."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    table = getattr(getattr(state.statement, "table", None), "name", None)
    sealed = next((k for k in COMPOSITE_KINDS if table in k.tables), None)
    if sealed is None or table is None:
        return None
    if state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        if not {getattr(k, "key", k) for k in values} - {"seal"}:
            return None  # this module's own statement
    where = getattr(state.statement, "whereclause", None)
    session = state.session
    rows = sealed.statement_rows(session, table, where, _listed(state.parameters))
    held = sealed.held(session, rows)
    result = state.invoke_statement()
    sealed.seal(session, held)
    return result


def seal_kinds_once(session: Session, *, by: Actor, now: dt.datetime) -> dict[str, int]:
    """As `seal_unsealed_once`, for each registered kind: the rows stored before the kind
    was sealed are sealed once per database, recorded by the kind's own start event, so a
    database that had already sealed its grants still seals a kind added later, once.
    Returns how many rows of each kind it sealed now (none for a kind already started)."""
    starts: dict[AuditType, list[CompositeKind]] = {}
    for sealed in COMPOSITE_KINDS:
        starts.setdefault(sealed.start, []).append(sealed)
    counts: dict[str, int] = {}
    for start, kinds in starts.items():
        if session.scalar(select(AuditEvent.seq).where(of_type(start)).limit(1)) is not None:
            continue
        done = {k.kind: k.seal(session, list(k.unsealed(session))) for k in kinds}
        audit.record(
            session, start, by=by, now=now, detail={**done, "key_id": ring(session).current_id}
        )
        counts |= done
    return counts
