"""An intruder with write access to the database but not the audit keys (issue 13).

Each test plays one attack that `governance audit verify` let through before format 2, and
checks it now fails loudly: exit 1 and a FAILED summary naming the event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, NoResultFound
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.format import chain_hash, content_text
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditType
from governance.audit.queries import occurred_text
from governance.audit.verify import verify_chain
from governance.kernel.extensions import database
from tests.audit.conftest import CHECKPOINT_EVERY, CliInvoker
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

Intruder = Callable[..., None]
COLUMNS = (
    "actor_email, actor_id, agreement_id, agreement_version, clause, dataset_id, detail, "
    "event_type, {occurred}, outcome, rule, seq, target_id, target_type"
)


def content_of(db: Session, seq: int) -> list[Any]:
    """An event's hashed fields as the intruder reads them (the time as the hash covers it)."""
    occurred = str(occurred_text(db.get_bind().dialect.name))
    row = db.execute(
        text(
            f"SELECT {COLUMNS.format(occurred=occurred)} FROM audit_event "  # noqa: S608
            "WHERE seq = :seq"
        ),
        {"seq": seq},
    ).one()
    return list(row)


def rehash_from(
    db: Session,
    intruder: Intruder,
    first: int,
    edit: Callable[[int, list[Any]], None] | None = None,
) -> str:
    """Recompute every hash from event `first` to the head, as an intruder without the key
    can, after `edit` changed the hashed fields; point the head at the new last hash."""
    last = audit.chain_head(fresh(db))[0]
    prev = str(db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == first - 1)) or "0" * 64)
    updates = []
    for seq in range(first, last + 1):
        fields = content_of(db, seq)
        if edit is not None:
            edit(seq, fields)
        digest = chain_hash(prev, content_text(*fields))
        updates.append({"seq": seq, "prev": prev, "hash": digest, "detail": fields[6]})
        prev = digest
    db.rollback()
    for values in updates:
        intruder(
            "UPDATE audit_event SET detail = :detail, prev_hash = :prev, hash = :hash "
            "WHERE seq = :seq",
            **values,
        )
    intruder("UPDATE audit_head SET hash = :hash", hash=prev)
    return prev


def verify(cli: CliInvoker, *args: str) -> tuple[int, str]:
    result = cli("audit", "verify", *args)
    return result.exit_code, result.output


def assert_fails(cli: CliInvoker, where: str) -> str:
    code, output = verify(cli)
    assert code == 1, output
    assert output.startswith("Audit trail verification FAILED"), output
    assert f"FAILED at {where}" in output, output
    return output


def checkpoint_seqs(db: Session) -> list[int]:
    return list(fresh(db).scalars(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)))


# -- 1. checkpoints cannot be stripped, and the head is signed -------------------------------


def test_stripping_every_checkpoint_and_rehashing_an_edit_is_refused(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    """The attack of the issue: delete every checkpoint, reset the head's checkpoint counter,
    edit an event and rehash the chain. It verified as "0 signed checkpoints verified"."""
    intruder("DELETE FROM audit_checkpoint")
    intruder("UPDATE audit_head SET last_checkpoint_seq = 0, last_checkpoint_at = NULL")

    def forge(seq: int, fields: list[Any]) -> None:
        if seq == 12:
            fields[6] = '{"page":"forged"}'

    rehash_from(db, intruder, 12, forge)
    output = assert_fails(cli, "event 1 (checkpoint)")
    assert "should carry a signed checkpoint" in output
    assert "checkpoints were deleted" in output


def test_one_deleted_checkpoint_is_missed_at_the_cadence_it_promised(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    middle = checkpoint_seqs(db)[3]
    intruder("DELETE FROM audit_checkpoint WHERE seq = :seq", seq=middle)
    output = assert_fails(cli, f"event {middle} (checkpoint)")
    assert f"promised the next one within {CHECKPOINT_EVERY} events" in output


def test_a_checkpoint_due_by_time_is_required(
    cli: CliInvoker, db: Session, people: People, intruder: Intruder
) -> None:
    """While events are written, a checkpoint at least every AUDIT_CHECKPOINT_MINUTES: here
    two events 11 minutes apart, within the event cadence."""
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, now=start)
    audit.record(
        db, AuditType.AUDIT_SEARCH, by=people.compliance, now=start + dt.timedelta(minutes=11)
    )
    db.commit()
    last = audit.chain_head(db)[0]
    assert last in checkpoint_seqs(db)
    db.rollback()
    intruder("DELETE FROM audit_checkpoint WHERE seq = :seq", seq=last)
    intruder("UPDATE audit_head SET last_checkpoint_seq = (SELECT max(seq) FROM audit_checkpoint)")
    output = assert_fails(cli, f"event {last} (checkpoint)")
    assert "within 10 minutes" in output


def test_an_edit_after_the_last_checkpoint_is_caught_by_the_signed_head(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session, people: People
) -> None:
    """The blind window: events after the last checkpoint could be edited and rehashed.
    The head is now signed on every write."""
    fresh(db)
    for page in range(2):  # the first may fall on the cadence; the second does not
        audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"page": page})
    db.commit()
    last = audit.chain_head(db)[0]
    assert last not in checkpoint_seqs(db)

    def forge(seq: int, fields: list[Any]) -> None:
        fields[6] = '{"page":"forged"}'

    rehash_from(db, intruder, last, forge)
    output = assert_fails(cli, f"event {last} (head)")
    assert "signature does not match" in output


def test_an_edited_format_boundary_stops_writes_and_fails_verification(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session, people: People
) -> None:
    intruder("UPDATE audit_head SET format_since = 1000000")
    output = assert_fails(cli, f"event {chain} (head)")
    assert "format boundary (1000000) lies outside the trail" in output
    with pytest.raises(audit.HeadInconsistent):
        audit.record(fresh(db), AuditType.AUDIT_SEARCH, by=people.compliance)
    db.rollback()


HEAD_REFUSED = "audit_head keeps its one row and only moves forward"


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = seq - 1",  # the next events would reuse seen seqs
        "UPDATE audit_head SET seq = 0, hash = '{genesis}', last_checkpoint_seq = 0",
        "UPDATE audit_head SET id = 2",
    ],
)
def test_the_database_refuses_deleting_the_head_or_moving_it_back(
    cli: CliInvoker, chain: int, db: Session, statement: str
) -> None:
    """Someone with the database but without dropping the triggers: the head is updated by
    every write, so it cannot be append-only, but it is never deleted nor moved back."""
    before = fresh(db).execute(text("SELECT * FROM audit_head")).one()
    db.rollback()
    with pytest.raises(DBAPIError, match=HEAD_REFUSED):
        db.execute(text(statement.format(genesis="0" * 64)))
    db.rollback()
    assert fresh(db).execute(text("SELECT * FROM audit_head")).one() == before
    db.rollback()
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output


TRUNCATE_REFUSED = {
    "audit_event": "audit_event is append-only",
    "audit_checkpoint": "audit_checkpoint is append-only",
    "audit_timestamp": "audit_timestamp is append-only",
    "audit_head": HEAD_REFUSED,
}


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        *((f"TRUNCATE {table}", table) for table in TRUNCATE_REFUSED),
        # One statement over several tables is refused by the first one's trigger.
        ("TRUNCATE audit_checkpoint, audit_event RESTART IDENTITY CASCADE", "audit_checkpoint"),
    ],
)
def test_postgresql_refuses_truncating_the_audit_tables(
    cli: CliInvoker, db: Session, chain: int, statement: str, refused: str
) -> None:
    """TRUNCATE empties a table without firing its row triggers: a statement trigger on each
    audit table refuses it, and the trail is as it was."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (its DELETE fires the row triggers)")
    counted = (f"(SELECT count(*) FROM {table})" for table in TRUNCATE_REFUSED)  # noqa: S608
    counts = "SELECT " + ", ".join(counted)  # the test's own table names
    before = fresh(db).execute(text(counts)).one()
    db.rollback()
    with pytest.raises(DBAPIError, match=TRUNCATE_REFUSED[refused]):
        db.execute(text(statement))
    db.rollback()
    assert fresh(db).execute(text(counts)).one() == before
    assert audit.chain_head(db)[0] == chain
    db.rollback()
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output


def test_a_deleted_head_row_is_a_named_fault_not_a_traceback(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session, people: People
) -> None:
    """The triggers refuse to delete the head row (above); an insider who drops them first
    and deletes it is still caught: the command names the fault and exits 1, as for every
    other tampering, instead of dying in its query."""
    intruder("DELETE FROM audit_head")
    output = assert_fails(cli, "the chain head (head)")
    assert "the chain head row is missing" in output
    assert "Traceback" not in output
    with pytest.raises(NoResultFound):  # and nothing can be recorded until it is restored
        audit.record(fresh(db), AuditType.AUDIT_SEARCH, by=people.compliance)
    db.rollback()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("seq = seq + 1", "event {last_plus} (truncated)"),
        ("seq = seq - 1", "event {last} (inserted)"),
        ("hash = :zero", "event {last} (head)"),
        ("signature = :zero", "event {last} (head)"),
        ("key_id = 'ffffffffffffffff'", "event {last} (head)"),
        ("cadence_events = cadence_events + 1", "event {last} (head)"),
        ("last_checkpoint_seq = last_checkpoint_seq + 1", "checkpoint {checkpoint} (checkpoint)"),
    ],
)
def test_a_head_row_updated_to_a_wrong_value_is_found(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session, change: str, where: str
) -> None:
    last = audit.chain_head(fresh(db))[0]
    checkpoint = max(checkpoint_seqs(db)) + 1
    db.rollback()
    intruder(f"UPDATE audit_head SET {change}", zero="0" * 64)  # noqa: S608 (the test's own SQL)
    assert_fails(cli, where.format(last=last, last_plus=last + 1, checkpoint=checkpoint))


def test_the_verify_button_names_a_deleted_head_row(
    app: Flask, chain: int, intruder: Intruder, people: People
) -> None:
    """The page's "Verify the whole chain" reports the same fault; the request's own record
    cannot be written (no head to chain after), and the page still answers."""
    browser = Browser(app.test_client())
    browser.login(people.privacy.email, PASSWORD)
    intruder("DELETE FROM audit_head")
    answer = browser.post("/audit/verify")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    flashed = flashes(browser)
    assert any(
        "Audit trail verification FAILED at the chain head (head): the chain head row is "
        "missing" in message
        for message in flashed
    ), flashed


def flashes(browser: Browser) -> list[str]:
    with browser.client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


def test_verification_accepts_a_cadence_changed_between_writers(
    app: Flask, db: Session, people: People
) -> None:
    """Writers configured with another cadence (a restart with new settings, a CLI with its
    own) sign a checkpoint at once, promising theirs: nothing is reported missing."""
    settings = audit.settings_of(db)
    engine = database(app).engine
    for every, minutes in ((3, 10), (1000, 1), (CHECKPOINT_EVERY, 10)):
        info = {
            **db.info,
            "audit": replace(settings, checkpoint_every=every, checkpoint_minutes=minutes),
        }
        with Session(bind=engine, info=info) as session:
            for i in range(7):
                audit.record(
                    session,
                    AuditType.AUDIT_SEARCH,
                    by=people.compliance,
                    detail={"every": every, "i": i},
                )
            session.commit()
    result = verify_chain(database(app).read_engine(), settings)
    assert result.intact, result.summary()


# -- 2. the hash covers the stored time --------------------------------------------------------


def test_an_edited_stored_time_is_refused(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    """SQLite: another separator drops the event out of every time-window search; PostgreSQL:
    the same date BC drops it out of searches, exports and reports. Both rendered the same
    text as before, so the hash still matched."""
    if db.get_bind().dialect.name == "sqlite":
        intruder(
            "UPDATE audit_event SET occurred_at = replace(occurred_at, ' ', 'T') WHERE seq = 10"
        )
    else:
        intruder(
            "UPDATE audit_event SET occurred_at = ((occurred_at AT TIME ZONE 'UTC')::text "
            "|| ' BC')::timestamp AT TIME ZONE 'UTC' WHERE seq = 10"
        )
    output = assert_fails(cli, "event 10 (malformed)")
    assert "time is not stored as the application stores it" in output


# -- 3. the hashed text trusts no stored type --------------------------------------------------


def test_a_number_stored_as_text_is_refused(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    """SQLite integer columns keep text that is not a number: the text 'null' hashed exactly
    like NULL, so two different rows had one hash (and the event left every search by
    agreement). PostgreSQL refuses the text itself."""
    assert content_of(fresh(db), 10)[2] is None
    db.rollback()
    if db.get_bind().dialect.name != "sqlite":
        with pytest.raises(Exception, match="integer"):
            intruder("UPDATE audit_event SET agreement_id = 'null' WHERE seq = 10")
        return
    intruder("UPDATE audit_event SET agreement_id = 'null' WHERE seq = 10")
    output = assert_fails(cli, "event 10 (malformed)")
    assert "agreement_id holds a str" in output


@pytest.mark.parametrize(
    "detail",
    [
        '{"page":1,"page":19}',  # parsers keep the first or the last key
        '{"page": 19}',
        '{"page":19.0}',
        '{"page":"\\u0031\\u0039"}',
        '["page"]',
    ],
)
def test_a_detail_that_is_not_canonical_json_is_refused(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session, detail: str
) -> None:
    """Spliced raw into the hashed text, any bytes hashed; a rehashed detail with a duplicate
    key meant one thing to this verifier and another to other readers."""
    last = audit.chain_head(fresh(db))[0]

    def forge(seq: int, fields: list[Any]) -> None:
        fields[6] = detail

    rehash_from(db, intruder, last, forge)
    output = assert_fails(cli, f"event {last} (malformed)")
    assert "detail is not RFC 8785 canonical JSON" in output


def test_a_lone_surrogate_is_recorded_not_refused(
    app: Flask, cli: CliInvoker, db: Session, people: People
) -> None:
    """A JSON body may carry "\\ud800": the record of the action (or of its refusal) must not
    fail for it. Lone surrogates are written as U+FFFD; everything still verifies."""
    seq = audit.record(
        db,
        AuditType.AUDIT_SEARCH,
        by=people.compliance,
        target_type="agreement",
        target_id="7\ud800",
        detail={"user": "x\udfff@y", "\ud800": ["\ud83d\ude00"]},
    )
    db.commit()
    event = fresh(db).get_one(AuditEvent, seq)
    assert event.target_id == "7\ufffd"
    assert event.detail == {"user": "x\ufffd@y", "\ufffd": ["\U0001f600"]}
    code, output = verify(cli)
    assert code == 0, output


# -- 5. keys never shown; rotation ----------------------------------------------------------


def test_keys_never_appear_in_reprs_logs_or_errors(
    app: Flask,
    db: Session,
    people: People,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = audit.settings_of(db)
    key = settings.current_key
    shown = [repr(settings), str(settings), f"{settings}", repr(database(app).info), repr(db.info)]
    with pytest.raises(ValueError, match="not among the known key ids") as refused:
        audit.AuditSettings(keys=settings.keys, current_key_id="elsewhere")
    shown.append(str(refused.value))
    stranger = audit.AuditSettings.from_key(b"s" * 32)
    shown.append(verify_chain(database(app).read_engine(), stranger).summary())
    monkeypatch.setattr(audit, "_append", _fail_with_settings)
    with pytest.raises(RuntimeError):
        audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance)
    db.rollback()
    shown.extend(record.getMessage() for record in caplog.records)
    for text_shown in shown:
        for form in (repr(key), key.hex(), key.decode("latin-1")):
            assert form not in text_shown, text_shown
    assert settings.current_key_id in repr(settings)


def _fail_with_settings(session: Session, *args: Any, **kwargs: Any) -> int:
    raise RuntimeError(f"storage refused the write with {audit.settings_of(session)}")


def test_checkpoints_signed_by_a_retired_key_verify_after_rotation(
    app: Flask, db: Session, people: People
) -> None:
    old = audit.settings_of(db)
    new_key = b"n" * 32
    rotated = audit.AuditSettings(
        keys={**old.keys, "2026-rotated": new_key},
        current_key_id="2026-rotated",
        checkpoint_every=old.checkpoint_every,
        checkpoint_minutes=old.checkpoint_minutes,
    )
    with Session(bind=database(app).engine, info={**db.info, "audit": rotated}) as session:
        for i in range(2 * CHECKPOINT_EVERY):
            audit.record(session, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"i": i})
        session.commit()
    key_ids = set(fresh(db).scalars(select(AuditCheckpoint.key_id)))
    assert key_ids == {old.current_key_id, "2026-rotated"}
    engine = database(app).read_engine()
    assert verify_chain(engine, rotated).intact
    forgotten = audit.AuditSettings(keys={"2026-rotated": new_key}, current_key_id="2026-rotated")
    result = verify_chain(engine, forgotten)
    assert result.fault is not None
    assert (
        f"names key {old.current_key_id!r}, which is not among the known audit keys"
        in result.summary()
    )


def test_a_checkpoint_naming_an_unknown_key_is_refused(
    cli: CliInvoker, chain: int, intruder: Intruder, db: Session
) -> None:
    checkpoint = checkpoint_seqs(db)[2]
    intruder(
        "UPDATE audit_checkpoint SET key_id = 'ffffffffffffffff' WHERE seq = :seq", seq=checkpoint
    )
    output = assert_fails(cli, f"checkpoint {checkpoint} (checkpoint)")
    assert "'ffffffffffffffff', which is not among the known audit keys" in output
