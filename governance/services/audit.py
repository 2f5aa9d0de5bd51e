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
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from governance.models.audit import AuditCheckpoint, AuditEvent, AuditHead, AuditType, Outcome
from governance.models.types import canonical_json, utcnow

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HEAD_ID = 1


class AuditActor(Protocol):
    @property
    def id(self) -> int | None: ...

    @property
    def email(self) -> str: ...


@dataclass(frozen=True)
class AuditSettings:
    """What the writer needs from configuration; set on each session's `info` by the app."""

    checkpoint_key: bytes
    checkpoint_every: int = 1000
    checkpoint_minutes: int = 10

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.checkpoint_key).hexdigest()[:16]


def settings_of(session: Session) -> AuditSettings:
    settings = session.info.get("audit")
    if not isinstance(settings, AuditSettings):
        raise RuntimeError("This session was not opened by governance.db.Database: "
                           "the audit settings are missing, so nothing may be written.")
    return settings


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The fields each event's hash covers, in the (sorted) order canonical JSON writes them, with
# how each value is written: "s" text or null, "i" whole number or null, "j" JSON text as is.
CONTENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("actor_email", "s"), ("actor_id", "i"), ("agreement_id", "i"),
    ("agreement_version", "i"), ("clause", "s"), ("dataset_id", "i"), ("detail", "j"),
    ("event_type", "s"), ("occurred_at", "s"), ("outcome", "s"), ("rule", "s"), ("seq", "i"),
    ("target_id", "s"), ("target_type", "s"),
)
_CONTENT_TEMPLATE = "{{" + ",".join(f'"{name}":{{}}' for name, _ in CONTENT_FIELDS) + "}}"
_quote = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses for str


def content_text(actor_email: str | None, actor_id: int | None, agreement_id: int | None,
                 agreement_version: int | None, clause: str | None, dataset_id: int | None,
                 detail_json: str, event_type: str, occurred_at: str, outcome: str,
                 rule: str | None, seq: int, target_id: str | None,
                 target_type: str | None) -> str:
    """The exact text each event's hash covers: the canonical JSON of every stored field except
    the hashes. `occurred_at` is `format_time`'s text and `detail_json` the stored detail, which
    is already canonical JSON; building the text directly (rather than dumping a dict) lets the
    verifier recompute a million hashes without parsing any detail. Arguments are in the
    canonical (sorted) order, so a verifier can pass a stored row positionally."""
    # Whole numbers format as JSON does; the columns are integers, never booleans.
    return _CONTENT_TEMPLATE.format(
        "null" if actor_email is None else _quote(actor_email),
        "null" if actor_id is None else actor_id,
        "null" if agreement_id is None else agreement_id,
        "null" if agreement_version is None else agreement_version,
        "null" if clause is None else _quote(clause),
        "null" if dataset_id is None else dataset_id,
        detail_json, _quote(event_type), _quote(occurred_at), _quote(outcome),
        "null" if rule is None else _quote(rule), seq,
        "null" if target_id is None else _quote(target_id),
        "null" if target_type is None else _quote(target_type))


def canonical_content(event: dict[str, Any]) -> str:
    """`content_text` of an event given as a dict with a datetime and a parsed detail."""
    return content_text(
        event["actor_email"], event["actor_id"], event["agreement_id"],
        event["agreement_version"], event["clause"], event["dataset_id"],
        canonical_json(event["detail"]), str(event["event_type"]),
        format_time(event["occurred_at"]), str(event["outcome"]), event["rule"], event["seq"],
        event["target_id"], event["target_type"])


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def sign_checkpoint(key: bytes, seq: int, head_hash: str) -> str:
    return hmac.new(key, f"{seq}:{head_hash}".encode(), hashlib.sha256).hexdigest()


def record(session: Session, event_type: AuditType, *, by: AuditActor | None,
           outcome: Outcome = Outcome.SUCCESS, agreement_id: int | None = None,
           agreement_version: int | None = None, dataset_id: int | None = None,
           target_type: str | None = None, target_id: object = None, rule: str | None = None,
           clause: str | None = None, detail: dict[str, Any] | None = None,
           actor_email: str | None = None, now: dt.datetime | None = None) -> int:
    """Append one event in the caller's transaction and return its sequence number.

    A failure is logged as CRITICAL before it propagates: HIPAA 164.312(b) and NIST SP 800-171
    3.3.4 ask that a failure of audit logging raise an alert, and the action it would have
    recorded fails with it (the caller's transaction is rolled back, nothing is committed).
    """
    try:
        return _append(session, event_type, by=by, outcome=outcome, agreement_id=agreement_id,
                       agreement_version=agreement_version, dataset_id=dataset_id,
                       target_type=target_type, target_id=target_id, rule=rule, clause=clause,
                       detail=detail, actor_email=actor_email, now=now)
    except Exception as error:
        log.critical("AUDIT WRITE FAILED for %s by %s: %s: %s. The action was refused and "
                     "nothing of it is committed.", event_type,
                     by.email if by is not None else actor_email, type(error).__name__, error)
        raise


def _append(session: Session, event_type: AuditType, *, by: AuditActor | None,
            outcome: Outcome, agreement_id: int | None, agreement_version: int | None,
            dataset_id: int | None, target_type: str | None, target_id: object,
            rule: str | None, clause: str | None, detail: dict[str, Any] | None,
            actor_email: str | None, now: dt.datetime | None) -> int:
    settings = settings_of(session)
    # Core statements on the session's connection: this runs for every access, and the ORM's
    # per-statement bookkeeping would cost more than the write itself.
    connection = session.connection()
    head = connection.execute(_READ_HEAD).one()
    seq: int = head.seq + 1
    occurred_at = now or utcnow()
    event: dict[str, Any] = {
        "seq": seq,
        "occurred_at": occurred_at,
        "event_type": AuditType(event_type),
        "outcome": Outcome(outcome),
        "actor_id": by.id if by is not None else None,
        "actor_email": by.email if by is not None else actor_email,
        "agreement_id": agreement_id,
        "agreement_version": agreement_version,
        "dataset_id": dataset_id,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "rule": rule,
        "clause": clause,
        "detail": detail or {},
    }
    digest = chain_hash(head.hash, canonical_content(event))
    connection.execute(_INSERT_EVENT, {**event, "prev_hash": head.hash, "hash": digest})
    values: dict[str, Any] = {"seq": seq, "hash": digest,
                              "last_checkpoint_seq": head.last_checkpoint_seq,
                              "last_checkpoint_at": head.last_checkpoint_at}
    if _checkpoint_due(settings, seq, head.last_checkpoint_seq, head.last_checkpoint_at,
                       occurred_at):
        connection.execute(_INSERT_CHECKPOINT, {
            "seq": seq, "head_hash": digest, "created_at": occurred_at,
            "key_id": settings.key_id,
            "signature": sign_checkpoint(settings.checkpoint_key, seq, digest)})
        values.update(last_checkpoint_seq=seq, last_checkpoint_at=occurred_at)
    connection.execute(_WRITE_HEAD, values)
    return seq


_READ_HEAD = (select(AuditHead.seq, AuditHead.hash, AuditHead.last_checkpoint_seq,
                     AuditHead.last_checkpoint_at)
              .where(AuditHead.id == HEAD_ID).with_for_update())
_INSERT_EVENT = insert(AuditEvent)
_INSERT_CHECKPOINT = insert(AuditCheckpoint)
_WRITE_HEAD = update(AuditHead).where(AuditHead.id == HEAD_ID)


def _checkpoint_due(settings: AuditSettings, seq: int, last_seq: int,
                    last_at: dt.datetime | None, now: dt.datetime) -> bool:
    if seq - last_seq >= settings.checkpoint_every:
        return True
    return last_at is None or now - last_at >= dt.timedelta(minutes=settings.checkpoint_minutes)


def record_refusal(session: Session, refusal: dict[str, Any], *,
                   by: AuditActor | None) -> int | None:
    """Record a refused action after its transaction was rolled back; the caller commits."""
    fields = dict(refusal)
    event_type = fields.pop("event_type", None)
    if event_type is None:
        return None
    fields.setdefault("outcome", Outcome.DENIED)
    seq: int = record(session, event_type, by=by, **fields)
    return seq


def take_writer_lock(session: Session) -> None:
    """Take the audit head's row lock now, before reading the state a change depends on.

    Every change records an event, so it takes this lock before it commits anyway. Taking it
    first makes two changes of the same object run one after the other on PostgreSQL (READ
    COMMITTED): the second reads the state the first committed and is refused by the
    lifecycle table, instead of both passing the check. It also keeps one lock order (the
    head, then any row lock), so changes cannot deadlock. SQLite's BEGIN IMMEDIATE already
    runs writers one at a time (and has no FOR UPDATE).
    """
    session.execute(select(AuditHead.id).where(AuditHead.id == HEAD_ID).with_for_update())


def chain_head(session: Session) -> tuple[int, str]:
    """The current head (sequence number and hash), printed on every export and report."""
    row = session.execute(select(AuditHead.seq, AuditHead.hash)
                          .where(AuditHead.id == HEAD_ID)).one()
    return row.seq, row.hash
