"""The writer chains an event to the head this process last wrote without reading it first, and
falls back to reading the head under lock whenever the stored head is not exactly that one
(another writer, a rolled-back event, an edit), so the chain never forks."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from governance.audit import head as chain
from governance.audit import service as audit
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditType
from governance.audit.verify import verify_chain
from governance.kernel.db import Database
from governance.kernel.extensions import database
from tests.support import People


@pytest.fixture
def head_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The seq of every head the writer read from the database."""
    reads: list[int] = []
    read = chain.read

    def counted(connection: Connection) -> chain.Head:
        head = read(connection)
        reads.append(head.seq)
        return head

    monkeypatch.setattr(chain, "read", counted)
    return reads


def _record(db: Session, people: People, page: int) -> int:
    return audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"page": page})


def _assert_one_chain(app: Flask, db: Session) -> None:
    total = db.scalar(select(func.count()).select_from(AuditEvent))
    assert db.scalar(select(func.max(AuditEvent.seq))) == total  # no gap, no duplicate
    assert db.scalar(select(func.count(func.distinct(AuditEvent.prev_hash)))) == total
    db.rollback()
    result = verify_chain(database(app).read_engine(), audit.settings_of(db))
    assert result.intact, result.summary()


def test_events_after_the_first_are_written_without_reading_the_head(
    app: Flask, db: Session, people: People, head_reads: list[int]
) -> None:
    _record(db, people, 0)
    db.commit()
    head_reads.clear()
    # Twelve events cross two checkpoints (every 5 in these tests): the guess holds across them.
    seqs = []
    for page in range(1, 13):
        seqs.append(_record(db, people, page))
        db.commit()
    assert head_reads == []
    assert seqs == list(range(seqs[0], seqs[0] + 12))
    assert (
        db.scalar(
            select(func.count()).select_from(AuditCheckpoint).where(AuditCheckpoint.seq.in_(seqs))
        )
        >= 2
    )
    _assert_one_chain(app, db)


def test_a_head_moved_by_another_writer_is_read_and_chained_after(
    app: Flask, db: Session, people: People, head_reads: list[int], database_url: str
) -> None:
    mine = _record(db, people, 0)
    db.commit()
    other = Database(database_url, info=database(app).info)  # another process's engine
    try:
        with other.session() as session:
            theirs = _record(session, people, 1)
            session.commit()
    finally:
        other.dispose()
    head_reads.clear()
    assert theirs == mine + 1
    assert _record(db, people, 2) == mine + 2
    db.commit()
    assert head_reads == [mine + 1]
    _assert_one_chain(app, db)


def test_an_event_rolled_back_leaves_no_gap_and_guessing_resumes(
    app: Flask, db: Session, people: People, head_reads: list[int]
) -> None:
    first = _record(db, people, 0)
    db.commit()
    assert _record(db, people, 1) == first + 1
    db.rollback()
    head_reads.clear()
    assert _record(db, people, 2) == first + 1
    db.commit()
    assert head_reads == [first]
    # A process writing alone reads first after its own miss for a while, then guesses again
    # (and is right).
    for page in range(3, chain.GUESS_AGAIN_AFTER + 3):
        _record(db, people, page)
        db.commit()
    head_reads.clear()
    assert _record(db, people, 99) == first + chain.GUESS_AGAIN_AFTER + 2
    db.commit()
    assert head_reads == []
    _assert_one_chain(app, db)


def test_a_head_whose_cadence_was_changed_is_read_and_a_checkpoint_signed(
    app: Flask, db: Session, people: People, head_reads: list[int]
) -> None:
    """Everything the next event depends on is compared, not only the seq and hash: another
    writer's cadence makes this one sign a checkpoint promising its own."""
    first = _record(db, people, 0)
    db.commit()
    db.execute(text("UPDATE audit_head SET cadence_minutes = cadence_minutes + 1"))
    db.commit()
    head_reads.clear()
    seq = _record(db, people, 1)
    db.commit()
    assert head_reads == [first]
    assert db.get(AuditCheckpoint, seq) is not None
    _assert_one_chain(app, db)


def test_after_a_missed_guess_the_head_is_read_first_then_guessed_again(
    app: Flask,
    db: Session,
    people: People,
    head_reads: list[int],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where other processes write between this one's events (the served API's workers), a
    guess misses nearly every time and costs a statement for nothing: after a miss the next
    GUESS_AGAIN_AFTER events read the head under lock first, with no guarded statement, and
    the one after guesses again. The chain stays one chain throughout."""
    guesses: list[bool] = []  # each guarded append: whether it wrote
    append = chain.append

    def counted(connection: Connection, **kwargs: object) -> bool:
        written = append(connection, **kwargs)  # type: ignore[arg-type]
        if kwargs["guarded"]:
            guesses.append(written)
        return written

    monkeypatch.setattr(chain, "append", counted)
    _record(db, people, 0)
    db.commit()
    other = Database(database_url, info=database(app).info)  # another process's engine
    try:
        seqs = []
        for page in range(1, chain.GUESS_AGAIN_AFTER + 3):
            with other.session() as session:  # another writer moves the head each time
                _record(session, people, -page)
                session.commit()
            guesses.clear()
            head_reads.clear()
            seqs.append(_record(db, people, page))
            db.commit()
            # The first event guesses and misses, the next GUESS_AGAIN_AFTER read first,
            # the one after guesses (and misses) again.
            guessed = page == 1 or page == chain.GUESS_AGAIN_AFTER + 2
            assert guesses == ([False] if guessed else []), page
            assert head_reads == [seqs[-1] - 1], page
    finally:
        other.dispose()
    _assert_one_chain(app, db)
