"""Writing the audit trail: one function appends an event inside the caller's transaction.

HIPAA 164.312(b) and NIST SP 800-171 3.3 require that activity be recorded and protected from
change. Each event stores the SHA-256 of its canonical content chained to the previous event;
the chain head row is locked for the rest of the transaction (PostgreSQL `FOR UPDATE`; SQLite
transactions begin IMMEDIATE), so concurrent writers from several processes append in turn and
the chain never forks. If writing the event fails, the caller's action fails with it: nothing
is committed without its record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from governance.audit import head as chain
from governance.audit.format import (
    CURRENT_FORMAT,
    GENESIS_HASH,
    LEGACY_FORMAT,
    canonical_detail,
    chain_hash,
    check_time,
    checkpoint_message,
    content_text,
    fingerprint,
    format_time,
    head_message,
    sign,
    storable_text,
)
from governance.audit.head import HEAD_ID, Head, HeadInconsistent
from governance.audit.models import AuditCheckpoint, AuditHead, AuditType, Outcome
from governance.kernel import telemetry
from governance.kernel.errors import NotFound
from governance.kernel.types import utcnow

__all__ = [
    "GENESIS_HASH",
    "HEAD_ID",
    "AuditActor",
    "AuditSettings",
    "HeadInconsistent",
    "RecordListener",
    "canonical_content",
    "chain_hash",
    "chain_head",
    "content_text",
    "format_time",
    "on_record",
    "record",
    "record_refusal",
    "seal",
    "settings_of",
    "take_writer_lock",
]

log = logging.getLogger(__name__)

# What follows a recorded event inside the same transaction: (session, the event as written,
# whether a checkpoint was signed with it). The registry installs them (webhooks' outbox); the
# audit trail knows nothing of who listens.
RecordListener = Callable[[Session, Mapping[str, Any], bool], None]
_LISTENERS: list[RecordListener] = []


def on_record(listener: RecordListener) -> None:
    """Call `listener` after every event this process records (installing twice is once)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


class AuditActor(Protocol):
    @property
    def id(self) -> int | None: ...

    @property
    def email(self) -> str: ...


@dataclass(frozen=True)
class AuditSettings:
    """What the writer and the verifier need from configuration; set on each session's `info`
    by the app.

    `keys` maps a key id to its key: every key that may have signed a checkpoint or the head
    (rotation keeps the old ones); `current_key_id` names the one new signatures use. Keys
    never appear in a repr, a log line or an error message.
    """

    keys: Mapping[str, bytes] = field(repr=False)
    current_key_id: str
    checkpoint_every: int = 1000
    checkpoint_minutes: int = 10

    def __post_init__(self) -> None:
        # A plain dict copy: the caller cannot change it afterwards, and it pickles for the
        # verifier's worker processes.
        object.__setattr__(self, "keys", dict(self.keys))
        if self.current_key_id not in self.keys:
            raise ValueError(
                f"The current audit key id {self.current_key_id!r} is not among "
                f"the known key ids {sorted(self.keys)}."
            )
        if self.checkpoint_every < 1 or self.checkpoint_minutes < 1:
            raise ValueError("The audit checkpoint cadence must be at least 1 event and 1 minute.")

    @classmethod
    def from_key(
        cls, key: bytes, *, checkpoint_every: int = 1000, checkpoint_minutes: int = 10
    ) -> AuditSettings:
        """Settings for one key file: its id is its fingerprint."""
        key_id = fingerprint(key)
        return cls(
            keys={key_id: key},
            current_key_id=key_id,
            checkpoint_every=checkpoint_every,
            checkpoint_minutes=checkpoint_minutes,
        )

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_key_id]

    def __repr__(self) -> str:
        return (
            f"AuditSettings(key_ids={sorted(self.keys)}, "
            f"current_key_id={self.current_key_id!r}, "
            f"checkpoint_every={self.checkpoint_every}, "
            f"checkpoint_minutes={self.checkpoint_minutes})"
        )

    __str__ = __repr__


def settings_of(session: Session) -> AuditSettings:
    settings = session.info.get("audit")
    if not isinstance(settings, AuditSettings):
        raise RuntimeError(
            "This session was not opened by governance.kernel.db.Database: "
            "the audit settings are missing, so nothing may be written."
        )
    return settings


def canonical_content(event: dict[str, Any]) -> str:
    """`content_text` of an event given as a dict with a datetime and a parsed detail."""
    return content_text(
        event["actor_email"],
        event["actor_id"],
        event["agreement_id"],
        event["agreement_version"],
        event["clause"],
        event["dataset_id"],
        canonical_detail(event["detail"]),
        str(event["event_type"]),
        format_time(event["occurred_at"]),
        str(event["outcome"]),
        event["rule"],
        event["seq"],
        event["target_id"],
        event["target_type"],
    )


def record(
    session: Session,
    event_type: AuditType,
    *,
    by: AuditActor | None,
    outcome: Outcome = Outcome.SUCCESS,
    agreement_id: int | None = None,
    agreement_version: int | None = None,
    dataset_id: int | None = None,
    target_type: str | None = None,
    target_id: object = None,
    rule: str | None = None,
    clause: str | None = None,
    detail: dict[str, Any] | None = None,
    actor_email: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Append one event in the caller's transaction and return its sequence number.

    A failure is logged as CRITICAL before it propagates: HIPAA 164.312(b) and NIST SP 800-171
    3.3.4 ask that a failure of audit logging raise an alert, and the action it would have
    recorded fails with it (the caller's transaction is rolled back, nothing is committed).
    """
    started = time.perf_counter()
    try:
        seq = _append(
            session,
            event_type,
            by=by,
            outcome=outcome,
            agreement_id=agreement_id,
            agreement_version=agreement_version,
            dataset_id=dataset_id,
            target_type=target_type,
            target_id=target_id,
            rule=rule,
            clause=clause,
            detail=detail,
            actor_email=actor_email,
            now=now,
        )
    except Exception as error:
        log.critical(
            "AUDIT WRITE FAILED for %s by %s: %s: %s. The action was refused and "
            "nothing of it is committed.",
            event_type,
            by.email if by is not None else actor_email,
            type(error).__name__,
            error,
        )
        raise
    # Operators watch this: a slow trail slows every action, each waits for its event.
    telemetry.observe_audit_write(time.perf_counter() - started)
    return seq


def _append(
    session: Session,
    event_type: AuditType,
    *,
    by: AuditActor | None,
    outcome: Outcome,
    agreement_id: int | None,
    agreement_version: int | None,
    dataset_id: int | None,
    target_type: str | None,
    target_id: object,
    rule: str | None,
    clause: str | None,
    detail: dict[str, Any] | None,
    actor_email: str | None,
    now: dt.datetime | None,
) -> int:
    settings = settings_of(session)
    occurred_at = now or utcnow()
    check_time(occurred_at)
    event: dict[str, Any] = {
        "seq": None,  # the head's next, set by _write
        "occurred_at": occurred_at,
        "event_type": AuditType(event_type),
        "outcome": Outcome(outcome),
        "actor_id": by.id if by is not None else None,
        "actor_email": _text(by.email if by is not None else actor_email),
        "agreement_id": agreement_id,
        "agreement_version": agreement_version,
        "dataset_id": dataset_id,
        "target_type": _text(target_type),
        "target_id": None if target_id is None else storable_text(str(target_id)),
        "rule": _text(rule),
        "clause": _text(clause),
        "detail": detail or {},
    }
    connection = session.connection()
    # The head this process last wrote is usually still the head: write after it, on the
    # condition that it is (head.py); else read the head under lock and write after that.
    was = chain.remembered(connection)
    written = None
    if was is not None and not _needs_seal(was):
        written = _write(connection, settings, was, event, guarded=True)
    if was is None or written is None:
        was = chain.read(connection)
        if _needs_seal(was):
            was = _seal(connection, settings, was, occurred_at)
        written = _write_locked(connection, settings, was, event)
    checkpointed = written.last_checkpoint_seq == written.seq != was.last_checkpoint_seq
    for listener in _LISTENERS:
        listener(session, event, checkpointed)
    return written.seq


def _text(value: str | None) -> str | None:
    return None if value is None else storable_text(value)


def _write(
    connection: Connection,
    settings: AuditSettings,
    head: Head,
    event: dict[str, Any],
    *,
    guarded: bool,
) -> Head | None:
    """Write `event` after `head`, sign a checkpoint when one is due, sign the new head;
    return the new head, or None when `guarded` and the stored head is no longer `head`."""
    seq = event["seq"] = head.seq + 1
    occurred_at: dt.datetime = event["occurred_at"]
    occurred_text = chain.utc_text(occurred_at)
    detail_json = canonical_detail(event["detail"])
    digest = chain_hash(
        head.hash,
        content_text(
            event["actor_email"],
            event["actor_id"],
            event["agreement_id"],
            event["agreement_version"],
            event["clause"],
            event["dataset_id"],
            detail_json,
            event["event_type"],
            chain.canonical_time(occurred_text),  # format_time(occurred_at), formatted once
            event["outcome"],
            event["rule"],
            seq,
            event["target_id"],
            event["target_type"],
        ),
    )
    # The detail is stored as the canonical text hashed.
    row = {
        **event,
        "detail": detail_json,
        "prev_hash": head.hash,
        "hash": digest,
    }
    moved: dict[str, Any] = {
        "seq": seq,
        "hash": digest,
        "key_id": settings.current_key_id,
        "signature": _sign(
            settings.current_key, head_message(seq, digest, format_since=head.format_since)
        ),
    }
    new_head = head._replace(seq=seq, hash=digest)
    checkpoint = None
    if _checkpoint_due(settings, head, seq, occurred_at):
        every, minutes = settings.checkpoint_every, settings.checkpoint_minutes
        checkpoint = {
            "seq": seq,
            "head_hash": digest,
            "created_at": occurred_at,
            "key_id": settings.current_key_id,
            "signature": sign(
                settings.current_key,
                checkpoint_message(
                    seq, digest, format_since=head.format_since, every=every, minutes=minutes
                ),
            ),
            "cadence_events": every,
            "cadence_minutes": minutes,
        }
        moved.update(
            last_checkpoint_seq=seq,
            last_checkpoint_at=occurred_at,
            cadence_events=every,
            cadence_minutes=minutes,
        )
        new_head = new_head._replace(
            last_checkpoint_seq=seq,
            last_checkpoint_at=occurred_at,
            cadence_events=every,
            cadence_minutes=minutes,
        )
    if not chain.append(
        connection,
        was=head,
        guarded=guarded,
        event=row,
        head=moved,
        checkpoint=checkpoint,
        now=new_head,
        occurred_at_text=occurred_text,
    ):
        return None
    return new_head


# HMAC-SHA256 with the key's padded inner and outer hashes computed once per key (RFC 2104):
# each event signs the new head, and OpenSSL's one-shot HMAC sets the key up every time.
_BLOCK = 64
_INNER = bytes(x ^ 0x36 for x in range(256))
_OUTER = bytes(x ^ 0x5C for x in range(256))
_pads: dict[bytes, tuple[Any, Any]] = {}


def _sign(key: bytes, message: str) -> str:
    """`format.sign(key, message)`, the same signature, cheaper per call."""
    pads = _pads.get(key)
    if pads is None:
        block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        pads = (
            hashlib.sha256(block.translate(_INNER)),
            hashlib.sha256(block.translate(_OUTER)),
        )
        if len(_pads) >= 8:  # a few keys over a process's life (rotation); never grows unbounded
            _pads.clear()
        _pads[key] = pads
    inner = pads[0].copy()
    inner.update(message.encode())
    outer = pads[1].copy()
    outer.update(inner.digest())
    return outer.hexdigest()


def _write_locked(
    connection: Connection, settings: AuditSettings, head: Head, event: dict[str, Any]
) -> Head:
    """`_write` after the head read under lock in this transaction."""
    written = _write(connection, settings, head, event, guarded=False)
    if written is None:
        raise HeadInconsistent("The audit chain head row is missing: run `governance init`.")
    return written


def _checkpoint_due(settings: AuditSettings, head: Head, seq: int, now: dt.datetime) -> bool:
    """The rule the verifier checks (audit_walk): a checkpoint at the first event of format 2,
    and then within the cadence the last checkpoint promised. A writer configured with another
    cadence signs a checkpoint at once, promising its own."""
    if seq == head.format_since or head.last_checkpoint_at is None:
        return True
    every, minutes = head.cadence_events, head.cadence_minutes
    if (
        every != settings.checkpoint_every
        or minutes != settings.checkpoint_minutes
        or every is None
        or minutes is None
    ):
        return True
    return seq - head.last_checkpoint_seq >= every or now - head.last_checkpoint_at >= dt.timedelta(
        minutes=minutes
    )


def _needs_seal(head: Head) -> bool:
    """Events of format 1 are stored and none of format 2 yet: the next event is the seal."""
    return head.seq >= 1 and head.format_since == head.seq + 1


def _seal(connection: Connection, settings: AuditSettings, head: Head, now: dt.datetime) -> Head:
    """Write the `audit:upgrade` event: the first event of format 2. It records how many
    format-1 checkpoints exist and the format-1 head; its signed checkpoint binds the format
    boundary, so no later event can be passed off as format 1, and no format-1 checkpoint can
    be deleted unnoticed."""
    earlier = connection.execute(
        select(func.count())
        .select_from(AuditCheckpoint)
        .where(AuditCheckpoint.seq < head.format_since)
    ).scalar_one()
    event: dict[str, Any] = {
        "seq": None,
        "occurred_at": now,
        "event_type": AuditType.AUDIT_UPGRADE,
        "outcome": Outcome.SUCCESS,
        "actor_id": None,
        "actor_email": UPGRADE_ACTOR,
        "agreement_id": None,
        "agreement_version": None,
        "dataset_id": None,
        "target_type": "audit_trail",
        "target_id": None,
        "rule": None,
        "clause": None,
        "detail": {
            "format": CURRENT_FORMAT,
            "previous_format": LEGACY_FORMAT,
            "previous_checkpoints": earlier,
            "previous_head": {"seq": head.seq, "sha256": head.hash},
        },
    }
    log.warning(
        "Audit trail upgraded to format %s at event %s (format-1 head seq=%s).",
        CURRENT_FORMAT,
        head.seq + 1,
        head.seq,
    )
    return _write_locked(connection, settings, head, event)


UPGRADE_ACTOR = "system:audit-upgrade"


def seal(session: Session, *, now: dt.datetime | None = None) -> int | None:
    """Record the format upgrade now if it is pending (`governance init` calls this right after
    migrating); return the event's seq, or None when there was nothing to seal."""
    connection = session.connection()
    head = chain.read(connection)
    if not _needs_seal(head):
        return None
    moment = now or utcnow()
    check_time(moment)
    return _seal(connection, settings_of(session), head, moment).seq


def record_refusal(
    session: Session, refusal: dict[str, Any], *, by: AuditActor | None
) -> int | None:
    """Record a refused action after its transaction was rolled back; the caller commits."""
    fields = dict(refusal)
    event_type = fields.pop("event_type", None)
    if event_type is None:
        return None
    fields.setdefault("outcome", Outcome.DENIED)
    seq: int = record(session, event_type, by=by, **fields)
    return seq


#: The rule a refused look-up is recorded under when its id names nothing at all.
NO_SUCH_ID = "no-such-id"


def lookup_refusal(
    event_type: AuditType,
    target_type: str,
    target_id: int,
    *,
    hidden_by: str | None,
    who_sees: str,
    **context: Any,
) -> dict[str, Any]:
    """The refusal of a look-up by id answered 404, for `NotFound(audit=...)`.

    The person is told the same whether the id names something hidden from them or nothing
    (no oracle of what exists); the trail tells the two apart for the compliance manager:
    `hidden_by` is the rule that hid an existing object (`who_sees` says it in words, and its
    agreement and dataset are in `context`), None when the id names nothing (recorded as
    NO_SUCH_ID). Both are recorded: a run of guessed ids is a probe whether or not the guesses
    hit."""
    return {
        "event_type": event_type,
        "target_type": target_type,
        "target_id": target_id,
        "rule": hidden_by or NO_SUCH_ID,
        "detail": {"reason": who_sees if hidden_by else "Nothing has this id."},
        **context,
    }


def unseen(
    noun: str,
    object_id: int,
    event_type: AuditType,
    *,
    hidden: Mapping[str, Any] | None,
    rule: str,
    who_sees: str,
) -> NotFound:
    """404 for a `noun` by id that the person may not see, worded as for an id that names
    nothing ("There is no output 7 that you can see."), refusing `event_type`: `hidden` is
    the agreement and dataset of the object that exists and `rule` hid (recorded with it),
    None when nothing has the id (`lookup_refusal`)."""
    return NotFound(
        f"There is no {noun} {object_id} that you can see.",
        audit=lookup_refusal(
            event_type,
            noun.replace(" ", "_"),
            object_id,
            hidden_by=rule if hidden is not None else None,
            who_sees=who_sees,
            **(hidden or {}),
        ),
    )


def take_writer_lock(session: Session) -> None:
    """Take the audit head's row lock now, before reading the state a change depends on.

    Every change records an event, so it takes this lock before it commits anyway. Taking it
    first makes two changes of the same object run one after the other on PostgreSQL (READ
    COMMITTED): the second reads the state the first committed and is refused by the
    lifecycle table, instead of both passing the check. It also keeps one lock order (the
    head, then any row lock), so changes cannot deadlock. SQLite's BEGIN IMMEDIATE already
    runs writers one at a time (and has no FOR UPDATE). The head read with the lock is the
    one the change's event is then written after, without reading it again.
    """
    chain.read(session.connection())


def chain_head(session: Session) -> tuple[int, str]:
    """The current head (sequence number and hash), printed on every export and report."""
    row = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)
    ).one()
    return row.seq, row.hash
