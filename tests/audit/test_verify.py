"""`governance audit verify`: intact chains pass; every kind of tampering is caught and named.

The intruder has database access and has dropped the append-only triggers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditType
from governance.audit.queries import occurred_text
from governance.audit.service import chain_hash, content_text
from governance.audit.verify import FaultKind, verify_chain
from governance.kernel.extensions import database
from tests.audit.conftest import CliInvoker
from tests.conftest import fresh
from tests.support import People

Intruder = Callable[..., None]
COLUMNS = (
    "actor_email, actor_id, agreement_id, agreement_version, clause, dataset_id, detail, "
    "event_type, {occurred}, outcome, rule, seq, target_id, target_type"
)


def stored_content(db: Session, seq: int) -> list[Any]:
    occurred = str(occurred_text(db.get_bind().dialect.name))
    row = db.execute(
        text(
            f"SELECT {COLUMNS.format(occurred=occurred)} FROM audit_event "  # noqa: S608
            "WHERE seq = :seq"
        ),
        {"seq": seq},
    ).one()
    return list(row)


def hash_of(db: Session, seq: int) -> str:
    return str(db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq)))


def checkpoints(db: Session) -> list[int]:
    return list(db.scalars(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)))


def rewrite_suffix(db: Session, intruder: Intruder, target: int, last: int) -> dict[int, str]:
    """Edit event `target` and store every hash from it to `last` recomputed, as an intruder
    with the database would; returns each rewritten event's new hash."""
    prev = hash_of(db, target - 1)
    rewritten: list[tuple[int, str, str]] = []
    for seq in range(target, last + 1):
        content = stored_content(db, seq)
        if seq == target:
            content[6] = '{"page":"rewritten"}'
        digest = chain_hash(prev, content_text(*content))
        rewritten.append((seq, prev, digest))
        prev = digest
    db.rollback()
    intruder(
        "UPDATE audit_event SET detail = :detail WHERE seq = :seq",
        detail='{"page":"rewritten"}',
        seq=target,
    )
    for seq, prev_hash, digest in rewritten:
        intruder(
            "UPDATE audit_event SET prev_hash = :prev, hash = :hash WHERE seq = :seq",
            seq=seq,
            prev=prev_hash,
            hash=digest,
        )
    return {seq: digest for seq, _, digest in rewritten}


def verify(cli: CliInvoker, *args: str) -> tuple[int, str]:
    result = cli("audit", "verify", *args)
    return result.exit_code, result.output


def test_an_intact_chain_verifies(cli: CliInvoker, chain: int, db: Session) -> None:
    code, output = verify(cli)
    assert code == 0, output
    assert f"Audit trail intact: {chain} events" in output
    assert f"seq={chain} sha256={hash_of(fresh(db), chain)}" in output
    verified = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_VERIFY)
    ).one()
    assert verified.detail["events"] == chain
    assert verified.detail["fault"] is None


def test_an_edited_field_is_named(cli: CliInvoker, chain: int, intruder: Intruder) -> None:
    intruder("UPDATE audit_event SET outcome = 'allowed' WHERE seq = 10")
    code, output = verify(cli)
    assert code == 1
    assert "FAILED at event 10 (altered)" in output
    assert "field of it was edited" in output


def test_an_edited_detail_is_named(cli: CliInvoker, chain: int, intruder: Intruder) -> None:
    intruder(
        "UPDATE audit_event SET detail = :detail WHERE seq = :seq",
        detail='{"page":99}',
        seq=chain - 2,
    )
    code, output = verify(cli)
    assert code == 1
    assert f"FAILED at event {chain - 2} (altered)" in output


def test_a_deleted_event_is_named(cli: CliInvoker, chain: int, intruder: Intruder) -> None:
    intruder("DELETE FROM audit_event WHERE seq = 10")
    code, output = verify(cli)
    assert code == 1
    assert "FAILED at event 10 (deleted)" in output
    assert "event 10 is missing: event 11 follows event 9" in output


def test_a_deletion_hidden_by_renumbering_is_named(
    cli: CliInvoker, chain: int, intruder: Intruder
) -> None:
    intruder("DELETE FROM audit_event WHERE seq = 10")
    for seq in range(11, chain + 1):
        intruder("UPDATE audit_event SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    code, output = verify(cli)
    assert code == 1
    assert "FAILED at event 10 (deleted)" in output
    assert "1 event(s) before event 10 were deleted" in output


def test_an_inserted_event_is_named(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    """A careful intruder shifts later events up and forges a correctly hashed event."""
    forged = stored_content(db, 9)
    forged[6] = '{"note":"forged"}'
    forged[11] = 10
    prev = hash_of(db, 9)
    digest = chain_hash(prev, content_text(*forged))
    db.rollback()
    for seq in range(chain, 9, -1):
        intruder("UPDATE audit_event SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    intruder(
        "INSERT INTO audit_event (seq, occurred_at, event_type, outcome, actor_id, "
        "actor_email, agreement_id, agreement_version, dataset_id, target_type, target_id, "
        "rule, clause, detail, prev_hash, hash) SELECT 10, occurred_at, event_type, "
        "outcome, actor_id, actor_email, agreement_id, agreement_version, dataset_id, "
        "target_type, target_id, rule, clause, :detail, :prev, :hash FROM audit_event "
        "WHERE seq = 9",
        detail=forged[6],
        prev=prev,
        hash=digest,
    )
    code, output = verify(cli)
    assert code == 1
    assert "FAILED at event 10 (inserted)" in output
    assert "event 11 was written directly after event 9" in output


def test_an_event_added_beyond_the_head_is_named(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    forged = stored_content(db, chain)
    forged[11] = chain + 1
    prev = hash_of(db, chain)
    db.rollback()
    intruder(
        "INSERT INTO audit_event (seq, occurred_at, event_type, outcome, actor_id, "
        "actor_email, agreement_id, agreement_version, dataset_id, target_type, target_id, "
        "rule, clause, detail, prev_hash, hash) SELECT :seq, occurred_at, event_type, "
        "outcome, actor_id, actor_email, agreement_id, agreement_version, dataset_id, "
        "target_type, target_id, rule, clause, detail, :prev, :hash FROM audit_event "
        "WHERE seq = :last",
        seq=chain + 1,
        last=chain,
        prev=prev,
        hash=chain_hash(prev, content_text(*forged)),
    )
    code, output = verify(cli)
    assert code == 1
    assert f"FAILED at event {chain + 1} (inserted)" in output


def test_swapped_events_are_named(cli: CliInvoker, chain: int, intruder: Intruder) -> None:
    intruder("UPDATE audit_event SET seq = -1 WHERE seq = 10")
    intruder("UPDATE audit_event SET seq = 10 WHERE seq = 11")
    intruder("UPDATE audit_event SET seq = 11 WHERE seq = -1")
    code, output = verify(cli)
    assert code == 1
    assert "FAILED at event 10 (reordered)" in output
    assert "written after the event now stored as 11" in output


def test_a_truncated_tail_is_named(cli: CliInvoker, chain: int, intruder: Intruder) -> None:
    intruder("DELETE FROM audit_event WHERE seq > :keep", keep=chain - 3)
    code, output = verify(cli)
    assert code == 1
    assert f"FAILED at event {chain - 2} (truncated)" in output
    assert f"events {chain - 2} to {chain} were cut off" in output


def test_a_truncated_tail_with_a_forged_head_is_caught_by_a_checkpoint(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    keep = chain - 8  # more than CHECKPOINT_EVERY events: a signed checkpoint is cut off
    beyond = min(c for c in checkpoints(db) if c > keep)
    new_head = hash_of(db, keep)
    db.rollback()
    intruder("DELETE FROM audit_event WHERE seq > :keep", keep=keep)
    intruder("UPDATE audit_head SET seq = :keep, hash = :hash", keep=keep, hash=new_head)
    code, output = verify(cli)
    assert code == 1
    assert f"FAILED at checkpoint {beyond} (truncated)" in output


def test_a_truncation_that_also_removed_checkpoints_is_caught_by_the_signed_head(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    keep = chain - 8
    last_checkpoint = max(c for c in checkpoints(db) if c <= keep)
    new_head = hash_of(db, keep)
    db.rollback()
    intruder("DELETE FROM audit_event WHERE seq > :keep", keep=keep)
    intruder("DELETE FROM audit_checkpoint WHERE seq > :keep", keep=keep)
    intruder(
        "UPDATE audit_head SET seq = :keep, hash = :hash, last_checkpoint_seq = :cp",
        keep=keep,
        hash=new_head,
        cp=last_checkpoint,
    )
    code, output = verify(cli)
    assert code == 1
    assert f"FAILED at event {keep} (head)" in output
    assert "signature does not match" in output


def test_a_rollback_to_an_earlier_signed_head_is_caught_by_a_kept_head(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session, people: People
) -> None:
    """Someone who copied the head row earlier can cut the trail back to it: every signature
    still holds, so only a head kept outside the database tells (docs/security.md)."""
    earlier = fresh(db).execute(text("SELECT * FROM audit_head")).mappings().one()
    for i in range(8):
        audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"later": i})
    db.commit()
    head_seq, head_hash = audit.chain_head(db)
    kept = f"{head_seq}:{head_hash}"  # printed on an export after the rollback point
    db.rollback()
    intruder("DELETE FROM audit_event WHERE seq > :keep", keep=earlier["seq"])
    intruder("DELETE FROM audit_checkpoint WHERE seq > :keep", keep=earlier["seq"])
    columns = ", ".join(f"{name} = :{name}" for name in earlier)  # the table's own names
    intruder(f"UPDATE audit_head SET {columns}", **earlier)  # noqa: S608
    assert verify(cli)[0] == 0  # the database alone can no longer tell
    code, output = verify(cli, "--expect-head", kept)
    assert code == 1
    assert f"FAILED at event {head_seq} (head)" in output
    assert f"event {head_seq} is missing" in output


def test_a_rewritten_suffix_is_caught_by_a_signed_checkpoint(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    """The intruder edits an event and recomputes every later hash: the chain is consistent
    again, but the checkpoints were signed with a key the intruder does not have."""
    target = chain - 12
    first_checkpoint = min(c for c in checkpoints(db) if c >= target)
    prev = rewrite_suffix(db, intruder, target, chain)[chain]
    intruder("UPDATE audit_head SET hash = :hash", hash=prev)
    code, output = verify(cli)
    assert code == 1
    assert f"FAILED at checkpoint {first_checkpoint} (rewritten)" in output
    assert "rewritten with new hashes" in output


def test_a_forged_checkpoint_is_named(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    checkpoint = checkpoints(db)[1]
    db.rollback()
    intruder(
        "UPDATE audit_checkpoint SET head_hash = :hash WHERE seq = :seq",
        hash="f" * 64,
        seq=checkpoint,
    )
    code, output = verify(cli)
    assert code == 1
    assert f"FAILED at checkpoint {checkpoint} (checkpoint)" in output


def test_a_malformed_expected_head_is_refused(cli: CliInvoker, chain: int) -> None:
    result = cli("audit", "verify", "--expect-head", "12:nothex")
    assert result.exit_code == 1
    assert "SEQ:SHA256" in result.output
    result = cli("audit", "verify", "--expect-head", "0:" + "a" * 64)
    assert result.exit_code == 1
    assert "no other head has seq 0" in result.output
    assert "FAILED" not in result.output


def test_the_head_printed_for_an_empty_trail_is_in_every_trail(cli: CliInvoker, chain: int) -> None:
    """An operator who kept the head printed before the first event verifies against it."""
    code, output = verify(cli, "--expect-head", "0:" + "0" * 64)
    assert code == 0, output
    assert "Audit trail intact" in output


@pytest.mark.slow
@pytest.mark.parametrize("tamper", ["none", "swap-at-boundary"])
def test_worker_processes_verify_stretches_and_the_links_between_them(
    app: Flask, chain: int, intruder: Intruder, db: Session, tamper: str
) -> None:
    settings = audit.settings_of(db)
    middle = (chain + 1) // 2 + 1  # the first event of the second stretch
    if tamper != "none":
        intruder("UPDATE audit_event SET seq = -1 WHERE seq = :a", a=middle - 1)
        intruder("UPDATE audit_event SET seq = :a WHERE seq = :b", a=middle - 1, b=middle)
        intruder("UPDATE audit_event SET seq = :b WHERE seq = -1", b=middle)
    result = verify_chain(database(app).read_engine(), settings, workers=2, min_events_per_worker=5)
    if tamper == "none":
        assert result.intact, result.summary()
        assert result.events == chain
    else:
        assert result.fault is not None
        assert result.fault.kind == FaultKind.REORDERED
        assert result.fault.seq == middle - 1


def test_a_kept_head_that_still_matches_passes(cli: CliInvoker, chain: int, db: Session) -> None:
    """The head as an export prints it (`seq=N, sha256=H`) is accepted as well."""
    printed = f"seq={chain}, sha256={hash_of(db, chain)}"
    db.rollback()
    code, output = verify(cli, "--expect-head", printed)
    assert code == 0, output
    assert "Audit trail intact" in output
