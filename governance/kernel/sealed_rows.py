"""What a kind of sealed rows is, to the one set of hooks that seals them (kernel/sealed_kinds.py),
and the pieces every kind seals with: its rows read in batches, their seals written beside them,
the rows a flush or an ORM statement writes.

A kind of one table is declared by its columns (`sealed_kinds.SealedKind`); a kind whose sealed
content spans several tables (a grant with its granted columns, an agreement version with its
covered columns and personnel) by its functions (`CompositeKind`). Both are a `Kind`: what the
hooks, `governance init`'s one-time sealing and the alert job ask of it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import Table, and_, bindparam, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.util import IdentitySet

from governance.kernel.keys import KeyRing, rings_of

#: Rows read or sealed per statement: within any database's bound parameters, for a key of two
#: columns too.
BATCH = 500


@dataclass(frozen=True)
class Broken:
    """A row whose seal does not hold: written or changed outside the application."""

    kind: str
    id: int | str  # a row with a key of several columns: them joined by ":"
    user_id: int | None
    agreement_ids: tuple[int, ...]
    rule: str
    #: What the row is ("Grant", "Role", "Agreement version"), and what to do about it.
    label: str
    remedy: str

    def describe(self) -> str:
        whose = f" (person {self.user_id})" if self.user_id is not None else ""
        return (
            f"{self.label} {self.id}{whose} fails its seal check (rule {self.rule}): "
            "it was written or changed in the database outside the service, by someone "
            "with the database but not the audit key. It allows nothing; find who had the "
            f"database, and {self.remedy}."
        )


class Flush(NamedTuple):
    """The instances a flush writes, taken once per hook (the session builds each set anew)."""

    new: IdentitySet
    dirty: IdentitySet
    deleted: IdentitySet


class Written(NamedTuple):
    """What an ORM statement writes of a kind: the stored rows it changes, sealed again after it
    only if their seal held before it, and the rows it inserts, sealed after it."""

    changed: Collection[Any] = ()
    inserted: Collection[Any] = ()


class Kind(Protocol):
    """A kind of sealed rows (its key: a row's primary key, or its parent's for a kind of
    several tables)."""

    @property
    def kind(self) -> str:
        """The seal's subkey label and the alert's target type."""

    @property
    def start(self) -> str | None:
        """The trail record of its one-time sealing; None: the first (`grant:seals_start`),
        which names the kinds it sealed."""

    @property
    def models(self) -> tuple[type[Any], ...]:
        """The classes whose instances, written by a flush, may change its rows."""

    @property
    def tables(self) -> frozenset[str]:
        """The tables whose ORM statements may change its rows."""

    def touched(
        self, session: Session, instances: list[Any], flush: Flush
    ) -> tuple[set[Any], set[Any]]:
        """Of these instances (of `models`) the flush writes, the stored rows whose sealed content
        it changes, and the new rows (whose keys are known only after the flush)."""

    def statement(self, session: Session, table: str, state: ORMExecuteState) -> Written | None:
        """What this statement on `table` writes of its rows, found before it runs; None when it
        changes nothing sealed."""

    def held(self, session: Session, keys: Iterable[Any]) -> set[Any]:
        """Those of these rows whose seal holds, as stored."""

    def seal(self, session: Session, keys: Iterable[Any]) -> int:
        """Seal these rows as they are stored now, in the session's transaction."""

    def seal_unsealed(self, session: Session) -> int:
        """Seal every row stored without a seal (`governance init`, once)."""

    def broken(self, session: Session) -> list[Broken]:
        """The rows that matter whose seal does not hold, for the alert job."""


@dataclass(frozen=True)
class CompositeKind:
    """A kind declared by its functions (see `Kind` for what each does)."""

    kind: str
    models: tuple[type[Any], ...]
    tables: frozenset[str]
    touched: Callable[[Session, list[Any], Flush], tuple[set[Any], set[Any]]]
    statement: Callable[[Session, str, ORMExecuteState], Written | None]
    held: Callable[[Session, Iterable[Any]], set[Any]]
    seal: Callable[[Session, Iterable[Any]], int]
    #: The rows stored without a seal.
    unsealed: Callable[[Session], Iterable[Any]]
    broken: Callable[[Session], list[Broken]]
    start: str | None = None

    def seal_unsealed(self, session: Session) -> int:
        return self.seal(session, list(self.unsealed(session)))


def ring(session: Session) -> KeyRing:
    return rings_of(session).audit


def batches(keys: Iterable[Any]) -> Iterator[list[Any]]:
    """The keys, sorted, in lists short enough for any database's bound parameters."""
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), BATCH):
        yield ordered[start : start + BATCH]


def store(session: Session, model: type[Any], seals: Mapping[Any, str]) -> None:
    """Write these seals beside their rows, by primary key (a value, or a tuple of values for a
    key of several columns), in the session's transaction."""
    if not seals:
        return
    table = cast(Table, model.__table__)
    keys = sa_inspect(model).primary_key
    match = and_(*(table.c[c.name] == bindparam(f"k_{c.name}") for c in keys))
    session.connection().execute(
        update(table).where(match).values(seal=bindparam("new_seal")),
        [
            {
                **{f"k_{c.name}": v for c, v in zip(keys, _parts(key), strict=True)},
                "new_seal": value,
            }
            for key, value in seals.items()
        ],
    )
    # The instances this session holds: as stored, so nothing marks them changed.
    for key, value in seals.items():
        instance = session.identity_map.get(session.identity_key(model, key))
        if instance is not None:
            set_committed_value(instance, "seal", value)


def _parts(key: Any) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


def stored_id(instance: object) -> Any:
    """The first part of a stored instance's primary key (a part row's: its parent's id),
    without loading it; None for one not yet stored."""
    identity = sa_inspect(instance).identity
    return None if identity is None else identity[0]


def parent_touched(
    instances: list[Any], flush: Flush, model: type[Any], parent: str | None = None
) -> tuple[set[Any], set[Any]]:
    """For a kind whose rows are rows of `model` (by `id`) with their parts (a grant with its
    granted columns, a version with its personnel): of these instances a flush writes, the
    stored rows it changes and the new ones. A part added, changed or removed (an instance of
    another class, naming its row by its attribute `parent`, its key's first column) changes
    its row, unless the flush deletes the row itself."""
    stored: set[Any] = set()
    new: set[Any] = set()
    deleted = {stored_id(i) for i in flush.deleted if isinstance(i, model)}
    for instance in instances:
        if isinstance(instance, model):
            if instance in flush.new:
                if instance.id is not None:
                    new.add(instance.id)
            elif instance not in flush.deleted:
                stored.add(stored_id(instance))
        elif parent is not None:
            row = getattr(instance, parent) if instance in flush.new else stored_id(instance)
            if row not in deleted:
                stored.add(row)
    stored.discard(None)
    return stored - new, new


def listed(state: ORMExecuteState) -> list[dict[str, Any]]:
    """A statement's parameters as a list of dicts (an executemany's, or the one set)."""
    parameters = state.parameters
    found = parameters if isinstance(parameters, list) else [parameters] if parameters else []
    return [p for p in found if isinstance(p, dict)]


def sets(state: ORMExecuteState) -> set[str]:
    """The columns an UPDATE sets."""
    values = getattr(state.statement, "_values", None) or {}
    return {getattr(k, "key", k) for k in values}


def where(state: ORMExecuteState) -> Any:
    return getattr(state.statement, "whereclause", None)


def statement_rows(
    session: Session, state: ORMExecuteState, column: Any, name: str = "id"
) -> set[Any]:
    """The rows, by `column` (their key, or the key of the row they are part of), a statement
    writes: an INSERT's as its parameters name them (`name`), every row of the table when they
    name none; an UPDATE's or DELETE's those its WHERE selects, found before it runs."""
    named = {p[name] for p in listed(state) if p.get(name) is not None}
    if state.is_insert and named:
        return named
    query = select(column).distinct()
    selected = where(state)
    return named | set(session.scalars(query if selected is None else query.where(selected)))
