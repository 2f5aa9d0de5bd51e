"""What a read looks up, remembered per process behind the policy epoch.

A granted read needs the same few rows every time: the token and its holder, the dataset and
its columns, the dataset's current version, the key wraps of that version, what the agreement
in force withholds. Loading them costs more than deciding and recording the read, so each
process keeps them here, tagged with the policy epoch they were loaded under, and serves them
only to a transaction that read that same epoch. The epoch is read once per transaction (with
the raw cursor, as the grant index always did), so a read sends BEGIN, that one SELECT, its
audit row and COMMIT.

Why this never outlives a revocation: every change to a table a read's outcome or content
depends on (`WATCHED`) bumps the epoch in the same transaction as the change, before the
change is flushed (`_bump_before_flush`, and `_bump_on_statement` for UPDATE/DELETE/INSERT
statements run through a session). A process whose cached entries were loaded under an older
epoch reloads them at its next read. Time-based ends are not cached decisions: the token's
expiry is compared with the clock at every read, and the grant's effective end (its own, its
agreement's, its holder's training) is the grant index's `until`, checked by every decision.

What this trusts: that rows of `WATCHED` are written through SQLAlchemy sessions of this code
base. Someone who edits those tables with raw SQL outside the service (an insider at the
database prompt, revoking a token by hand in an emergency) is noticed at once only if they also
bump `policy_epoch` (and, for a grant, set its `changed_epoch` to the new epoch: the grant index
reloads only those, and has no age backstop); otherwise within `MAX_AGE_S`, since no
entry is served longer than that after it was loaded (a bounded backstop costing one reload per
entry and process every few seconds).
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event, inspect, text
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from governance.kernel.db import driver_cursor, driver_failed, fetch_opening

T = TypeVar("T")
R = TypeVar("R")

#: Tables whose rows decide a read or say what it returns. Adding a table a read depends on
#: here is what makes a change to it reach every process's next read.
WATCHED = frozenset(
    {
        "api_token",  # revoked, expiry date, secret
        "user_account",  # deactivated, removed
        "user_role",
        "training_record",  # grant conditions (conditions.py also bumps)
        "access_grant",  # access/models.py sets changed_epoch for the grant index
        "access_grant_column",
        "agreement",  # status (suspended, terminated, expired), version in force
        "agreement_version",  # withheld offence categories, derived forms
        "dataset",
        "dataset_column",
        "dataset_version",  # uploaded, replaced, destroyed
        "version_key_wrap",  # crypto-shredding takes the wraps away
    }
)
#: Entries kept per database and process, least recently used dropped first.
MEMO_ENTRIES = 4096
#: Seconds an entry is served after it was loaded, whatever the epoch says.
MAX_AGE_S = 2.0
_SEEN = "read_memo_seen"
_BUMP = text("UPDATE policy_epoch SET epoch = epoch + 1 WHERE id = 1")
_EPOCH = "SELECT epoch FROM policy_epoch WHERE id = 1"


def read_epoch(session: Session) -> int:
    """The current policy epoch, read with the raw driver cursor (the ORM's per-statement
    overhead would cost more than the decision it guards)."""
    connection = session.connection()
    # The connection's kept cursor (kernel/db.py), not a new one per read.
    cursor = driver_cursor(connection)
    try:
        # Usually the transaction's first statement: on PostgreSQL its BEGIN travels with it.
        row = fetch_opening(connection.connection.dbapi_connection, cursor, _EPOCH)
    except connection.dialect.loaded_dbapi.Error as error:
        # Often a transaction's first statement, so the first to meet a connection the server
        # ended unseen: the pool must connect afresh for the next request.
        driver_failed(connection, error, _EPOCH)
    return int(row[0]) if row else 0


def seen_epoch(session: Session) -> int:
    """The epoch this transaction works under: read at its first question, then remembered
    until it commits, rolls back or writes (a write may have bumped it)."""
    transaction = session.get_transaction()
    seen = session.info.get(_SEEN)
    if transaction is not None and seen is not None and seen[0] is transaction:
        return int(seen[1])
    epoch = read_epoch(session)
    session.info[_SEEN] = (session.get_transaction(), epoch)
    return epoch


class ReadMemo:
    """Entries of one database in this process: (epoch loaded under, when, value) by key."""

    def __init__(self, size: int = MEMO_ENTRIES) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[int, float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._newest = -1

    def get(self, session: Session, key: Hashable, load: Callable[[], T]) -> T:
        """The value under `key` if it was loaded under the epoch this transaction sees;
        otherwise `load()` it (in this transaction, after the epoch was read, so it is at least
        as new as that epoch) and keep it."""
        epoch = seen_epoch(session)
        with self._lock:
            if epoch < self._newest:
                # The epoch went back (a database restored under running processes): nothing
                # kept can be matched to it safely.
                self._entries.clear()
            self._newest = max(self._newest, epoch)
            found = self._entries.get(key)
            now = time.monotonic()
            if found is not None and found[0] == epoch and now - found[1] <= MAX_AGE_S:
                self._entries.move_to_end(key)
                return found[2]  # type: ignore[no-any-return]
        value = load()
        if value is None:  # nothing found is not remembered: guesses must not push entries out
            return value
        with self._lock:
            self._entries[key] = (epoch, now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


def remembered(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, or what it returned under the epoch this transaction sees. A session opened
    without the process's grant index (a script's own) has no memo and always loads."""
    memo = getattr(session.info.get("grant_index"), "memo", None)
    if not isinstance(memo, ReadMemo):
        return load()
    return memo.get(session, key, load)


def remembered_row(
    session: Session, key: Hashable, load: Callable[[], R | None], *relations: str
) -> R | None:
    """The row `load()` finds (with its loaded `relations`: collections, or a single related
    row such as a token's holder), as this process last loaded it under the policy epoch this
    transaction sees, built into this session without a query; else `load()`ed and
    remembered. Every change to a table a read looks up bumps the epoch (`WATCHED`)."""
    loaded: list[R] = []

    def snap() -> Snapshot | None:
        row = load()
        if row is None:
            return None
        loaded.append(row)
        return snapshot(row, *relations)

    held = remembered(session, key, snap)
    if loaded or held is None:
        return loaded[0] if loaded else None
    row = adopt(session, held)
    return row if row is not None else load()


@dataclass(frozen=True)
class Snapshot:
    """A loaded row's column values and the loaded rows related to it (collections, and single
    related rows), from which each read builds its own instances in its own session (instances
    are never shared)."""

    cls: type[Any]
    #: The immutable column values (numbers, text, dates), copied into each instance as they are.
    values: tuple[tuple[str, Any], ...]
    children: tuple[tuple[str, tuple[Snapshot, ...]], ...] = ()
    related: tuple[tuple[str, Snapshot], ...] = ()
    #: The row's identity key, worked out once when it is remembered, not at every read.
    key: Any = None
    #: The mutable column values (JSON lists and dicts): each instance gets its own copy, so a
    #: read that changes its instance does not change the memo.
    mutable: tuple[tuple[str, Any], ...] = ()
    #: For each collection, the name of the children's attribute back to this row, if any.
    backrefs: tuple[str | None, ...] = ()
    #: The mapped class's new, empty instance (looked up once, not at every read).
    new: Callable[[], Any] | None = None


def snapshot(instance: Any, *relations: str) -> Snapshot:
    mapper = inspect(instance).mapper
    values = [(attr.key, getattr(instance, attr.key)) for attr in mapper.column_attrs]
    many = [name for name in relations if mapper.relationships[name].uselist]
    children = tuple((name, tuple(snapshot(c) for c in getattr(instance, name))) for name in many)
    related = tuple(
        (name, snapshot(getattr(instance, name))) for name in relations if name not in many
    )
    key = mapper.identity_key_from_instance(instance)
    return Snapshot(
        type(instance),
        tuple((name, value) for name, value in values if not isinstance(value, list | dict)),
        children,
        related,
        key,
        copy.deepcopy(tuple((name, v) for name, v in values if isinstance(v, list | dict))),
        tuple(mapper.relationships[name].back_populates for name in many),
        mapper.class_manager.new_instance,
    )


def adopt(session: Session, snap: Snapshot) -> Any | None:
    """The snapshot's row as a persistent instance of `session`, without a query: the one the
    session already holds, or new ones built from the values. None when the session already
    holds one of its collection's rows but not the row itself: the caller then loads it."""
    held = session.identity_map.get(snap.key)
    if held is not None:
        return held
    related = [(name, adopt(session, other)) for name, other in snap.related]
    if any(other is None for _name, other in related):
        return None
    if any(child.key in session.identity_map for _name, snaps in snap.children for child in snaps):
        return None
    instance = _attach(session, snap)
    for (name, snaps), backref in zip(snap.children, snap.backrefs, strict=True):
        kids = [_attach(session, child) for child in snaps]
        # As loaded, with no change to write: the read's flush must find nothing to do.
        set_committed_value(instance, name, kids)
        if backref is not None:
            for child in kids:
                set_committed_value(child, backref, instance)
    for name, other in related:
        # The session holds its instances weakly: the row keeps its related row, as loaded.
        set_committed_value(instance, name, other)
    return instance


def _attach(session: Session, snap: Snapshot) -> Any:
    """A new instance of the snapshot's row in `session`, made as a query's loading makes one
    (sqlalchemy.orm.loading): the values straight into the instance's dict (setting them through
    the attributes would record each as a change), the identity key set and the state put into
    the session's identity map. `session.add` did the same after walking every relationship of
    every instance for cascades (a fifth of a read's CPU, with `make_transient_to_detached`);
    these instances have nothing to cascade: they were just built, unchanged."""
    instance = snap.new() if snap.new else inspect(snap.cls).class_manager.new_instance()
    instance.__dict__.update(snap.values)
    for name, value in snap.mutable:
        instance.__dict__[name] = copy.deepcopy(value)
    state = instance_state(instance)
    state.key = snap.key
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, snap.key)
    return instance


def _touches_watched(instances: Any) -> bool:
    return any(inspect(obj).mapper.local_table.name in WATCHED for obj in instances)


def bump(session: Session) -> None:
    """Advance the policy epoch in the session's transaction (readers everywhere reload)."""
    session.connection().execute(_BUMP)
    session.info.pop(_SEEN, None)


@event.listens_for(Session, "before_flush")
def _bump_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    # Before the rows are written, so the epoch's row lock is taken first, as grants.py does.
    session.info.pop(_SEEN, None)
    if (
        _touches_watched(session.new)
        or _touches_watched(session.deleted)
        or _touches_watched(session.dirty)
    ):
        bump(session)


@event.listens_for(Session, "do_orm_execute")
def _bump_on_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    state.session.info.pop(_SEEN, None)
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in WATCHED:
        bump(state.session)
