"""Walking a stretch of the audit chain and naming its first fault (used by audit_verify).

Events are read in sequence order with the raw DBAPI cursor (a server-side cursor on
PostgreSQL): constant memory and no ORM objects, so a million events verify in seconds. Each
hash is recomputed with the writer's own `content_text` and `chain_hash`. At the first fault
the walk stops, and a few targeted look-ups classify it (see `FaultKind`).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, text

from governance.services.audit import GENESIS_HASH, chain_hash, content_text, sign_checkpoint
from governance.services.audit_query import occurred_text

FETCH_BATCH = 10_000
# How far a renumbered deletion is looked for once a broken link has been found.
RENUMBER_SEARCH = 10_000
_EVENT_COLUMNS = ("actor_email, actor_id, agreement_id, agreement_version, clause, dataset_id, "
                  "detail, event_type, {occurred}, outcome, rule, seq, target_id, target_type, "
                  "prev_hash, hash")
_SEQ, _PREV, _HASH = 11, 14, 15  # positions in a row of _EVENT_COLUMNS

# A checkpoint as read from the table: (seq, head_hash, key_id, signature).
Checkpoint = tuple[int, str, str, str]


class FaultKind(StrEnum):
    ALTERED = "altered"  # a stored field no longer matches the event's hash
    INSERTED = "inserted"  # an event that was never written by the application
    DELETED = "deleted"  # an event is missing
    REORDERED = "reordered"  # events were swapped or moved
    TRUNCATED = "truncated"  # the newest events were cut off
    REWRITTEN = "rewritten"  # consistent new hashes, but a signed checkpoint disagrees
    CHECKPOINT = "checkpoint"  # a checkpoint itself is forged, missing or signed by another key
    HEAD = "head"  # the head row, or a head kept outside the system, does not match


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


class Faulted(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


class Walk:
    def __init__(self, connection: Connection, key: bytes, key_id: str,
                 checkpoints: dict[int, Checkpoint]) -> None:
        self.connection = connection
        self.key = key
        self.key_id = key_id
        self.checkpoints = checkpoints
        self.dialect = connection.dialect.name

    def rows(self, start: int, end: int) -> Iterator[tuple[Any, ...]]:
        occurred = str(occurred_text(self.dialect))
        mark = "%s" if self.dialect == "postgresql" else "?"  # the driver's parameter style
        sql = (f"SELECT {_EVENT_COLUMNS.format(occurred=occurred)} FROM audit_event "  # noqa: S608
               f"WHERE seq >= {mark} AND seq <= {mark} ORDER BY seq")
        raw: Any = self.connection.connection.dbapi_connection
        cursor = raw.cursor(f"audit_verify_{start}") if self.dialect == "postgresql" \
            else raw.cursor()
        try:
            cursor.execute(sql, (start, end))
            while batch := cursor.fetchmany(FETCH_BATCH):
                yield from batch
        finally:
            cursor.close()

    def stretch(self, start: int, end: int, *, final: bool) -> Stretch:
        """Walk events `start`..`end`; the link into `start` is left to the caller."""
        expected, prev, first_prev = start, "", None
        checkpoints = self.checkpoints
        try:
            for row in self.rows(start, end):
                seq = row[_SEQ]
                if seq != expected:
                    raise Faulted(_missing(expected, seq))
                if first_prev is None:
                    first_prev = prev = row[_PREV]
                elif row[_PREV] != prev:
                    raise Faulted(self.broken_link(row))
                if chain_hash(prev, content_text(*row[:14])) != row[_HASH]:
                    raise Faulted(Fault(FaultKind.ALTERED, seq=seq, message=(
                        f"event {seq}'s stored content no longer matches its hash: a field "
                        "of it was edited.")))
                if seq in checkpoints:
                    self.check_checkpoint(checkpoints[seq], row[_HASH])
                prev = row[_HASH]
                expected += 1
            if not final and expected <= end:
                raise Faulted(_missing(expected, end + 1))
        except Faulted as faulted:
            return Stretch(start, expected - start, first_prev, prev or None, faulted.fault)
        return Stretch(start, expected - start, first_prev, prev or None, None)

    def check_checkpoint(self, checkpoint: Checkpoint, event_hash: str) -> None:
        seq, head_hash, key_id, signature = checkpoint
        if key_id != self.key_id:
            raise Faulted(Fault(FaultKind.CHECKPOINT, checkpoint=seq, message=(
                f"checkpoint {seq} was signed with key {key_id}, but the configured audit key "
                f"is {self.key_id}; verify with the key it was signed with.")))
        if not hmac.compare_digest(sign_checkpoint(self.key, seq, head_hash), signature):
            raise Faulted(Fault(FaultKind.CHECKPOINT, checkpoint=seq, message=(
                f"checkpoint {seq}'s signature does not match its content: the checkpoint was "
                "forged or edited.")))
        if head_hash != event_hash:
            since = max((c for c in self.checkpoints if c < seq), default=0)
            raise Faulted(Fault(FaultKind.REWRITTEN, checkpoint=seq, message=(
                f"signed checkpoint {seq} no longer matches event {seq}, although the chain "
                f"recomputes: events {since + 1} to {seq} were rewritten with new hashes after "
                "the checkpoint was signed.")))

    def row(self, seq: int) -> tuple[Any, ...] | None:
        return next(iter(self.rows(seq, seq)), None)

    def broken_link(self, row: tuple[Any, ...]) -> Fault:
        """Event `seq` does not point at the event stored before it: find out why."""
        seq, stored_prev = row[_SEQ], row[_PREV]
        found = self.connection.execute(text(
            "SELECT seq FROM audit_event WHERE hash = :hash ORDER BY seq"),
            {"hash": stored_prev}).scalars().first()
        if found is not None and found > seq:
            return Fault(FaultKind.REORDERED, seq=seq, message=(
                f"event {seq} is out of order: it was written after the event now stored as "
                f"{found} (events were swapped or moved)."))
        if found is not None and found == seq - 2:
            return Fault(FaultKind.INSERTED, seq=seq - 1, message=(
                f"event {seq - 1} was inserted: event {seq} was written directly after event "
                f"{seq - 2}."))
        if found is not None and found < seq - 2:
            return Fault(FaultKind.INSERTED, seq=found + 1, message=(
                f"events {found + 1} to {seq - 1} were inserted: event {seq} was written "
                f"directly after event {found}."))
        if stored_prev == GENESIS_HASH and seq > 1:
            return Fault(FaultKind.INSERTED, seq=1, message=(
                f"events 1 to {seq - 1} were inserted before the first event written."))
        fields = list(row[:14])
        for shift in range(1, RENUMBER_SEARCH + 1):
            fields[_SEQ] = seq + shift
            if chain_hash(stored_prev, content_text(*fields)) == row[_HASH]:
                return Fault(FaultKind.DELETED, seq=seq, message=(
                    f"{shift} event(s) before event {seq} were deleted and the later events "
                    f"renumbered: the event now stored as {seq} was written as {seq + shift}."))
        return Fault(FaultKind.ALTERED, seq=seq, message=(
            f"event {seq}'s link to the event before it (prev_hash) was changed."))


def _missing(expected: int, found: int) -> Fault:
    if found - 1 > expected:
        return Fault(FaultKind.DELETED, seq=expected, message=(
            f"events {expected} to {found - 1} are missing: event {found} follows event "
            f"{expected - 1}."))
    return Fault(FaultKind.DELETED, seq=expected, message=(
        f"event {expected} is missing: event {found} follows event {expected - 1}."))
