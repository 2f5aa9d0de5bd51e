"""The registry of sealed single-table kinds: each declares its table and the columns its seal
covers, and this module seals its rows whenever the application writes them.

A kind (`SealedKind`) names a mapped class with a `seal` column and the columns that decide what
a row allows (its primary key first): kernel/row_seals.py says how the seal over them is made.
Whoever registers a kind gets, without writing any more of it:

* sealing on write: after every flush that inserts a row of the kind or changes one of its
  sealed columns, and after every ORM statement (a bulk UPDATE or INSERT) on its table, the
  rows are read back as stored and sealed in the same transaction. A stored row is sealed
  again only if its seal held before the write: a row written outside the application stays
  refused when the application later writes it (the write does not launder it);
* `holds`, for the code that reads a row to decide something;
* `seal_unsealed`, for `governance init` to seal the rows stored before the kind was sealed,
  once (the caller records that it did);
* `broken`, for the alert job: the rows that matter (`live`) whose seal does not hold.

Writes that change only unsealed columns (a session's last-seen time, a failure count) cost
nothing more. Grants (a row with its columns) keep their own code (access/seals.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, event, select, tuple_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import set_committed_value

from governance.kernel import row_seals
from governance.kernel.keys import KeyRing, rings_of

log = logging.getLogger(__name__)

#: Rows sealed per statement.
BATCH = 500
_HELD = "sealed_kinds_held"

Key = tuple[Any, ...]


@dataclass(frozen=True)
class SealedKind:
    kind: str  # the seal's subkey label and the alert's target type
    model: type[Any]  # a mapped class with a `seal` column
    fields: tuple[Any, ...]  # the sealed columns (instrumented attributes), primary key first
    rule: str  # the rule a refusal or an alert names
    label: str  # how an alert names one row: "Role assignment", "API token"
    owner: Any  # the column naming the person a row is about (for the alert)
    live: Callable[[], Any] | None = None  # which rows the alert job checks (None: all)
    #: What the alert tells whoever handles it to do about such a row.
    remedy: str = "remove it, and make it again through the service if it was meant"

    @property
    def table(self) -> Table:
        return cast(Table, self.model.__table__)

    @property
    def keys(self) -> tuple[Any, ...]:
        return tuple(sa_inspect(self.model).primary_key)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields)


KINDS: dict[str, SealedKind] = {}
_BY_MODEL: dict[type[Any], SealedKind] = {}
_BY_TABLE: dict[str, SealedKind] = {}


def register(kind: SealedKind) -> SealedKind:
    """Seal the rows of this kind from now on (idempotent for the same declaration)."""
    KINDS[kind.kind] = kind
    _BY_MODEL[kind.model] = kind
    _BY_TABLE[kind.table.name] = kind
    return kind


def ring(session: Session) -> KeyRing:
    return rings_of(session).audit


def content(kind: SealedKind, row: Any) -> list[object]:
    return [getattr(row, f.key) for f in kind.fields]


def holds(session: Session, kind: SealedKind, row: Any) -> bool:
    """Whether this row (an instance or a result row with the fields and `seal`) is as the
    application last wrote it."""
    return row_seals.holds(ring(session), kind.kind, content(kind, row), row.seal)


def _key(kind: SealedKind, row: Any) -> Key:
    return tuple(getattr(row, c.key) for c in kind.keys)


def _where(kind: SealedKind, batch: list[Key]) -> Any:
    columns = kind.keys
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in batch])
    return tuple_(*columns).in_(batch)


def _batches(keys: Iterable[Key]) -> Iterator[list[Key]]:
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), BATCH):
        yield ordered[start : start + BATCH]


def sealed(session: Session, kind: SealedKind, keys: Iterable[Key]) -> set[Key]:
    """Those of these rows whose seal holds, as stored."""
    key = ring(session)
    held: set[Key] = set()
    for batch in _batches(keys):
        rows = session.connection().execute(
            select(*kind.fields, kind.model.seal).where(_where(kind, batch))
        )
        held |= {
            _key(kind, r) for r in rows if row_seals.holds(key, kind.kind, content(kind, r), r.seal)
        }
    return held


def seal(session: Session, kind: SealedKind, keys: Iterable[Key]) -> int:
    """Seal these rows as they are stored now, in the session's transaction."""
    key = ring(session)
    table = kind.table
    stored = 0
    for batch in _batches(keys):
        rows = session.connection().execute(select(*kind.fields).where(_where(kind, batch)))
        seals = {_key(kind, r): row_seals.seal(key, kind.kind, content(kind, r)) for r in rows}
        if not seals:
            continue
        match = and_(*(table.c[c.name] == bindparam(f"k_{c.name}") for c in kind.keys))
        session.connection().execute(
            update(table).where(match).values(seal=bindparam("new_seal")),
            [
                {**{f"k_{c.name}": v for c, v in zip(kind.keys, k, strict=True)}, "new_seal": s}
                for k, s in seals.items()
            ],
        )
        # The instances this session holds: as stored, so nothing marks them changed.
        for k, value in seals.items():
            instance = session.identity_map.get(session.identity_key(kind.model, k))
            if instance is not None:
                set_committed_value(instance, "seal", value)
        stored += len(seals)
    return stored


def seal_unsealed(session: Session, kind: SealedKind) -> int:
    """Seal every row of the kind stored without a seal (`governance init`, once)."""
    keys = [tuple(r) for r in session.execute(select(*kind.keys).where(kind.model.seal.is_(None)))]
    return seal(session, kind, keys)


def broken(session: Session, kind: SealedKind) -> list[tuple[Key, Any]]:
    """The rows that matter whose seal does not hold, with the person each is about."""
    query = select(*kind.fields, kind.model.seal, kind.owner.label("sealed_owner"))
    if kind.live is not None:
        query = query.where(kind.live())
    key = ring(session)
    return [
        (_key(kind, r), r.sealed_owner)
        for r in session.execute(query.order_by(*kind.keys))
        if not row_seals.holds(key, kind.kind, content(kind, r), r.seal)
    ]


def _touched(session: Session) -> tuple[dict[str, set[Key]], dict[str, list[Any]]]:
    """Stored rows of sealed kinds whose sealed columns this flush changes, and the new rows
    (their keys are known only after the flush)."""
    stored: dict[str, set[Key]] = {}
    new: dict[str, list[Any]] = {}
    for instance in session.new:
        kind = _BY_MODEL.get(type(instance))
        if kind is not None:
            new.setdefault(kind.kind, []).append(instance)
    for instance in session.dirty:
        kind = _BY_MODEL.get(type(instance))
        if kind is None or instance in session.deleted:
            continue
        state = sa_inspect(instance)
        if state.identity is None:
            continue
        if any(state.attrs[name].history.has_changes() for name in kind.names):
            stored.setdefault(kind.kind, set()).add(tuple(state.identity))
    return stored, new


@event.listens_for(Session, "before_flush")
def _held_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not _BY_MODEL:
        return
    stored, _ = _touched(session)
    if stored:
        session.info[_HELD] = {k: sealed(session, KINDS[k], keys) for k, keys in stored.items()}


@event.listens_for(Session, "after_flush")
def _seal_flushed(session: Session, _context: Any) -> None:
    if not _BY_MODEL:
        return
    held: dict[str, set[Key]] = session.info.pop(_HELD, {})
    stored, new = _touched(session)
    for name in set(stored) | set(new):
        kind = KINDS[name]
        kept = held.get(name, set())
        refused = stored.get(name, set()) - kept
        if refused:
            log.critical(
                "%s %s changed by the service but not sealed again: its seal did not hold before",
                name,
                ", ".join(str(k) for k in sorted(refused)),
            )
        fresh = {_key(kind, i) for i in new.get(name, [])}
        seal(session, kind, {k for k in fresh if None not in k} | (stored.get(name, set()) & kept))


def _listed(parameters: Any) -> list[dict[str, Any]]:
    listed = parameters if isinstance(parameters, list) else [parameters] if parameters else []
    return [p for p in listed if isinstance(p, dict)]


@event.listens_for(Session, "do_orm_execute")
def _seal_after_statement(state: ORMExecuteState) -> Any:
    """A bulk UPDATE or INSERT of a sealed kind through the session: the rows it wrote are
    sealed once it has run (an UPDATE: only those whose seal held before)."""
    if not (state.is_update or state.is_insert):
        return None
    kind = _BY_TABLE.get(getattr(getattr(state.statement, "table", None), "name", ""))
    if kind is None:
        return None
    session = state.session
    if state.is_insert:
        listed = _listed(state.parameters)
        names = [c.key for c in kind.keys]
        if not listed or not all(all(n in p for n in names) for p in listed):
            raise ValueError(
                f"A bulk INSERT into {kind.table.name} names each row's key, so it can be sealed."
            )
        result = state.invoke_statement()
        seal(session, kind, [tuple(p[n] for n in names) for p in listed])
        return result
    values = getattr(state.statement, "_values", None) or {}
    if not {getattr(k, "key", k) for k in values} & kind.names:
        return None  # no sealed column changes (or this module's own statement)
    where = getattr(state.statement, "whereclause", None)
    query = select(*kind.keys) if where is None else select(*kind.keys).where(where)
    held = sealed(session, kind, [tuple(r) for r in session.execute(query)])
    result = state.invoke_statement()
    seal(session, kind, held)
    return result
