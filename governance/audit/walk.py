"""Walking a stretch of the audit chain and naming its first fault (used by audit_verify).

Events are read in sequence order with the raw DBAPI cursor (a server-side cursor on
PostgreSQL): constant memory and no ORM objects, so a million events verify in seconds. Each
row is parsed before it is hashed: the time must be stored in its canonical form (SQLite's
text) or within range (PostgreSQL), every column must hold its own type, and the detail must
be exactly the canonical JSON of its format. The hash is then recomputed with the writer's own
`content_text` and `chain_hash`, every checkpoint passed is checked against a known key, and
from the format boundary on a checkpoint must stand wherever the cadence promised by the one
before it falls due. At the first fault the walk stops, and a few targeted look-ups classify it
(see `FaultKind`).

It imports neither SQLAlchemy nor the app, so the worker processes that walk the stretches of
a long chain (`audit_worker`) start in a tenth of a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from hmac import compare_digest
from operator import itemgetter
from typing import Any, cast

from governance.audit.format import (
    GENESIS_HASH,
    chain_hash,
    checkpoint_message,
    content_text,
    is_jcs_object,
    is_legacy_object,
    legacy_checkpoint_message,
    signer,
    sqlite_time_text,
    sqlite_time_texts,
    time_after,
)

# Rows fetched and checked at a time. Small enough that a batch's row objects are still in the
# CPU's cache when they are hashed: the walk of a 200,000-event SQLite stretch took 6.4-6.6 µs
# an event in batches of 10,000, 6.1-6.5 in 1,000 and 5.8-6.1 in 200-500 (PostgreSQL's client
# alike within noise from 500 to 10,000; one FETCH per batch on its server-side cursor).
FETCH_BATCH = 500
# How far a renumbered deletion is looked for once a broken link has been found.
RENUMBER_SEARCH = 10_000
# Details already found canonical, remembered per format up to this many and this many
# characters in all (a worker's memory stays within some tens of MB): most details repeat (an
# empty object, the same columns read again), and parsing one again costs as much as
# everything else its event needs. A stretch of a million events held about 90,000 distinct
# details in the benchmark's trail, so a smaller bound made most repeats parse again.
CANONICAL_CACHE = 200_000
CANONICAL_CACHE_CHARS = 20_000_000
_COLUMNS = (
    "actor_email, actor_id, agreement_id, agreement_version, clause, dataset_id, "
    "detail, event_type, {occurred}, outcome, rule, seq, target_id, target_type, "
    "prev_hash, hash"
)
# PostgreSQL stores a typed time: it is formatted by the database, and a time outside
# [1970, 10000) (a year BC, 'infinity') reads as NULL, which the walk refuses.
_PG_OCCURRED = (
    "CASE WHEN occurred_at >= TIMESTAMPTZ '1970-01-01 00:00:00+00' "
    "AND occurred_at <= TIMESTAMPTZ '9999-12-31 23:59:59.999999+00' "
    "THEN to_char(occurred_at AT TIME ZONE 'UTC', "
    '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') END'
)
_DETAIL, _TIME, _SEQ, _PREV, _HASH = 6, 8, 11, 14, 15  # positions in a row of _COLUMNS
_WHOLE, _TEXT = (int, type(None)), (str, type(None))
_time_of = itemgetter(_TIME)
_FIELD_TYPES = (
    (11, "seq", (int,)),
    (1, "actor_id", _WHOLE),
    (2, "agreement_id", _WHOLE),
    (3, "agreement_version", _WHOLE),
    (5, "dataset_id", _WHOLE),
    (0, "actor_email", _TEXT),
    (4, "clause", _TEXT),
    (7, "event_type", (str,)),
    (9, "outcome", (str,)),
    (10, "rule", _TEXT),
    (12, "target_id", _TEXT),
    (13, "target_type", _TEXT),
    (_DETAIL, "detail", (str,)),
)

# `content_text`, called with a row's values spread positionally.
_content: Callable[..., str] = content_text
# A checkpoint as read from the table:
# (seq, head_hash, key_id, signature, cadence_events, cadence_minutes).
Checkpoint = tuple[int, str, str, str, int | None, int | None]


_CHECKPOINT_COLUMNS = "seq, head_hash, key_id, signature, cadence_events, cadence_minutes"


def read_checkpoints(
    connection: Any, dialect: str, start: int = 1, end: int | None = None
) -> dict[int, Checkpoint]:
    """The checkpoints a walk of events `start`..`end` consults, read with the DBAPI
    `connection`'s own cursor (plain tuples): those on its events and the last one before
    `start` (the cadence it promised, the last checkpoint a rewrite or a missing checkpoint is
    named after); every checkpoint without `end`."""
    mark = "%s" if dialect == "postgresql" else "?"
    cursor = connection.cursor()
    try:
        if end is None:
            cursor.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoint")  # noqa: S608
        else:
            cursor.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoint "  # noqa: S608
                f"WHERE seq <= {mark} AND seq >= "
                f"(SELECT coalesce(max(seq), 0) FROM audit_checkpoint WHERE seq < {mark})",
                (end, start),
            )
        return {row[0]: cast(Checkpoint, tuple(row)) for row in cursor.fetchall()}
    finally:
        cursor.close()


class FaultKind(StrEnum):
    ALTERED = "altered"  # a stored field no longer matches the event's hash
    MALFORMED = "malformed"  # a stored value is not in the form the writer writes
    INSERTED = "inserted"  # an event that was never written by the application
    DELETED = "deleted"  # an event is missing
    REORDERED = "reordered"  # events were swapped or moved
    TRUNCATED = "truncated"  # the newest events were cut off
    REWRITTEN = "rewritten"  # consistent new hashes, but a signed checkpoint disagrees
    CHECKPOINT = "checkpoint"  # a checkpoint is forged, missing, or signed by an unknown key
    HEAD = "head"  # the head row, or a head kept outside the system, does not match
    WITNESS = "witness"  # a head a time-stamping authority witnessed no longer matches


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    message: str
    seq: int | None = None  # the first bad event
    checkpoint: int | None = None  # or the checkpoint that no longer matches


@dataclass(frozen=True)
class Stretch:
    """What one walk over events `start`..`end` found."""

    start: int
    count: int  # events walked before the fault, or in all
    first_prev: str | None  # the prev_hash stored in the first event (checked by the caller)
    last_hash: str | None
    fault: Fault | None


@dataclass(frozen=True)
class Trail:
    """What every stretch needs besides its rows: the known keys, the checkpoints (every one,
    or, in a worker process, those `read_checkpoints` reads for its stretch), and the first
    event of format 2."""

    keys: dict[str, bytes] = field(repr=False)
    checkpoints: dict[int, Checkpoint]
    format_since: int
    head_seq: int  # events after it are reported as inserted, not as missing checkpoints


class Faulted(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


@dataclass(slots=True)
class _Position:
    """Where a walk stands: the next event expected, the hash it must link to, the link into
    the stretch's first event, and when the next checkpoint falls due (seq, canonical time)."""

    expected: int
    prev: str
    first_prev: str | None
    due_seq: int
    due_time: str


class Walk:
    """Walks on a DBAPI connection (sqlite3 or psycopg), whose driver errors are `error`."""

    def __init__(self, connection: Any, dialect: str, trail: Trail, error: type[Exception]) -> None:
        self.connection = connection
        self.trail = trail
        self.dialect = dialect
        self.error = error
        self.mark = "%s" if dialect == "postgresql" else "?"  # the driver's parameter style
        self.time_text: Callable[[Any], str | None] = (
            sqlite_time_text if self.dialect == "sqlite" else _as_is
        )
        self._canonical: dict[bool, set[str]] = {True: set(), False: set()}
        self._cached_chars = 0
        self._signers: dict[str, Callable[[str], str]] = {}  # by key id, made when first used

    def rows(self, start: int, end: int) -> Iterator[tuple[Any, ...]]:
        for batch in self.batches(start, end):
            yield from batch

    def batches(self, start: int, end: int) -> Iterator[list[tuple[Any, ...]]]:
        occurred = "occurred_at" if self.dialect == "sqlite" else _PG_OCCURRED
        mark = self.mark
        sql = (
            f"SELECT {_COLUMNS.format(occurred=occurred)} FROM audit_event "  # noqa: S608
            f"WHERE seq >= {mark} AND seq <= {mark} ORDER BY seq"
        )
        cursor = (
            self.connection.cursor(f"audit_verify_{start}")
            if self.dialect == "postgresql"
            else self.connection.cursor()
        )
        try:
            cursor.execute(sql, (start, end))
            while batch := cursor.fetchmany(FETCH_BATCH):
                yield batch
        finally:
            cursor.close()

    def stretch(self, start: int, end: int, *, final: bool) -> Stretch:
        """Walk events `start`..`end`; the link into `start` is left to the caller."""
        at = _Position(start, "", None, *self.cadence_before(start))
        try:
            try:
                for batch in self.batches(start, end):
                    self.walk_batch(batch, at)
            except self.error:
                raise Faulted(self.unreadable(at.expected, end)) from None
            if not final and at.expected <= end:
                raise Faulted(_missing(at.expected, end + 1))
        except Faulted as faulted:
            return Stretch(
                start, at.expected - start, at.first_prev, at.prev or None, faulted.fault
            )
        return Stretch(start, at.expected - start, at.first_prev, at.prev or None, None)

    def walk_batch(self, batch: list[tuple[Any, ...]], at: _Position) -> None:
        """Check a batch of events in order, each as `step` checks it, and move `at` past them.

        The common event (linked, no checkpoint overdue) takes a short path: its time from one
        bulk check of the batch's times, its detail looked up among those already found
        canonical, its hash recomputed with the writer's `content_text` and compared, and the
        checkpoint on it, if any, checked. Any other event, or any doubt, goes through `step`,
        which checks everything again in order and names the first fault."""
        since, head_seq = self.trail.format_since, self.trail.head_seq
        first, last = at.expected, at.expected + len(batch) - 1
        times = self.batch_times(batch) if first >= since or last < since else None
        if times is None or at.first_prev is None:
            # Times that are not all well formed, the format boundary within the batch, or the
            # stretch's first event: each event on its own.
            for row in batch[: None if times is None else 1]:
                self.step(row, at)
            if times is None:
                return
            batch, times = batch[1:], times[1:]
        current = first >= since
        canonical, checkpoints = self._canonical[current], self.trail.checkpoints
        expected, prev, due_seq, due_time = at.expected, at.prev, at.due_seq, at.due_time
        for row, occurred in zip(batch, times, strict=True):
            (email, actor, agreement, version, clause, dataset, detail, kind, _, outcome, rule,
             seq, target_id, target_type, stored_prev, stored_hash) = row  # fmt: skip
            if (
                seq == expected
                and stored_prev == prev
                and (
                    not current
                    or (seq < due_seq and occurred < due_time)
                    or seq in checkpoints
                    or seq > head_seq
                )
            ):
                if detail not in canonical:
                    at.expected, at.prev = expected, prev  # where a fault in it stops the walk
                    self.check_detail(seq, detail, current)
                try:
                    content = _content(
                        email, actor, agreement, version, clause, dataset, detail, kind,
                        occurred, outcome, rule, seq, target_id, target_type,
                    )  # fmt: skip
                except TypeError:
                    content = None
                if content is not None and chain_hash(prev, content) == stored_hash:
                    checkpoint = checkpoints.get(seq)
                    if checkpoint is not None:
                        at.expected, at.prev = expected, prev
                        self.check_checkpoint(checkpoint, stored_hash)
                        if current:
                            due_seq, due_time = _next_due(checkpoint, occurred)
                    expected, prev = expected + 1, stored_hash
                    continue
            at.expected, at.prev, at.due_seq, at.due_time = expected, prev, due_seq, due_time
            self.step(row, at)
            expected, prev, due_seq, due_time = at.expected, at.prev, at.due_seq, at.due_time
        at.expected, at.prev, at.due_seq, at.due_time = expected, prev, due_seq, due_time

    def batch_times(self, batch: list[tuple[Any, ...]]) -> list[str] | None:
        """The canonical time of every event in the batch, or None when any is not stored in
        its canonical form (`step` then names it)."""
        stored = list(map(_time_of, batch))
        if self.dialect == "sqlite":
            return sqlite_time_texts(stored)
        return stored if set(map(type, stored)) <= {str} else None

    def step(self, row: tuple[Any, ...], at: _Position) -> None:
        """Check one event and move `at` past it, or raise Faulted naming what is wrong."""
        seq = row[_SEQ]
        if seq != at.expected:
            raise Faulted(_missing(at.expected, seq) if type(seq) is int else _wrong_type(row))
        if at.first_prev is None:
            at.first_prev = at.prev = row[_PREV]
        elif row[_PREV] != at.prev:
            raise Faulted(self.broken_link(row))
        occurred = self.time_text(row[_TIME])
        if occurred is None:
            raise Faulted(_malformed_time(seq, row[_TIME]))
        current = seq >= self.trail.format_since
        if row[_DETAIL] not in self._canonical[current]:
            self.check_detail(seq, row[_DETAIL], current)
        fields = list(row[:_PREV])
        fields[_TIME] = occurred
        try:
            content = _content(*fields)
        except TypeError:
            raise Faulted(_wrong_type(row)) from None
        if chain_hash(at.prev, content) != row[_HASH]:
            raise Faulted(
                Fault(
                    FaultKind.ALTERED,
                    seq=seq,
                    message=(
                        f"event {seq}'s stored content no longer matches its hash: a "
                        "field of it was edited."
                    ),
                )
            )
        checkpoint = self.trail.checkpoints.get(seq)
        if checkpoint is not None:
            self.check_checkpoint(checkpoint, row[_HASH])
            if current:
                at.due_seq, at.due_time = _next_due(checkpoint, occurred)
        elif (
            current
            and (seq >= at.due_seq or occurred >= at.due_time)
            and seq <= self.trail.head_seq
        ):
            raise Faulted(self.missing_checkpoint(seq, at.due_seq))
        at.prev = row[_HASH]
        at.expected += 1

    def check_detail(self, seq: int, detail: Any, current: bool) -> None:
        """The detail must be exactly the canonical JSON of an object in the event's format
        (RFC 8785 from format 2 on): a non-canonical text (spaces, escapes, duplicate keys
        that parsers resolve differently) could mean something else to another reader."""
        seen = self._canonical[current]
        if not (is_jcs_object(detail) if current else is_legacy_object(detail)):
            form = "RFC 8785 canonical JSON" if current else "the canonical JSON of format 1"
            raise Faulted(
                Fault(
                    FaultKind.MALFORMED,
                    seq=seq,
                    message=(
                        f"event {seq}'s detail is not {form} of an object: it was not written by "
                        "the "
                        "application (its stored bytes were edited)."
                    ),
                )
            )
        if len(seen) >= CANONICAL_CACHE or self._cached_chars >= CANONICAL_CACHE_CHARS:
            for kept in self._canonical.values():
                kept.clear()  # in place: a walk in progress holds the set
            self._cached_chars = 0
        seen.add(detail)
        self._cached_chars += len(detail)

    def check_checkpoint(self, checkpoint: Checkpoint, event_hash: str) -> None:
        seq, head_hash, key_id, signature, every, minutes = checkpoint
        sign = self._signers.get(key_id)
        key = self.trail.keys.get(key_id) if sign is None else None
        if key is not None:
            sign = self._signers[key_id] = signer(key)
        if sign is None:
            raise Faulted(
                Fault(
                    FaultKind.CHECKPOINT,
                    checkpoint=seq,
                    message=(
                        f"checkpoint {seq} names key {key_id!r}, which is not among the known "
                        "audit "
                        f"keys ({', '.join(sorted(self.trail.keys))}): it was forged, or the key "
                        "that "
                        "signed it is missing from the key ring."
                    ),
                )
            )
        if seq >= self.trail.format_since:
            if not (_whole(every) and _whole(minutes)):
                raise Faulted(
                    Fault(
                        FaultKind.CHECKPOINT,
                        checkpoint=seq,
                        message=(
                            f"checkpoint {seq} does not state the cadence it promises: it was "
                            "forged or edited."
                        ),
                    )
                )
            message = checkpoint_message(
                seq,
                head_hash,
                format_since=self.trail.format_since,
                every=cast(int, every),
                minutes=cast(int, minutes),
            )
        else:
            message = legacy_checkpoint_message(seq, head_hash)
        if not (isinstance(signature, str) and compare_digest(sign(message), signature)):
            raise Faulted(
                Fault(
                    FaultKind.CHECKPOINT,
                    checkpoint=seq,
                    message=(
                        f"checkpoint {seq}'s signature does not match its content: the checkpoint "
                        "was "
                        "forged or edited, or the format boundary was moved."
                    ),
                )
            )
        if head_hash != event_hash:
            since = max((c for c in self.trail.checkpoints if c < seq), default=0)
            raise Faulted(
                Fault(
                    FaultKind.REWRITTEN,
                    checkpoint=seq,
                    message=(
                        f"signed checkpoint {seq} no longer matches event {seq}, although the "
                        "chain "
                        f"recomputes: events {since + 1} to {seq} were rewritten with new hashes "
                        "after "
                        "the checkpoint was signed."
                    ),
                )
            )

    def cadence_before(self, start: int) -> tuple[int, str]:
        """When the next checkpoint falls due for a walk starting at `start`: (the seq at
        which, the canonical time from which). The first event of format 2 is always one."""
        since = self.trail.format_since
        prior = max((seq for seq in self.trail.checkpoints if since <= seq < start), default=None)
        if prior is None:
            return since, ""
        row = self.row(prior)
        occurred = None if row is None else self.time_text(row[_TIME])
        checkpoint = self.trail.checkpoints[prior]
        if occurred is None or not (_whole(checkpoint[4]) and _whole(checkpoint[5])):
            return since, ""  # the walk over `prior` reports what is wrong with it
        return _next_due(checkpoint, occurred)

    def missing_checkpoint(self, seq: int, due_seq: int) -> Fault:
        since = self.trail.format_since
        prior = max((c for c in self.trail.checkpoints if since <= c < seq), default=None)
        if prior is None:
            why = (
                f"the first event of the current format ({since}) must be checkpointed"
                if seq == since
                else f"no checkpoint follows the format boundary ({since})"
            )
        else:
            every, minutes = self.trail.checkpoints[prior][4], self.trail.checkpoints[prior][5]
            reason = f"{every} events" if seq >= due_seq else f"{minutes} minutes"
            why = f"checkpoint {prior} promised the next one within {reason}"
        return Fault(
            FaultKind.CHECKPOINT,
            seq=seq,
            checkpoint=seq,
            message=(
                f"event {seq} should carry a signed checkpoint ({why}), but none exists: "
                "checkpoints were deleted."
            ),
        )

    def row(self, seq: int) -> tuple[Any, ...] | None:
        return next(iter(self.rows(seq, seq)), None)

    def unreadable(self, expected: int, end: int) -> Fault:
        """The driver could not read a row (text that is not UTF-8 on SQLite): find which."""
        bad = expected
        if self.dialect == "sqlite":
            for seq in range(expected, min(end, expected + FETCH_BATCH) + 1):
                try:
                    self.row(seq)
                except self.error:
                    bad = seq
                    break
        return Fault(
            FaultKind.MALFORMED,
            seq=bad,
            message=(f"event {bad} cannot be read: a column holds bytes that are not text."),
        )

    def broken_link(self, row: tuple[Any, ...]) -> Fault:
        """Event `seq` does not point at the event stored before it: find out why."""
        seq, stored_prev = row[_SEQ], row[_PREV]
        cursor = self.connection.cursor()
        try:
            cursor.execute(
                f"SELECT min(seq) FROM audit_event "  # noqa: S608  (a placeholder)
                f"WHERE hash = {self.mark}",
                (stored_prev,),
            )
            found = cursor.fetchone()[0]
        finally:
            cursor.close()
        if found is not None and found > seq:
            return Fault(
                FaultKind.REORDERED,
                seq=seq,
                message=(
                    f"event {seq} is out of order: it was written after the event now stored as "
                    f"{found} (events were swapped or moved)."
                ),
            )
        if found is not None and found == seq - 2:
            return Fault(
                FaultKind.INSERTED,
                seq=seq - 1,
                message=(
                    f"event {seq - 1} was inserted: event {seq} was written directly after event "
                    f"{seq - 2}."
                ),
            )
        if found is not None and found < seq - 2:
            return Fault(
                FaultKind.INSERTED,
                seq=found + 1,
                message=(
                    f"events {found + 1} to {seq - 1} were inserted: event {seq} was written "
                    f"directly after event {found}."
                ),
            )
        if stored_prev == GENESIS_HASH and seq > 1:
            return Fault(
                FaultKind.INSERTED,
                seq=1,
                message=(f"events 1 to {seq - 1} were inserted before the first event written."),
            )
        fields = list(row[:_PREV])
        fields[_TIME] = self.time_text(row[_TIME])
        for shift in range(1, RENUMBER_SEARCH + 1):
            fields[_SEQ] = seq + shift
            try:
                renumbered = _content(*fields)
            except TypeError:
                break
            if chain_hash(stored_prev, renumbered) == row[_HASH]:
                return Fault(
                    FaultKind.DELETED,
                    seq=seq,
                    message=(
                        f"{shift} event(s) before event {seq} were deleted and the later events "
                        f"renumbered: the event now stored as {seq} was written as {seq + shift}."
                    ),
                )
        return Fault(
            FaultKind.ALTERED,
            seq=seq,
            message=(f"event {seq}'s link to the event before it (prev_hash) was changed."),
        )


def _as_is(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _whole(value: Any) -> bool:
    return type(value) is int and value >= 1


def _next_due(checkpoint: Checkpoint, occurred: str) -> tuple[int, str]:
    """Where the checkpoint's promise runs out (its cadence was checked with its signature)."""
    every, minutes = cast(int, checkpoint[4]), cast(int, checkpoint[5])
    return checkpoint[0] + every, time_after(occurred, minutes)


def _malformed_time(seq: int, stored: Any) -> Fault:
    found = (
        "it lies outside the years 1970 to 9999 (a year BC, or infinity)"
        if stored is None
        else repr(stored)
    )
    return Fault(
        FaultKind.MALFORMED,
        seq=seq,
        message=(
            f"event {seq}'s time is not stored as the application stores it ({found}): it was "
            "edited, and it would sort, search and export as another time than the one signed."
        ),
    )


def _wrong_type(row: tuple[Any, ...]) -> Fault:
    seq = row[_SEQ]
    name, found = next(
        (
            (name, type(row[position]).__name__)
            for position, name, allowed in _FIELD_TYPES
            if type(row[position]) not in allowed
        ),
        ("a column", "wrong type"),
    )
    return Fault(
        FaultKind.MALFORMED,
        seq=seq if type(seq) is int else None,
        message=(
            f"event {seq}'s {name} holds a {found}, not the type the application writes: it was "
            "edited."
        ),
    )


def _missing(expected: int, found: int) -> Fault:
    if found - 1 > expected:
        return Fault(
            FaultKind.DELETED,
            seq=expected,
            message=(
                f"events {expected} to {found - 1} are missing: event {found} follows event "
                f"{expected - 1}."
            ),
        )
    return Fault(
        FaultKind.DELETED,
        seq=expected,
        message=(f"event {expected} is missing: event {found} follows event {expected - 1}."),
    )
