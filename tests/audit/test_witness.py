"""Witnessed history: checkpoints timestamped by a real RFC 3161 authority (OpenSSL's `ts`).

The attacker here is stronger than in test_verify.py: an administrator with the database AND
the checkpoint key, who rewrites a suffix of the trail and signs its checkpoints and head
again. The chain and every signature then verify; the authority's tokens still catch it, and
so does a provider's kept copy when the tokens stored here were deleted too.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from rfc3161_client import decode_timestamp_response
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit import timestamping, witness
from governance.audit.format import checkpoint_message, head_message, sign
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditTimestamp, AuditType
from governance.identity.actors import System
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.audit.conftest import CliInvoker
from tests.audit.test_verify import rewrite_suffix, verify
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People
from tests.tsa import Authority, make_authority, serve

SCHEDULER = System("scheduler")
Intruder = Callable[..., None]


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[Authority]:
    yield from serve(tmp_path / "tsa")


@pytest.fixture
def app_config(
    app_config: dict[str, Any], tsa: Authority, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("GOVERNANCE_AUDIT_TSA_URL", tsa.url)
    monkeypatch.setenv("GOVERNANCE_AUDIT_TSA_CA_FILE", str(tsa.root))
    return {**app_config, "AUDIT_TSA_URL": tsa.url, "AUDIT_TSA_CA_FILE": str(tsa.root)}


def stamp(db: Session) -> int:
    db.rollback()  # a fresh snapshot: the intruder's fixture may have written since
    done = timestamping.stamp_checkpoints(db, SCHEDULER, utcnow())
    db.commit()
    return done


def stamped(db: Session) -> list[AuditTimestamp]:
    return list(db.scalars(select(AuditTimestamp).order_by(AuditTimestamp.seq)))


def test_every_signed_checkpoint_is_witnessed_and_verify_checks_the_tokens(
    db: Session, chain: int, cli: CliInvoker, tsa: Authority
) -> None:
    signed = list(db.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    assert stamp(db) == len(signed) >= 4
    rows = stamped(db)
    assert [(r.seq, r.head_hash) for r in rows] == [(c.seq, c.head_hash) for c in signed]
    assert tsa.answered == len(signed)
    for row in rows:  # each token is the authority's signature over exactly that head
        kept = witness.Witness(row.seq, row.head_hash, row.token)
        assert witness.check(kept, [_root(tsa)]) == row.stamped_at
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_TIMESTAMP)
    ).all()
    assert len(events) == len(signed)  # each stamp is itself on the trail
    stamp(db)  # a second run stamps only checkpoints signed since, never one twice
    assert [r.seq for r in stamped(db)][: len(rows)] == [r.seq for r in rows]
    code, output = verify(cli)
    assert code == 0, output
    assert "heads witnessed by a time-stamping authority match" in output


def test_a_rewritten_suffix_with_re_signed_checkpoints_is_caught_by_the_tokens(
    db: Session, chain: int, cli: CliInvoker, intruder: Intruder
) -> None:
    stamp(db)
    witnessed = stamped(db)[-1].seq
    target = witnessed - 2  # an event before the last witnessed head
    _rewrite_and_re_sign(db, intruder, target)
    code, output = verify(cli)
    assert code == 1, output
    assert "(witness)" in output
    assert f"witnessed event {witnessed}" in output or "witnessed event" in output
    assert "rewritten after it was witnessed" in output


def test_deleting_the_stored_tokens_too_is_caught_by_a_providers_kept_copy(
    app: Flask,
    db: Session,
    chain: int,
    cli: CliInvoker,
    intruder: Intruder,
    tmp_path: Path,
) -> None:
    stamp(db)
    kept = app.test_client().get("/register/witness.json")  # what a provider downloads
    assert kept.status_code == 200
    copy = tmp_path / "witness.json"
    copy.write_bytes(kept.data)
    witnessed = json.loads(kept.data)["seq"]
    _rewrite_and_re_sign(db, intruder, witnessed - 3)
    intruder("DELETE FROM audit_timestamp")
    assert verify(cli)[0] == 0  # with the tokens gone, the database alone cannot tell
    code, output = verify(cli, "--witness", str(copy))
    assert code == 1, output
    assert f"witnessed event {witnessed}" in output


def test_a_token_from_another_authority_or_for_another_head_is_refused(
    db: Session, chain: int, tsa: Authority, tmp_path: Path, cli: CliInvoker
) -> None:
    stamp(db)
    row = stamped(db)[-1]
    forged = witness.Witness(row.seq, "0" * 64, row.token)  # the token names another head
    with pytest.raises(witness.WitnessError, match="does not witness"):
        witness.check(forged, [_root(tsa)])
    other_root = make_authority(tmp_path / "other", name="Other TSA")
    from cryptography import x509

    stranger = x509.load_pem_x509_certificate(other_root.read_bytes())
    with pytest.raises(witness.WitnessError):
        witness.check(witness.Witness(row.seq, row.head_hash, row.token), [stranger])
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(
        json.dumps(
            {"seq": row.seq, "sha256": "0" * 64, "token": base64.b64encode(row.token).decode()}
        )
    )
    code, output = verify(cli, "--witness", str(bad_file))
    assert code == 1
    assert "(witness)" in output
    assert "does not witness" in output


def test_an_authority_that_is_down_is_recorded_and_tried_again(
    db: Session, chain: int, tsa: Authority
) -> None:
    tsa.down = True
    assert stamp(db) == 0
    assert stamped(db) == []
    failure = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_TIMESTAMP)
    ).one()
    assert failure.outcome == "failure"
    assert "503" in failure.detail["error"]
    waiting = list(db.scalars(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)))
    assert timestamping.unwitnessed(db) == len(waiting) >= 4
    tsa.down = False
    assert stamp(db) >= len(waiting)
    assert set(waiting) <= {r.seq for r in stamped(db)}  # every one waiting is caught up


def test_a_malformed_witness_file_is_a_clear_error(cli: CliInvoker, tmp_path: Path) -> None:
    bad = tmp_path / "w.json"
    bad.write_text('{"seq": 1}')
    result = cli("audit", "verify", "--witness", str(bad))
    assert result.exit_code == 1
    assert "a witness needs seq, sha256 and token" in result.output
    assert "Traceback" not in result.output


def test_without_an_authority_nothing_is_asked(app: Flask, db: Session, chain: int) -> None:
    db.info["settings"] = {**db.info["settings"], "AUDIT_TSA_URL": ""}
    assert stamp(db) == 0
    assert stamped(db) == []


def _root(tsa: Authority) -> Any:
    from cryptography import x509

    return x509.load_pem_x509_certificate(tsa.root.read_bytes())


def _rewrite_and_re_sign(db: Session, intruder: Intruder, target: int) -> None:
    """Edit event `target`, recompute every later hash, and sign every later checkpoint and
    the head again with the service's own key (the administrator has the key file)."""
    settings = audit.settings_of(db)
    key = settings.current_key
    last = audit.chain_head(db)[0]
    head = db.execute(text("SELECT format_since FROM audit_head")).one()
    later = [
        (c.seq, c.cadence_events, c.cadence_minutes)
        for c in db.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq >= target))
    ]
    hashes = rewrite_suffix(db, intruder, target, last)
    prev = hashes[last]
    for seq, every, minutes in later:
        message = checkpoint_message(
            seq, hashes[seq], format_since=head.format_since, every=every, minutes=minutes
        )
        intruder(
            "UPDATE audit_checkpoint SET head_hash = :hash, signature = :sig WHERE seq = :seq",
            hash=hashes[seq],
            sig=sign(key, message),
            seq=seq,
        )
    intruder(
        "UPDATE audit_head SET hash = :hash, signature = :sig",
        hash=prev,
        sig=sign(key, head_message(last, prev, format_since=head.format_since)),
    )


# Without AUDIT_TSA_CA_FILE (a cron host or a compliance manager's copy of the configuration
# without it) the tokens' signatures cannot be checked, but each token's imprint and time are
# still read from the token itself and compared with the trail, never taken from the row
# stored beside it.

INTACT_UNCHECKED = (
    "heads carry time-stamp tokens whose imprints match; their signatures were not checked: "
    "set AUDIT_TSA_CA_FILE to check them."
)


@pytest.fixture
def without_ca(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Take the CA file out of the configuration (the command's and the app's)."""

    def drop(app: Flask | None = None) -> None:
        monkeypatch.setenv("GOVERNANCE_AUDIT_TSA_CA_FILE", "")
        if app is not None:
            monkeypatch.setitem(database(app).info["settings"], "AUDIT_TSA_CA_FILE", "")

    return drop


def test_the_key_holders_rewrite_with_the_witnessed_heads_edited_fails_without_the_ca_file(
    db: Session, chain: int, cli: CliInvoker, intruder: Intruder, without_ca: Callable[[], None]
) -> None:
    stamp(db)
    rows = stamped(db)
    first = rows[1].seq  # the first witnessed head after the edited event
    _rewrite_and_re_sign(db, intruder, first - 2)
    db.rollback()
    for row in rows:  # the head recorded beside each token, edited to the rewritten chain's
        intruder(
            "UPDATE audit_timestamp SET head_hash = "
            "(SELECT hash FROM audit_event WHERE seq = :seq) WHERE seq = :seq",
            seq=row.seq,
        )
    code, output = verify(cli)
    assert code == 1, output
    assert f"FAILED at event {first} (witness)" in output
    without_ca()
    code, output = verify(cli)
    assert code == 1, output  # main said "Audit trail intact ... heads witnessed ... match"
    assert f"FAILED at event {first} (witness)" in output
    assert f"the time-stamp token for seq {first} does not witness sha256=" in output
    assert "rewritten after it was witnessed and the record beside the token edited" in output


def test_an_intact_witnessed_trail_passes_with_or_without_the_ca_file_saying_which(
    app: Flask,
    browser: Browser,
    people: People,
    db: Session,
    chain: int,
    cli: CliInvoker,
    without_ca: Callable[..., None],
) -> None:
    witnessed = stamp(db)
    code, output = verify(cli)
    assert code == 0, output
    assert f"{witnessed} heads witnessed by a time-stamping authority match." in output
    assert verify(cli, "--strict")[0] == 0  # every signature checked
    browser.login(people.compliance.email, PASSWORD)
    page = browser.post("/audit/verify", follow_redirects=True).get_data(as_text=True)
    assert f"{witnessed} heads witnessed by a time-stamping authority match." in page
    assert "flash-success" in page
    without_ca(app)
    code, output = verify(cli)
    assert code == 0, output
    assert "Audit trail intact: " in output
    assert f"{witnessed} {INTACT_UNCHECKED}" in output
    assert "witnessed by a time-stamping authority match" not in output
    page = browser.post("/audit/verify", follow_redirects=True).get_data(as_text=True)
    assert f"{witnessed} {INTACT_UNCHECKED}" in page
    assert "flash-warning" in page
    code, output = verify(cli, "--strict")  # what a cron job that needs the signatures runs
    assert code == 1, output
    assert "(witness)" in output
    assert f"the time-stamp tokens on {witnessed} heads" in output
    assert "set AUDIT_TSA_CA_FILE to check them (--strict fails without it)" in output
    recorded = fresh(db).scalars(
        select(AuditEvent)
        .where(AuditEvent.event_type == AuditType.AUDIT_VERIFY)
        .order_by(AuditEvent.seq)
    )
    assert [(e.outcome, e.detail["unchecked_signatures"]) for e in recorded] == [
        ("success", 0),
        ("success", 0),
        ("success", 0),
        ("success", witnessed),
        ("success", witnessed),
        ("failure", 0),
    ]


@pytest.mark.parametrize("ca_file", [True, False], ids=["with-ca", "without-ca"])
def test_a_token_replaced_by_one_for_another_message_is_found(
    db: Session,
    chain: int,
    cli: CliInvoker,
    intruder: Intruder,
    tsa: Authority,
    without_ca: Callable[[], None],
    ca_file: bool,
) -> None:
    stamp(db)
    row = stamped(db)[-1]
    authority = timestamping.Authority.from_settings(
        {"AUDIT_TSA_URL": tsa.url, "AUDIT_TSA_CA_FILE": str(tsa.root)}
    )
    assert authority is not None
    other = timestamping.request_token(authority, row.seq, "0" * 64)  # the authority's, genuinely
    _replace_token(db, intruder, row.seq, other.token)
    if not ca_file:
        without_ca()
    code, output = verify(cli)
    assert code == 1, output
    assert f"FAILED at event {row.seq} (witness)" in output
    assert f"the time-stamp token for seq {row.seq} does not witness sha256={row.head_hash}" in (
        output
    )
    assert "the token was replaced by one for another message" in output


def _replace_token(db: Session, intruder: Intruder, seq: int, token: bytes) -> None:
    db.rollback()  # the test's snapshot must not hold SQLite's writer lock
    intruder("UPDATE audit_timestamp SET token = :token WHERE seq = :seq", token=token, seq=seq)


def _unreadable(token: bytes) -> bytes:
    """The token with one byte changed so that its envelope still parses but its content
    (the TSTInfo, which the library parses when first asked for it) does not."""
    for at in range(len(token)):
        changed = bytes(token[:at]) + bytes([token[at] ^ 0xFF]) + bytes(token[at + 1 :])
        try:
            response = decode_timestamp_response(changed)
        except ValueError:
            continue
        try:
            response.tst_info.message_imprint.message  # noqa: B018  (parsed when read)
        except ValueError:
            return changed
    raise AssertionError("no byte of the token makes its content unreadable")


@pytest.mark.parametrize("ca_file", [True, False], ids=["with-ca", "without-ca"])
@pytest.mark.parametrize(
    ("corrupt", "named"),
    [
        (lambda token: token[: len(token) // 2], "is not a time-stamp response"),
        (lambda token: b"", "is not a time-stamp response"),
        (_unreadable, "is not a readable time-stamp token"),
    ],
    ids=["truncated", "empty", "content"],
)
def test_a_corrupted_token_is_a_named_fault(
    db: Session,
    chain: int,
    cli: CliInvoker,
    intruder: Intruder,
    without_ca: Callable[[], None],
    corrupt: Callable[[bytes], bytes],
    named: str,
    ca_file: bool,
) -> None:
    stamp(db)
    row = stamped(db)[0]
    broken = corrupt(row.token)
    _replace_token(db, intruder, row.seq, broken)
    if not ca_file:
        without_ca()
    result = cli("audit", "verify")
    assert result.exit_code == 1, result.output
    assert f"FAILED at event {row.seq} (witness): the token for seq {row.seq} {named}" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_a_token_signature_changed_is_found_only_with_the_ca_file(
    db: Session, chain: int, cli: CliInvoker, intruder: Intruder, without_ca: Callable[[], None]
) -> None:
    """What "not checked" means: the imprint still matches, only the signature is broken."""
    stamp(db)
    row = stamped(db)[0]
    broken = row.token[:-1] + bytes([row.token[-1] ^ 0x01])  # the signature's last byte
    _replace_token(db, intruder, row.seq, broken)
    code, output = verify(cli)
    assert code == 1, output
    assert f"FAILED at event {row.seq} (witness): the token for seq {row.seq}" in output
    without_ca()
    code, output = verify(cli)
    assert code == 0, output
    assert INTACT_UNCHECKED in output
    assert verify(cli, "--strict")[0] == 1


def test_the_head_or_time_recorded_beside_a_token_edited_is_found(
    db: Session, chain: int, cli: CliInvoker, intruder: Intruder, without_ca: Callable[[], None]
) -> None:
    stamp(db)
    row = stamped(db)[0]
    made = row.stamped_at
    without_ca()
    db.rollback()
    edit = "UPDATE audit_timestamp SET head_hash = :hash WHERE seq = :seq"
    intruder(edit, hash="0" * 64, seq=row.seq)
    code, output = verify(cli)
    assert code == 1, output
    assert f"the token for seq {row.seq} does not witness sha256={'0' * 64}, the head" in output
    assert "record of the witnessed head was edited" in output
    intruder(edit, hash=row.head_hash, seq=row.seq)
    assert verify(cli)[0] == 0
    edited = fresh(db).get(AuditTimestamp, row.seq)
    assert edited is not None
    edited.stamped_at = made - dt.timedelta(days=3)  # "witnessed" earlier than it was
    db.commit()
    code, output = verify(cli)
    assert code == 1, output
    assert f"the token for seq {row.seq} was made on {made:%Y-%m-%d %H:%M:%S} UTC" in output
    assert "record of the witnessed head was edited" in output
