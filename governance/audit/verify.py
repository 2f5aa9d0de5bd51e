"""Verifying the audit trail: the whole hash chain, every signed checkpoint and the head.

HIPAA 164.312(b) and NIST SP 800-171 3.3.8 ask that audit records be protected from change;
verification is how a compliance manager shows they were. Events are streamed in sequence
order from a server-side cursor (constant memory, no ORM objects), each row is parsed and its
hash recomputed with the writer's own functions (see `audit_walk`). The first fault stops the
walk and is classified, so the report names what happened to which event: a bare chain catches
edits, insertions, deletions and reordering; the signed checkpoints (HMAC with keys kept outside
the database), required at the cadence each promises, and the head, signed on every write,
catch a cut-off tail and a chain rewritten with freshly computed hashes.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from cryptography import x509
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit import witness as witness_tokens
from governance.audit.format import GENESIS_HASH, head_message, verify_signature
from governance.audit.models import AuditType, Outcome
from governance.audit.service import HEAD_ID, AuditSettings
from governance.audit.verify_start import Worker, dismiss
from governance.audit.verify_start import start as start_worker
from governance.audit.verify_worker import Job
from governance.audit.walk import (
    Checkpoint,
    Fault,
    Faulted,
    FaultKind,
    Stretch,
    Trail,
    Walk,
    read_checkpoints,
)
from governance.audit.witness import Witness, trust_of
from governance.audit.witnessed import Witnessed
from governance.authz import Permission
from governance.kernel.errors import ValidationFailed
from governance.kernel.text import whole_number
from governance.kernel.types import UTCDateTime

if TYPE_CHECKING:
    from governance.identity.actors import Actor  # who acts: a type only, audit knows no noun

__all__ = [
    "Fault",
    "FaultKind",
    "Verification",
    "parse_head",
    "run_verification",
    "trust_of",
    "verify_chain",
]

# Below this many events per worker, starting processes costs more than it saves.
MIN_EVENTS_PER_WORKER = 100_000


@dataclass(frozen=True)
class Verification:
    events: int
    checkpoints: int
    head_seq: int
    head_hash: str
    fault: Fault | None
    # The time-stamp tokens checked against the trail (none when the walk failed first).
    witnesses: Witnessed = field(default_factory=Witnessed)

    @property
    def witnessed(self) -> int:
        return self.witnesses.heads

    @property
    def unchecked(self) -> int:
        return self.witnesses.unchecked

    @property
    def intact(self) -> bool:
        return self.fault is None

    def summary(self) -> str:
        if self.fault is None:
            return (
                f"Audit trail intact: {self.events} events and {self.checkpoints} signed "
                f"checkpoints verified; chain head seq={self.head_seq} "
                f"sha256={self.head_hash}. " + self.witnesses.statement()
            )
        if self.fault.seq is not None:
            where = f"event {self.fault.seq}"
        elif self.fault.checkpoint is not None:
            where = f"checkpoint {self.fault.checkpoint}"
        else:
            where = "the chain head"
        return (
            f"Audit trail verification FAILED at {where} ({self.fault.kind}): {self.fault.message}"
        )


def verify_chain(
    engine: Engine,
    settings: AuditSettings,
    *,
    expect_head: tuple[int, str] | None = None,
    workers: int = 0,
    min_events_per_worker: int = MIN_EVENTS_PER_WORKER,
    witnesses: Sequence[Witness] = (),
    trust: Mapping[str, Sequence[x509.Certificate]] | None = None,
    strict: bool = False,
    ahead: Sequence[Worker] = (),
) -> Verification:
    """Check every event, every checkpoint and the head row.

    `expect_head` is a (seq, sha256) pair printed on an earlier export or report: the event at
    that position must still carry that hash, which catches even a whole trail rolled back to
    an earlier signed state. Every head a time-stamping authority witnessed (the tokens stored
    beside the checkpoints, and `witnesses` a provider kept) must still be in the trail, and
    each token's imprint must be the trail's own hash there; with `trust` (roots and
    intermediates) each token's signature is checked too: that catches a suffix rewritten and
    re-signed by someone holding the checkpoint key. Without roots the tokens' signatures are
    counted as unchecked, and with `strict` they are a fault.
    With `workers` >= 1 a long chain is cut into contiguous stretches
    walked by that many worker processes (each event's hash depends only on its own row, so
    stretches verify independently) and the links between stretches are checked here; with 0,
    or a chain shorter than `min_events_per_worker`, this process walks it. `ahead` are
    worker processes the caller started early (`verify_start.start`) and stops: those needed
    are used first, the others told to end.
    """
    with engine.connect() as connection, ExitStack() as stack:
        if connection.dialect.name != "sqlite":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            head = connection.execute(
                text(
                    "SELECT seq, hash, last_checkpoint_seq, cadence_events, cadence_minutes, "
                    "format_since, key_id, signature FROM audit_head WHERE id = :id"
                ),
                {"id": HEAD_ID},
            ).one_or_none()
            if head is None:
                for worker in ahead:
                    dismiss(worker)
                return _headless(len(_checkpoints(connection)))
            last = int(connection.scalar(text("SELECT max(seq) FROM audit_event")) or 0)
            count, last_hash, fault = 0, GENESIS_HASH, _check_boundary(head)
            parts = 0 if fault is not None else min(workers, last // max(1, min_events_per_worker))
            # Workers the command started ahead (their interpreters start while it imports),
            # then as many more as the stretches need; the ones not needed are told to stop.
            started = list(ahead[:parts])
            dialect = connection.dialect.name
            started += [start_worker(stack, dialect) for _ in range(parts - len(started))]
            for worker in ahead[parts:]:
                dismiss(worker)
            if started:
                # Told their stretches at once, before anything else is read: each worker reads
                # its own stretch's checkpoints with its events, in one snapshot of its own.
                _send_jobs(engine, settings, head, last, started)
            # Every checkpoint, for the checks at the end (and the walk in this process).
            checkpoints = _checkpoints(connection)
            trail = Trail(
                keys=dict(settings.keys),
                checkpoints=checkpoints,
                format_since=head.format_since,
                head_seq=head.seq,
            )
            walk = Walk(
                connection.connection.dbapi_connection,
                connection.dialect.name,
                trail,
                connection.dialect.loaded_dbapi.Error,
            )
            witnessed = Witnessed()
            if fault is None:
                stretches = (
                    [_result(process, errors) for process, errors in started]
                    if started
                    else [walk.stretch(1, last, final=True)]
                )
                count, last_hash, fault = _join(walk, stretches)
            try:
                if fault is None:
                    _check_end(count, last_hash, head, trail)
                    _check_upgrade(connection, count, trail)
                if fault is None and expect_head is not None:
                    _check_expected(connection, expect_head)
                if fault is None:
                    witnessed = _check_witnessed(connection, witnesses, trust, strict=strict)
            except Faulted as faulted:
                fault = faulted.fault
    return Verification(
        events=count,
        checkpoints=len(checkpoints),
        head_seq=head.seq,
        head_hash=head.hash,
        fault=fault,
        witnesses=witnessed,
    )


def _checkpoints(connection: Connection) -> dict[int, Checkpoint]:
    """Every checkpoint, read with the driver's own cursor in the verification's transaction
    (a million events have 50,000: 0.04-0.09 s of CPU as plain tuples, 0.07-0.12 s as
    SQLAlchemy rows), while the workers walk."""
    return read_checkpoints(connection.connection.dbapi_connection, connection.dialect.name)


def _send_jobs(
    engine: Engine, settings: AuditSettings, head: Any, last: int, workers: list[Worker]
) -> None:
    """Tell each of `workers` its contiguous stretch of events 1..`last`, keys included,
    through its own standard input (a job is a few hundred bytes: the pipe takes it at once,
    before the worker has even started Python)."""
    parts = len(workers)  # at most one per `min_events_per_worker` events: none is empty
    bounds = [(1 + last * part // parts, last * (part + 1) // parts) for part in range(parts)]
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    # Only the plain connection settings travel (SQLAlchemy adds its own adapter objects).
    kwargs = {
        name: value for name, value in kwargs.items() if isinstance(value, str | int | float | bool)
    }
    for (process, _), (start, end) in zip(workers, bounds, strict=True):
        stdin = cast(IO[bytes], process.stdin)  # opened with PIPE
        stdin.write(
            pickle.dumps(
                Job(
                    engine.dialect.name,
                    list(args),
                    kwargs,
                    dict(settings.keys),
                    head.format_since,
                    head.seq,
                    start,
                    end,
                    end == last,
                )
            )
        )
        stdin.close()


def _result(process: subprocess.Popen[bytes], errors: IO[bytes]) -> Stretch:
    output = cast(IO[bytes], process.stdout).read()
    if process.wait() != 0:
        errors.seek(0)
        raise RuntimeError(
            f"An audit verification worker failed (exit {process.returncode}): "
            f"{errors.read().decode(errors='replace')[-2000:]}"
        )
    stretch: Stretch = pickle.loads(output)  # noqa: S301  (from our own worker process)
    return stretch


def _join(walk: Walk, stretches: list[Stretch]) -> tuple[int, str, Fault | None]:
    """Check the link into each stretch, in order; the first fault found wins."""
    prev, count = GENESIS_HASH, 0
    for stretch in stretches:
        if stretch.first_prev is not None and stretch.first_prev != prev:
            first = walk.row(stretch.start)
            fault = (
                walk.broken_link(first)
                if first is not None and stretch.start > 1
                else Fault(
                    FaultKind.ALTERED,
                    seq=stretch.start,
                    message=(
                        f"event {stretch.start}'s link to the event before it (prev_hash) "
                        "was changed."
                    ),
                )
            )
            return count, prev, fault
        count += stretch.count
        if stretch.fault is not None:
            return count, prev, stretch.fault
        prev = stretch.last_hash or prev
    return count, prev, None


def _headless(checkpoints: int) -> Verification:
    """The head row is gone: the application never deletes it (every write moves it) and the
    database refuses to, so someone with database access dropped its triggers and did, and
    nothing can be checked against it."""
    return Verification(
        events=0,
        checkpoints=checkpoints,
        head_seq=0,
        head_hash="",
        fault=Fault(
            FaultKind.HEAD,
            message=(
                "the chain head row is missing: it was deleted outside the application, so the "
                "end of the trail cannot be checked and no event can be recorded until it is "
                "restored."
            ),
        ),
    )


def _check_boundary(head: Any) -> Fault | None:
    if type(head.format_since) is not int or not 1 <= head.format_since <= head.seq + 1:
        return Fault(
            FaultKind.HEAD,
            seq=head.seq,
            message=(
                f"the chain head's format boundary ({head.format_since}) lies outside the trail "
                f"(events 1 to {head.seq}): the head row was edited."
            ),
        )
    return None


def _check_end(count: int, last_hash: str, head: Any, trail: Trail) -> None:
    checkpoints = trail.checkpoints
    if head.seq > count:
        raise Faulted(
            Fault(
                FaultKind.TRUNCATED,
                seq=count + 1,
                message=(
                    f"the trail ends at event {count} but its head says {head.seq}: events "
                    f"{count + 1} to {head.seq} were cut off."
                ),
            )
        )
    if head.seq < count:
        raise Faulted(
            Fault(
                FaultKind.INSERTED,
                seq=head.seq + 1,
                message=(
                    f"events {head.seq + 1} to {count} were added after the chain head "
                    f"({head.seq}) "
                    "without going through the application."
                ),
            )
        )
    beyond = [seq for seq in checkpoints if seq > count]
    if beyond:
        raise Faulted(
            Fault(
                FaultKind.TRUNCATED,
                checkpoint=min(beyond),
                message=(
                    f"signed checkpoint {min(beyond)} names an event beyond the end of the trail "
                    f"(event {count}): the newest events were cut off."
                ),
            )
        )
    if head.hash != last_hash:
        raise Faulted(
            Fault(
                FaultKind.HEAD,
                seq=count,
                message=(f"the chain head's hash does not match event {count}."),
            )
        )
    latest = max(checkpoints, default=0)
    if head.last_checkpoint_seq != latest:
        recorded = head.last_checkpoint_seq
        raise Faulted(
            Fault(
                FaultKind.CHECKPOINT,
                checkpoint=recorded or latest,
                message=(
                    f"checkpoint {recorded}, the latest the head records, is missing: checkpoints "
                    "were deleted."
                    if recorded and recorded not in checkpoints
                    else f"the head records checkpoint {recorded} as the latest, but the latest "
                    "stored is "
                    f"{latest}: the head or the checkpoints were edited."
                ),
            )
        )
    if (
        latest >= trail.format_since
        and (head.cadence_events, head.cadence_minutes) != checkpoints[latest][4:]
    ):
        raise Faulted(
            Fault(
                FaultKind.HEAD,
                seq=count,
                message=(
                    f"the cadence the head records differs from the one checkpoint {latest} "
                    "signed: "
                    "the head row was edited."
                ),
            )
        )
    if count:
        _check_head_signature(head, trail)


def _check_head_signature(head: Any, trail: Trail) -> None:
    """The head is signed on every write: without the key, no event after the last checkpoint
    can be edited, added or removed, and the head cannot be moved to another event."""
    if head.signature is None:
        unsealed = head.seq < trail.format_since
        raise Faulted(
            Fault(
                FaultKind.HEAD,
                seq=head.seq,
                message=(
                    "the chain head is not signed. "
                    + (
                        "The trail was upgraded but never sealed in its new format: if this "
                        "database "
                        "was upgraded just now, `governance init` seals it; otherwise it was "
                        "rolled "
                        "back to before the upgrade, so first compare it with a head kept outside "
                        "(--expect-head)."
                        if unsealed
                        else "The signed head was replaced."
                    )
                ),
            )
        )
    key = trail.keys.get(head.key_id)
    if key is None:
        raise Faulted(
            Fault(
                FaultKind.HEAD,
                seq=head.seq,
                message=(
                    f"the chain head names key {head.key_id!r}, which is not among the known audit "
                    f"keys ({', '.join(sorted(trail.keys))}): it was forged, or the key that "
                    "signed it "
                    "is missing from the key ring."
                ),
            )
        )
    message = head_message(head.seq, head.hash, format_since=trail.format_since)
    if not verify_signature(key, message, head.signature):
        since = max(trail.checkpoints, default=0)
        raise Faulted(
            Fault(
                FaultKind.HEAD,
                seq=head.seq,
                message=(
                    f"the chain head's signature does not match event {head.seq} and its hash: the "
                    f"trail was rewritten or cut after checkpoint {since} and the head recomputed "
                    "without the key."
                ),
            )
        )


def _check_upgrade(connection: Connection, count: int, trail: Trail) -> None:
    """The first event of format 2 after format-1 events is the `audit:upgrade` event, whose
    signed checkpoint fixes the format boundary and how many format-1 checkpoints there were."""
    since = trail.format_since
    if since == 1 or count < since:
        return
    row = connection.execute(
        text("SELECT event_type, detail FROM audit_event WHERE seq = :seq"), {"seq": since}
    ).one()
    try:
        recorded = json.loads(row.detail)
        previous = (
            recorded["previous_checkpoints"] if row.event_type == AuditType.AUDIT_UPGRADE else None
        )
    except (ValueError, TypeError, KeyError):
        previous = None
    if not isinstance(previous, int):
        raise Faulted(
            Fault(
                FaultKind.HEAD,
                seq=since,
                message=(
                    f"event {since}, where the head says the current format begins, is not the "
                    "format upgrade: the format boundary was moved."
                ),
            )
        )
    present = sum(1 for seq in trail.checkpoints if seq < since)
    if present != previous:
        raise Faulted(
            Fault(
                FaultKind.CHECKPOINT,
                seq=since,
                message=(
                    f"the format upgrade (event {since}) recorded {previous} earlier signed "
                    f"checkpoints, but {present} remain: format-1 checkpoints were deleted."
                ),
            )
        )


def _check_expected(connection: Connection, expect_head: tuple[int, str]) -> None:
    seq, digest = expect_head
    if seq == 0:
        return  # the empty trail's head (parse_head allows no other at 0): every trail has it
    stored = connection.execute(
        text("SELECT hash FROM audit_event WHERE seq = :seq"), {"seq": seq}
    ).scalar()
    if stored != digest:
        found = "is missing" if stored is None else f"has hash {stored}"
        raise Faulted(
            Fault(
                FaultKind.HEAD,
                seq=seq,
                message=(
                    f"the head kept outside the system (seq={seq}, sha256={digest}) does not "
                    "match: "
                    f"event {seq} {found}. Events up to it were changed or cut off, or the whole "
                    "trail was rolled back to an earlier state."
                ),
            )
        )


def _check_witnessed(
    connection: Connection,
    kept: Sequence[Witness],
    trust: Mapping[str, Sequence[x509.Certificate]] | None,
    *,
    strict: bool = False,
) -> Witnessed:
    """Check every stored token and every one a provider kept against the trail; returns how
    many heads were witnessed, whether their signatures were checked (not without `trust`
    roots) and the latest token's own seq and time. Each token's own imprint and time are read
    from the token (no certificate needed), never taken from the row stored beside it: only
    the authority's signature needs the certificates, and with `strict` tokens it cannot check
    are a fault."""
    stored = [
        (Witness(seq=int(row[0]), head_hash=str(row[1]), token=bytes(row[2])), row[3])
        for row in connection.execute(
            # Plain SQL: a trail command maps no other model (the ORM would configure them all).
            text(
                "SELECT seq, head_hash, token, stamped_at FROM audit_timestamp ORDER BY seq"
            ).columns(stamped_at=UTCDateTime())
        )
    ]
    witnesses = [*stored, *((witness, None) for witness in kept)]
    roots = (trust or {}).get("roots") or ()
    latest: tuple[int, dt.datetime] | None = None
    for witness, recorded_at in witnesses:
        at = _check_witness(connection, witness, recorded_at)
        if latest is None or witness.seq >= latest[0]:
            latest = (witness.seq, at)
        if roots:  # its imprint is the trail's (checked above); is it the authority's token?
            try:
                witness_tokens.check(witness, roots, (trust or {}).get("intermediates", ()))
            except witness_tokens.WitnessError as error:
                raise Faulted(
                    Fault(FaultKind.WITNESS, seq=witness.seq, message=f"{error}.")
                ) from error
    if witnesses and not roots and strict:
        raise Faulted(
            Fault(
                FaultKind.WITNESS,
                seq=witnesses[0][0].seq,
                message=(
                    f"the time-stamp tokens on {len(witnesses)} heads (the first on event "
                    f"{witnesses[0][0].seq}) witness the trail's own hashes, but their "
                    "signatures were not checked: set AUDIT_TSA_CA_FILE to check them "
                    "(--strict fails without it)."
                ),
            )
        )
    return Witnessed(
        heads=len(witnesses),
        signatures_checked=bool(roots),
        latest_seq=None if latest is None else latest[0],
        latest_at=None if latest is None else latest[1],
    )


def _unwitnessed(stamp: witness_tokens.Stamp, seq: int, recorded: str, found: str | None) -> str:
    """Why a token whose imprint is not the trail's hash at `seq` (`found`) fails."""
    if found != recorded and stamp.witnesses(seq, recorded):
        state = "is missing" if found is None else f"now has hash {found}"
        return (
            f"a time-stamping authority witnessed event {seq} with sha256={recorded} on "
            f"{stamp.at:%Y-%m-%d %H:%M:%S} UTC, but it {state}: the trail up to it was "
            "rewritten after it was witnessed (even if its checkpoints were signed again)."
        )
    how = (
        "the token was replaced by one for another message, or the trail up to it was "
        "rewritten after it was witnessed and the record beside the token edited to match."
    )
    if found == recorded:
        return (
            f"the time-stamp token for seq {seq} does not witness sha256={found}, the hash event "
            f"{seq} has and the head recorded with the token: {how}"
        )
    trail = (
        f"event {seq} (it is missing)"
        if found is None
        else f"sha256={found}, the hash event {seq} has"
    )
    return (
        f"the time-stamp token for seq {seq} witnesses neither {trail}, nor sha256={recorded}, "
        f"the head recorded with it: {how}"
    )


def _hash_at(connection: Connection, seq: int) -> str | None:
    found = connection.execute(
        text("SELECT hash FROM audit_event WHERE seq = :seq"), {"seq": seq}
    ).scalar()
    return None if found is None else str(found)


def _check_witness(
    connection: Connection, witness: Witness, recorded_at: dt.datetime | None
) -> dt.datetime:
    """The token's imprint must be the digest of the message for the hash the trail has at
    its seq, and the head and time recorded with it (`recorded_at`, for a stored token) those
    the token itself carries; returns the token's own time."""
    try:
        stamp = witness.read()
    except witness_tokens.WitnessError as error:
        raise Faulted(Fault(FaultKind.WITNESS, seq=witness.seq, message=f"{error}.")) from error
    seq, recorded = witness.seq, witness.head_hash
    found = _hash_at(connection, seq)
    if found is None or not stamp.witnesses(seq, found):
        raise Faulted(
            Fault(FaultKind.WITNESS, seq=seq, message=_unwitnessed(stamp, seq, recorded, found))
        )
    if recorded != found:
        raise Faulted(
            Fault(
                FaultKind.WITNESS,
                seq=seq,
                message=(
                    f"the token for seq {seq} does not witness sha256={recorded}, the head "
                    f"recorded with it, but sha256={found}, the hash event {seq} has: the "
                    "record of the witnessed head was edited."
                ),
            )
        )
    if recorded_at is not None and recorded_at != stamp.at:
        raise Faulted(
            Fault(
                FaultKind.WITNESS,
                seq=seq,
                message=(
                    f"the token for seq {seq} was made on {stamp.at:%Y-%m-%d %H:%M:%S} UTC, "
                    f"but is recorded as made on {recorded_at:%Y-%m-%d %H:%M:%S} UTC: the "
                    "record of the witnessed head was edited."
                ),
            )
        )
    return stamp.at


def run_verification(
    session: Session,
    engine: Engine,
    *,
    by: Actor,
    expect_head: tuple[int, str] | None = None,
    workers: int = 0,
    witnesses: Sequence[Witness] = (),
    strict: bool = False,
    verifying: Future[Verification] | None = None,
) -> Verification:
    """Check `audit:verify`, verify on `engine` (a read engine), and record the result as an
    `audit:verify` event in `session`; the caller commits. With `verifying` (from
    `verify_early`, given the same arguments) the result is taken from it instead.

    A tampered trail may refuse the record itself (an event forged beyond the head takes the
    next sequence number; an edited head stops every write): the write is then logged as
    CRITICAL by `audit.record` and the verification result still stands and is returned.
    """
    authz.require(
        by,
        Permission.AUDIT_VERIFY,
        audit={"event_type": AuditType.AUDIT_VERIFY, "target_type": "audit_trail"},
    )
    result = (
        verifying.result()
        if verifying is not None
        else verify_chain(
            engine,
            audit.settings_of(session),
            expect_head=expect_head,
            workers=workers,
            witnesses=witnesses,
            trust=trust_of(session),
            strict=strict,
        )
    )
    fault = result.fault
    try:
        with session.begin_nested():
            audit.record(
                session,
                AuditType.AUDIT_VERIFY,
                by=by,
                target_type="audit_trail",
                outcome=Outcome.SUCCESS if fault is None else Outcome.FAILURE,
                detail={
                    "events": result.events,
                    "checkpoints": result.checkpoints,
                    "head_seq": result.head_seq,
                    "head_hash": result.head_hash,
                    "witnessed": result.witnessed,
                    "unchecked_signatures": result.unchecked,
                    "fault": None
                    if fault is None
                    else {
                        "kind": str(fault.kind),
                        "seq": fault.seq,
                        "checkpoint": fault.checkpoint,
                        "message": fault.message,
                    },
                },
            )
    except (SQLAlchemyError, audit.HeadInconsistent):
        if fault is None:
            raise
    return result


def verify_early(
    engine: Engine,
    settings: Mapping[str, Any],
    audit_settings: AuditSettings,
    *,
    expect_head: tuple[int, str] | None = None,
    workers: int = 0,
    witnesses: Sequence[Witness] = (),
    strict: bool = False,
    ahead: Sequence[Worker] = (),
) -> Future[Verification]:
    """Start `verify_chain` on `engine` now (with the worker processes started `ahead`), in a
    thread that mostly waits for its worker processes, so that a command builds its app
    (seconds of imports) while the chain is walked. The result stays inside the process until
    `run_verification` has checked `audit:verify` and hands it over; nothing is written
    meanwhile."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-verify")
    verifying = pool.submit(
        verify_chain,
        engine,
        audit_settings,
        expect_head=expect_head,
        workers=workers,
        witnesses=witnesses,
        trust=witness_tokens.trust_from_settings(settings),
        strict=strict,
        ahead=ahead,
    )
    pool.shutdown(wait=False)
    return verifying


def parse_head(text: str) -> tuple[int, str]:
    """`SEQ:SHA256` (or `seq=SEQ, sha256=SHA256` as printed on exports) as a pair."""
    cleaned = text.replace("seq=", "").replace("sha256=", "").replace(",", ":").replace(" ", "")
    seq, _, digest = cleaned.partition(":")
    number = whole_number(seq, maximum=2**63 - 1)
    if number is None or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValidationFailed(
            "A chain head is written SEQ:SHA256, as printed on exports.",
            {"expect_head": f"{text!r} is not SEQ:SHA256."},
        )
    if number == 0 and digest != GENESIS_HASH:
        raise ValidationFailed(
            f"The empty trail's head is 0:{GENESIS_HASH}; no other head has seq 0.",
            {"expect_head": f"{text!r} is not a head that was printed."},
        )
    return number, digest
