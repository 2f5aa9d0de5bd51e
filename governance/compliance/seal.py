"""What "signed with the audit head" means for the compliance manager's documents: the chain
head (position and hash) right after the export's own audit event, the head row's HMAC and the
last signed checkpoint. `governance audit verify --expect-head SEQ:SHA256` checks a kept copy
against the trail; the HMACs can be checked with the audit key of the id named.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditCheckpoint, AuditHead
from governance.kernel.reports.tabular import chain_head_line


@dataclass(frozen=True)
class Seal:
    seq: int
    sha256: str
    head_key_id: str
    head_signature: str
    checkpoint: str  # the last signed checkpoint, described

    def lines(self) -> list[str]:
        return [
            chain_head_line(self.seq, self.sha256),
            f"head HMAC-SHA256 (audit key {self.head_key_id}): {self.head_signature}",
            self.checkpoint,
        ]


def seal(session: Session) -> Seal:
    """The head as it stands in this transaction (after the caller recorded its export)."""
    seq, sha = audit.chain_head(session)
    head = session.get(AuditHead, audit.HEAD_ID)
    checkpoint = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).first()
    return Seal(
        seq=seq,
        sha256=sha,
        head_key_id=(head.key_id if head else None) or "none",
        head_signature=(head.signature if head else None) or "unsigned",
        checkpoint=(
            f"last signed checkpoint: seq={checkpoint.seq}, sha256={checkpoint.head_hash}, "
            f"key {checkpoint.key_id}, HMAC {checkpoint.signature}"
            if checkpoint
            else "last signed checkpoint: none yet"
        ),
    )
