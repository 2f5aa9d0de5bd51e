"""The one registry of sealed kinds, and the one mechanism that seals their rows whenever the
application writes them (kernel/row_seals.py says how a seal is made; kernel/sealed_rows.py what
a kind is).

Every kind is registered here by registry.py: grants and training records (access/seals.py),
accounts, roles and credentials (identity/seals.py), agreements and their versions
(access/agreement_seals.py). A kind of one table declares its table and the columns its seal
covers (`SealedKind`, primary key first); a kind of several tables declares its functions
(`sealed_rows.CompositeKind`). Whoever registers a kind gets, without writing any more of it:

* sealing on write: before every flush, which of the stored rows it changes hold their seal;
  after it, the new rows and those that held are read back as stored and sealed in the same
  transaction; an ORM statement (a bulk UPDATE, INSERT or DELETE) likewise, around it. A stored
  row whose seal did not hold is not sealed again (logged at CRITICAL): a row written outside
  the application stays refused when the application later writes it (the write does not
  launder it). Writes that change no sealed column of a one-table kind cost nothing more;
* `seal_unsealed_once`, for `governance init`: the rows stored before their kind was sealed,
  sealed once per database and kind and recorded in the trail the caller hands in; a kind the
  trail records as sealed once is never sealed that way again, so blanking a seal and waiting
  for an upgrade launders nothing;
* `broken`, for the alert job: the rows that matter whose seal does not hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Table, event, select, tuple_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, Session

from governance.kernel import row_seals
from governance.kernel.sealed_rows import (
    Broken,
    Flush,
    Kind,
    Written,
    batches,
    listed,
    ring,
    sets,
    store,
    where,
)

log = logging.getLogger(__name__)

Key = tuple[Any, ...]
K = TypeVar("K", bound=Kind)


@dataclass(frozen=True)
class SealedKind:
    """A kind of one table, declared by the columns its seal covers."""

    kind: str  # the seal's subkey label and the alert's target type
    model: type[Any]  # a mapped class with a `seal` column
    fields: tuple[Any, ...]  # the sealed columns (instrumented attributes), primary key first
    rule: str  # the rule a refusal or an alert names
    label: str  # how an alert names one row: "Role assignment", "API token"
    owner: Any  # the column naming the person a row is about (for the alert)
    live: Callable[[], Any] | None = None  # which rows the alert job checks (None: all)
    #: What the alert tells whoever handles it to do about such a row.
    remedy: str = "remove it, and make it again through the service if it was meant"
    #: The trail record of its one-time sealing (None: the first, which names its kinds).
    start: str | None = None

    @property
    def table(self) -> Table:
        return cast(Table, self.model.__table__)

    @property
    def keys(self) -> tuple[Any, ...]:
        return tuple(sa_inspect(self.model).primary_key)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields)

    @property
    def models(self) -> tuple[type[Any], ...]:
        return (self.model,)

    @property
    def tables(self) -> frozenset[str]:
        return frozenset({self.table.name})

    def touched(
        self, session: Session, instances: list[Any], flush: Flush
    ) -> tuple[set[Key], set[Key]]:
        stored: set[Key] = set()
        new: set[Key] = set()
        for instance in instances:
            if instance in flush.new:
                key = _key(self, instance)
                if None not in key:
                    new.add(key)
            elif instance not in flush.deleted:
                state = sa_inspect(instance)
                if state.identity is not None and any(
                    state.attrs[name].history.has_changes() for name in self.names
                ):
                    stored.add(tuple(state.identity))
        return stored, new

    def statement(self, session: Session, table: str, state: ORMExecuteState) -> Written | None:
        if state.is_insert:
            rows = listed(state)
            names = [c.key for c in self.keys]
            if not rows or not all(all(n in p for n in names) for p in rows):
                raise ValueError(
                    f"A bulk INSERT into {self.table.name} names each row's key, so it can be "
                    "sealed."
                )
            return Written(inserted=[tuple(p[n] for n in names) for p in rows])
        if not state.is_update or not sets(state) & self.names:
            return None  # no sealed column changes (or the seals' own statement)
        query = select(*self.keys)
        selected = where(state)
        if selected is not None:
            query = query.where(selected)
        return Written(changed=[tuple(r) for r in session.execute(query)])

    def held(self, session: Session, keys: Iterable[Key]) -> set[Key]:
        key = ring(session)
        found: set[Key] = set()
        for batch in batches(keys):
            rows = session.connection().execute(
                select(*self.fields, self.model.seal).where(_where(self, batch))
            )
            found |= {
                _key(self, r)
                for r in rows
                if row_seals.holds(key, self.kind, content(self, r), r.seal)
            }
        return found

    def seal(self, session: Session, keys: Iterable[Key]) -> int:
        key = ring(session)
        sealed = 0
        for batch in batches(keys):
            rows = session.connection().execute(select(*self.fields).where(_where(self, batch)))
            seals = {_key(self, r): row_seals.seal(key, self.kind, content(self, r)) for r in rows}
            store(session, self.model, seals)
            sealed += len(seals)
        return sealed

    def seal_unsealed(self, session: Session) -> int:
        unsealed = session.execute(select(*self.keys).where(self.model.seal.is_(None)))
        return self.seal(session, [tuple(r) for r in unsealed])

    def broken(self, session: Session) -> list[Broken]:
        query = select(*self.fields, self.model.seal, self.owner.label("sealed_owner"))
        if self.live is not None:
            query = query.where(self.live())
        key = ring(session)
        found: list[Broken] = []
        for r in session.execute(query.order_by(*self.keys)):
            if row_seals.holds(key, self.kind, content(self, r), r.seal):
                continue
            row_key = _key(self, r)
            row_id = row_key[0] if len(row_key) == 1 else ":".join(str(k) for k in row_key)
            agreements = self.concerning(session, r.sealed_owner)
            found.append(
                Broken(
                    self.kind,
                    row_id,
                    r.sealed_owner,
                    agreements,
                    self.rule,
                    self.label,
                    self.remedy,
                )
            )
        return found

    def concerning(self, session: Session, owner: Any) -> tuple[int, ...]:
        """The agreements an alert on a row about this person names (none, unless a kind says)."""
        return ()


def content(kind: SealedKind, row: Any) -> list[object]:
    return [getattr(row, f.key) for f in kind.fields]


def holds(session: Session, kind: SealedKind, row: Any) -> bool:
    """Whether this row (an instance or a result row with the fields and `seal`) is as the
    application last wrote it."""
    return row_seals.holds(ring(session), kind.kind, content(kind, row), row.seal)


def flag_broken_on_load(kind: SealedKind) -> None:
    """Set `seal_broken` on each instance of the kind as it is loaded or refreshed, so that
    what reads it (a person's roles, a dataset's stewards) leaves a broken row out without a
    query of its own; fail closed when there is no session or no key ring to check by."""

    def flag(instance: Any, context: Any, *_attrs: Any) -> None:
        instance.seal_broken = not _holds_logged(context.session, kind, instance)

    event.listen(kind.model, "load", flag)
    event.listen(kind.model, "refresh", flag)


def _holds_logged(session: Session | None, kind: SealedKind, row: Any) -> bool:
    if session is None:
        return False
    try:
        if holds(session, kind, row):
            return True
    except RuntimeError:  # a session without key rings: nothing can be checked
        return False
    log.warning("%s row %s fails its seal check (rule %s)", kind.kind, _key(kind, row), kind.rule)
    return False


def _key(kind: SealedKind, row: Any) -> Key:
    return tuple(getattr(row, c.key) for c in kind.keys)


def _where(kind: SealedKind, batch: list[Key]) -> Any:
    columns = kind.keys
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in batch])
    return tuple_(*columns).in_(batch)


# --- the registry ----------------------------------------------------------------------------

#: Every registered kind, in the order they were registered (the order they are sealed once
#: and reported in).
KINDS: dict[str, Kind] = {}
_BY_TABLE: dict[str, list[Kind]] = {}
#: The kinds whose rows an instance of a class may change, found once per class.
_BY_CLASS: dict[type[Any], tuple[Kind, ...]] = {}


def register(kind: K) -> K:
    """Seal the rows of this kind from now on (idempotent for the same declaration)."""
    KINDS[kind.kind] = kind
    _BY_TABLE.clear()
    for registered in KINDS.values():
        for table in registered.tables:
            _BY_TABLE.setdefault(table, []).append(registered)
    _BY_CLASS.clear()
    return kind


def _kinds_of(cls: type[Any]) -> tuple[Kind, ...]:
    found = _BY_CLASS.get(cls)
    if found is None:
        found = _BY_CLASS[cls] = tuple(k for k in KINDS.values() if issubclass(cls, k.models))
    return found


def _changed(session: Session) -> tuple[Flush, list[tuple[Kind, list[Any]]]]:
    """The flush's instances, and each registered kind it writes with its instances: a flush
    that writes no sealed kind (an audit event's) costs one look-up per instance."""
    flush = Flush(session.new, session.dirty, session.deleted)
    found: dict[str, list[Any]] = {}
    for instance in (*flush.new, *flush.dirty, *flush.deleted):
        for kind in _kinds_of(type(instance)):
            found.setdefault(kind.kind, []).append(instance)
    return flush, [(k, found[k.kind]) for k in KINDS.values() if k.kind in found]


# --- the hooks -------------------------------------------------------------------------------

_HELD = "sealed_kinds_held"


@event.listens_for(Session, "before_flush")
def _held_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Which of the stored rows this flush changes are sealed before it: only those are sealed
    again after it."""
    session.info.pop(_HELD, None)
    flush, changed = _changed(session)
    held: dict[str, set[Any]] = {}
    for kind, instances in changed:
        stored, _ = kind.touched(session, instances, flush)
        if stored:
            held[kind.kind] = kind.held(session, stored)
    if held:
        session.info[_HELD] = held


@event.listens_for(Session, "after_flush")
def _seal_flushed(session: Session, _context: Any) -> None:
    held: dict[str, set[Any]] = session.info.pop(_HELD, {})
    flush, changed = _changed(session)
    for kind, instances in changed:
        stored, new = kind.touched(session, instances, flush)
        if not stored and not new:
            continue
        kept = held.get(kind.kind, set())
        _refused(kind.kind, stored - kept - new)
        kind.seal(session, new | (stored & kept))


def _refused(kind: str, keys: set[Any]) -> None:
    if keys:
        log.critical(
            "%s %s changed by the service but not sealed again: its seal did not hold before",
            kind,
            ", ".join(str(k) for k in sorted(keys)),
        )


@event.listens_for(Session, "do_orm_execute")
def _seal_after_statement(state: ORMExecuteState) -> Any:
    """An ORM statement on a sealed kind's table: the rows it changed are sealed again once it
    has run (only those whose seal held before it), and the rows it inserted are sealed."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    table = getattr(getattr(state.statement, "table", None), "name", None)
    kinds = _BY_TABLE.get(table) if table else None
    if not kinds:
        return None
    session = state.session
    written = [(k, w) for k in kinds if (w := k.statement(session, str(table), state)) is not None]
    if not written:
        return None
    held = [(k, k.held(session, w.changed) if w.changed else set(), w.inserted) for k, w in written]
    result = state.invoke_statement()
    for kind, kept, inserted in held:
        kind.seal(session, {*kept, *inserted})
    return result


# --- once per database and kind --------------------------------------------------------------


class Trail(Protocol):
    """Where the one-time sealing is recorded (the audit trail: access/seals.py)."""

    def sealed_once(self, session: Session) -> set[str]:
        """Every kind the trail records as sealed once."""

    def record(self, session: Session, start: str | None, counts: dict[str, int]) -> None:
        """Record, as `start`, that the rows of these kinds stored without a seal were sealed."""


def starts() -> list[str | None]:
    """The records of the one-time sealing the registered kinds name, in their order."""
    return list(dict.fromkeys(k.start for k in KINDS.values()))


def seal_unsealed_once(session: Session, trail: Trail, start: str | None) -> dict[str, int]:
    """Seal the rows stored without a seal of each kind of `start` that the trail does not record
    as sealed once, and record it (one record naming them); how many rows of each it sealed
    (nothing when every kind of `start` was done)."""
    done = trail.sealed_once(session)
    counts = {
        k.kind: k.seal_unsealed(session)
        for k in KINDS.values()
        if k.start == start and k.kind not in done
    }
    if counts:
        trail.record(session, start, counts)
    return counts


def broken(session: Session) -> list[Broken]:
    """Every row of every kind whose seal does not hold, for the alert job (incidents/alerts.py):
    tampering is reported whether or not anyone reads with it."""
    return [row for kind in KINDS.values() for row in kind.broken(session)]
