"""Having the trail's heads witnessed: asking a time-stamping authority (RFC 3161) to stamp each
signed checkpoint's chain head, and the periodic job that does it.

What a token states, and checking that it holds, is governance/audit/witness.py's; this module
only obtains tokens (the request goes out with `requests`: `rfc3161-client` makes no network
call), checks each answer there before keeping it, and records each stamp or failure in the
trail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from cryptography import x509
from rfc3161_client import TimestampRequestBuilder
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditCheckpoint, AuditTimestamp, AuditType, Outcome
from governance.audit.witness import Witness, WitnessError, check, message, trust_from_settings
from governance.kernel.types import utcnow

log = logging.getLogger(__name__)

# Checkpoints stamped per run of the job: a trail that was offline for long catches up over a
# few runs rather than holding one transaction open for hundreds of network calls.
STAMPS_PER_RUN = 50
REQUEST_TIMEOUT_SECONDS = 10
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Authority:
    """A time-stamping authority: where to ask, and the certificates its tokens chain to."""

    url: str
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Authority | None:
        url = str(settings.get("AUDIT_TSA_URL") or "")
        if not url:
            return None
        return cls(url=url, **trust_from_settings(settings))

    def check(self, witness: Witness) -> dt.datetime:
        """The time the authority witnessed `witness`, or WitnessError saying why not."""
        return check(witness, self.roots, self.intermediates)


def request_token(authority: Authority, seq: int, head_hash: str) -> Witness:
    """Ask the authority to stamp one head, and check its answer before keeping it."""
    query = (
        TimestampRequestBuilder()
        .data(message(seq, head_hash))
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    try:
        reply = requests.post(
            authority.url,
            data=query.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=REQUEST_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        )
        body = reply.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
    except requests.RequestException as error:
        raise WitnessError(f"the time-stamping authority did not answer: {error}") from error
    if reply.status_code != 200 or len(body) > MAX_RESPONSE_BYTES:
        raise WitnessError(f"the time-stamping authority answered HTTP {reply.status_code}")
    witness = Witness(seq=seq, head_hash=head_hash, token=body)
    response = witness.response()
    if response.tst_info.nonce != query.nonce:
        raise WitnessError("the authority's answer is not for this request (nonce differs)")
    authority.check(witness)
    return witness


def unwitnessed(session: Session) -> int:
    """Signed checkpoints with no token yet (the authority was unreachable, or none is set)."""
    stamped = select(AuditTimestamp.seq)
    return len(
        session.scalars(
            select(AuditCheckpoint.seq).where(AuditCheckpoint.seq.not_in(stamped))
        ).all()
    )


def stamp_checkpoints(session: Session, actor: Any, now: dt.datetime) -> int:
    """The periodic job: have the authority witness each signed checkpoint not yet stamped,
    oldest first. A failure is recorded (audit:timestamp, failure) and the job tries again on
    its next run; it never holds up the trail, which keeps being written and signed."""
    authority = Authority.from_settings(session.info.get("settings") or {})
    if authority is None:
        return 0
    stamped_seqs = select(AuditTimestamp.seq)
    due = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.seq.not_in(stamped_seqs))
        .order_by(AuditCheckpoint.seq)
        .limit(STAMPS_PER_RUN)
    ).all()
    done = 0
    for checkpoint in due:
        try:
            witness = request_token(authority, checkpoint.seq, checkpoint.head_hash)
        except WitnessError as error:
            log.warning("Audit checkpoint %s not timestamped: %s", checkpoint.seq, error)
            audit.record(
                session,
                AuditType.AUDIT_TIMESTAMP,
                by=actor,
                outcome=Outcome.FAILURE,
                target_type="audit_checkpoint",
                target_id=checkpoint.seq,
                detail={"authority": authority.url, "error": str(error)[:500]},
                now=now,
            )
            break  # the authority is down or refusing: try again on the next run
        stamped_at = witness.stamped_at
        session.add(
            AuditTimestamp(
                seq=checkpoint.seq,
                head_hash=checkpoint.head_hash,
                token=witness.token,
                authority=authority.url,
                stamped_at=stamped_at,
                created_at=utcnow(),
            )
        )
        audit.record(
            session,
            AuditType.AUDIT_TIMESTAMP,
            by=actor,
            target_type="audit_checkpoint",
            target_id=checkpoint.seq,
            detail={
                "authority": authority.url,
                "head_hash": checkpoint.head_hash,
                "stamped_at": stamped_at.isoformat(),
            },
            now=now,
        )
        done += 1
    return done
