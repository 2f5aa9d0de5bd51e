"""What the stored time-stamp tokens show a reader: one statement of the chain's witnesses
(`Witnessed`), and the latest token checked as `governance audit verify` checks each, for the
public register.

The tokens themselves (reading, checking, requesting and storing them) are governance/audit/
witness.py's; this module only says what checking them showed, in the same words everywhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditTimestamp
from governance.audit.witness import Witness, WitnessError, check, trust_of


@dataclass(frozen=True)
class Witnessed:
    """What the time-stamp tokens read by one check show: how many heads they witness (each
    token's imprint, read from the token, is the trail's hash at its seq), whether their
    signatures were checked against the trusted CA certificates (AUDIT_TSA_CA_FILE), and the
    latest token's seq and time, its own genTime (never the column stored beside it).

    Every place that reports the chain's witnesses (`governance audit verify`, the verify
    button, the PDF audit report and evidence packs, the compliance reports, the public
    register) states it with `statement`, so none says "witnessed" where another says
    "not checked"."""

    heads: int = 0
    signatures_checked: bool = False
    latest_seq: int | None = None
    latest_at: dt.datetime | None = None

    @property
    def unchecked(self) -> int:
        """Tokens whose signatures were not checked (all of them, without the CA file)."""
        return 0 if self.signatures_checked else self.heads

    def statement(self) -> str:
        if not self.heads:
            return "No head has been witnessed by a time-stamping authority."
        one = self.heads == 1
        latest = f"event {self.latest_seq} on {self.latest_at:%Y-%m-%d %H:%M:%S} UTC"
        if self.signatures_checked:
            return (
                f"{self.heads} {'head' if one else 'heads'} witnessed by a time-stamping "
                f"authority {'matches' if one else 'match'}. Each token's signature was "
                "checked against the trusted CA certificates (AUDIT_TSA_CA_FILE); the latest "
                f"witnessed {latest}, by the token's own time."
            )
        tokens = (
            "1 head carries a time-stamp token whose imprint matches; its signature was"
            if one
            else f"{self.heads} heads carry time-stamp tokens whose imprints match; their "
            "signatures were"
        )
        return (
            f"{tokens} not checked: set AUDIT_TSA_CA_FILE to check {'it' if one else 'them'}. "
            f"The latest token says it witnessed {latest} (its own time, unproven until its "
            "signature is checked)."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "heads": self.heads,
            "signatures_checked": self.signatures_checked,
            "latest_seq": self.latest_seq,
            "latest_stamped_at": None if self.latest_at is None else self.latest_at.isoformat(),
            "statement": self.statement(),
        }


def latest(session: Session) -> AuditTimestamp | None:
    return session.scalars(
        select(AuditTimestamp).order_by(AuditTimestamp.seq.desc()).limit(1)
    ).first()


def latest_checked(session: Session) -> tuple[AuditTimestamp, Witnessed] | None:
    """The latest stored token, checked as `governance audit verify` checks each: its imprint,
    read from the token, against the hash the trail has at its seq (and the head recorded with
    it), and its signature against AUDIT_TSA_CA_FILE when that is set. None when no head has
    been witnessed; WitnessError says what fails."""
    row = latest(session)
    if row is None:
        return None
    kept = Witness(seq=row.seq, head_hash=row.head_hash, token=row.token)
    stamp = kept.read()
    found = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == row.seq))
    if found != row.head_hash or not stamp.witnesses(row.seq, row.head_hash):
        raise WitnessError(
            f"the time-stamp token for seq {row.seq} does not witness the hash the trail has "
            "there: run `governance audit verify`"
        )
    trust = trust_of(session)
    if trust["roots"]:
        check(kept, trust["roots"], trust["intermediates"])
    return row, Witnessed(
        heads=1, signatures_checked=bool(trust["roots"]), latest_seq=row.seq, latest_at=stamp.at
    )
