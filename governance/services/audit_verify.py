"""Verifying the audit trail: the whole hash chain, every signed checkpoint and the head.

HIPAA 164.312(b) and NIST SP 800-171 3.3.8 ask that audit records be protected from change;
verification is how a compliance manager shows they were. Events are streamed in sequence
order from a server-side cursor (constant memory, no ORM objects) and each hash is recomputed
with the writer's own `content_text` and `chain_hash`. The first fault stops the walk and is
classified (see `audit_walk.FaultKind`) with a few targeted look-ups, so the report names
what happened to which event: a bare chain catches edits, insertions, deletions and
reordering; the signed checkpoints (HMAC with a key kept outside the database) catch a cut-off
tail and a suffix rewritten with freshly computed hashes.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from governance import authz
from governance.authz import Permission
from governance.db import make_engine
from governance.errors import ValidationFailed
from governance.models.audit import AuditType, Outcome
from governance.services import audit
from governance.services.actors import Actor
from governance.services.audit import GENESIS_HASH, HEAD_ID, AuditSettings
from governance.services.audit_walk import Checkpoint, Fault, Faulted, FaultKind, Stretch, Walk

__all__ = ["Fault", "FaultKind", "Verification", "parse_head", "run_verification",
           "verify_chain"]

# Below this many events per worker, starting processes costs more than it saves.
MIN_EVENTS_PER_WORKER = 100_000


@dataclass(frozen=True)
class Verification:
    events: int
    checkpoints: int
    head_seq: int
    head_hash: str
    fault: Fault | None

    @property
    def intact(self) -> bool:
        return self.fault is None

    def summary(self) -> str:
        if self.fault is None:
            return (f"Audit trail intact: {self.events} events and {self.checkpoints} signed "
                    f"checkpoints verified; chain head seq={self.head_seq} "
                    f"sha256={self.head_hash}.")
        where = f"checkpoint {self.fault.checkpoint}" if self.fault.seq is None \
            else f"event {self.fault.seq}"
        return (f"Audit trail verification FAILED at {where} ({self.fault.kind}): "
                f"{self.fault.message}")


def verify_chain(engine: Engine, settings: AuditSettings, *,
                 expect_head: tuple[int, str] | None = None, workers: int = 0,
                 min_events_per_worker: int = MIN_EVENTS_PER_WORKER) -> Verification:
    """Check every event, every checkpoint and the head row.

    `expect_head` is a (seq, sha256) pair printed on an earlier export or report: the event at
    that position must still carry that hash, which catches even a tail cut off together with
    its checkpoints. With `workers` >= 1 a long chain is cut into contiguous stretches walked by
    that many worker processes (each event's hash depends only on its own row, so stretches
    verify independently) and the links between stretches are checked here; with 0, or a
    chain shorter than `min_events_per_worker`, this process walks it.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            head = connection.execute(text(
                "SELECT seq, hash, last_checkpoint_seq FROM audit_head WHERE id = :id"),
                {"id": HEAD_ID}).one()
            checkpoints: dict[int, Checkpoint] = {
                row[0]: (row[0], row[1], row[2], row[3]) for row in connection.execute(text(
                    "SELECT seq, head_hash, key_id, signature FROM audit_checkpoint"))}
            last = int(connection.scalar(text("SELECT max(seq) FROM audit_event")) or 0)
            walk = Walk(connection, settings.checkpoint_key, settings.key_id, checkpoints)
            parts = min(workers, last // max(1, min_events_per_worker))
            if parts < 1:
                stretches = [walk.stretch(1, last, final=True)]
            else:
                url = engine.url.render_as_string(hide_password=False)
                stretches = _walk_in_processes(url, settings, checkpoints, last, parts)
            count, last_hash, fault = _join(walk, stretches)
            try:
                if fault is None:
                    _check_end(count, last_hash, head, checkpoints)
                if fault is None and expect_head is not None:
                    _check_expected(connection, expect_head)
            except Faulted as faulted:
                fault = faulted.fault
    return Verification(events=count, checkpoints=len(checkpoints), head_seq=head.seq,
                        head_hash=head.hash, fault=fault)


def _walk_in_processes(url: str, settings: AuditSettings, checkpoints: dict[int, Checkpoint],
                       last: int, parts: int) -> list[Stretch]:
    size = -(-last // parts)
    bounds = [(start, min(last, start + size - 1)) for start in range(1, last + 1, size)]
    context = multiprocessing.get_context("spawn")  # no inherited connections or threads
    with ProcessPoolExecutor(max_workers=len(bounds), mp_context=context) as pool:
        futures = [pool.submit(_walk_stretch, url, settings.checkpoint_key, settings.key_id,
                               checkpoints, start, end, end == last)
                   for start, end in bounds]
        return [future.result() for future in futures]


def _walk_stretch(url: str, key: bytes, key_id: str, checkpoints: dict[int, Checkpoint],
                  start: int, end: int, final: bool) -> Stretch:
    """Run in a worker process: walk one stretch on a connection of its own."""
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as connection, connection.begin():
            return Walk(connection, key, key_id, checkpoints).stretch(start, end, final=final)
    finally:
        engine.dispose()


def _join(walk: Walk, stretches: list[Stretch]) -> tuple[int, str, Fault | None]:
    """Check the link into each stretch, in order; the first fault found wins."""
    prev, count = GENESIS_HASH, 0
    for stretch in stretches:
        if stretch.first_prev is not None and stretch.first_prev != prev:
            first = walk.row(stretch.start)
            fault = walk.broken_link(first) if first is not None and stretch.start > 1 else \
                Fault(FaultKind.ALTERED, seq=stretch.start, message=(
                    f"event {stretch.start}'s link to the event before it (prev_hash) "
                    "was changed."))
            return count, prev, fault
        count += stretch.count
        if stretch.fault is not None:
            return count, prev, stretch.fault
        prev = stretch.last_hash or prev
    return count, prev, None


def _check_end(count: int, last_hash: str, head: Any, checkpoints: dict[int, Checkpoint]) -> None:
    if head.seq > count:
        raise Faulted(Fault(FaultKind.TRUNCATED, seq=count + 1, message=(
            f"the trail ends at event {count} but its head says {head.seq}: events "
            f"{count + 1} to {head.seq} were cut off.")))
    if head.seq < count:
        raise Faulted(Fault(FaultKind.INSERTED, seq=head.seq + 1, message=(
            f"events {head.seq + 1} to {count} were added after the chain head ({head.seq}) "
            "without going through the application.")))
    beyond = [seq for seq in checkpoints if seq > count]
    if beyond:
        raise Faulted(Fault(FaultKind.TRUNCATED, checkpoint=min(beyond), message=(
            f"signed checkpoint {min(beyond)} names an event beyond the end of the trail "
            f"(event {count}): the newest events were cut off.")))
    if head.hash != last_hash:
        raise Faulted(Fault(FaultKind.HEAD, seq=count, message=(
            f"the chain head's hash does not match event {count}.")))
    if head.last_checkpoint_seq and head.last_checkpoint_seq not in checkpoints:
        raise Faulted(Fault(FaultKind.CHECKPOINT, checkpoint=head.last_checkpoint_seq, message=(
            f"checkpoint {head.last_checkpoint_seq}, the latest the head records, is missing: "
            "checkpoints were deleted.")))


def _check_expected(connection: Connection, expect_head: tuple[int, str]) -> None:
    seq, digest = expect_head
    stored = connection.execute(text("SELECT hash FROM audit_event WHERE seq = :seq"),
                                {"seq": seq}).scalar()
    if stored != digest:
        found = "is missing" if stored is None else f"has hash {stored}"
        raise Faulted(Fault(FaultKind.HEAD, seq=seq, message=(
            f"the head kept outside the system (seq={seq}, sha256={digest}) does not match: "
            f"event {seq} {found}. Events up to it were changed or cut off.")))

def run_verification(session: Session, engine: Engine, *, by: Actor,
                     expect_head: tuple[int, str] | None = None,
                     workers: int = 0) -> Verification:
    """Check `audit:verify`, verify on `engine` (a read engine), and record the result as an
    `audit:verify` event in `session`; the caller commits.

    A tampered trail may refuse the record itself (an event forged beyond the head takes the
    next sequence number): the write is then logged as CRITICAL by `audit.record` and the
    verification result still stands and is returned.
    """
    authz.require(by, Permission.AUDIT_VERIFY, audit={"event_type": AuditType.AUDIT_VERIFY,
                                                      "target_type": "audit_trail"})
    result = verify_chain(engine, audit.settings_of(session), expect_head=expect_head,
                          workers=workers)
    fault = result.fault
    try:
        with session.begin_nested():
            audit.record(session, AuditType.AUDIT_VERIFY, by=by, target_type="audit_trail",
                         outcome=Outcome.SUCCESS if fault is None else Outcome.FAILURE,
                         detail={"events": result.events, "checkpoints": result.checkpoints,
                                 "head_seq": result.head_seq, "head_hash": result.head_hash,
                                 "fault": None if fault is None else {
                                     "kind": str(fault.kind), "seq": fault.seq,
                                     "checkpoint": fault.checkpoint,
                                     "message": fault.message}})
    except SQLAlchemyError:
        if fault is None:
            raise
    return result


def parse_head(text: str) -> tuple[int, str]:
    """`SEQ:SHA256` (or `seq=SEQ, sha256=SHA256` as printed on exports) as a pair."""
    cleaned = text.replace("seq=", "").replace("sha256=", "").replace(",", ":").replace(" ", "")
    seq, _, digest = cleaned.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValidationFailed("A chain head is written SEQ:SHA256, as printed on exports.",
                               {"expect_head": f"{text!r} is not SEQ:SHA256."})
    return int(seq), digest
