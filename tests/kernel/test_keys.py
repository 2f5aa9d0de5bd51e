"""Keys: a missing or unreadable key stops start-up and every command, naming the file and
what to do; only `governance init` creates keys, and never over one the database depends on.

A silently replaced audit key made every older checkpoint fail for ever (so a real forgery
could no longer be told from a lost key), and a replaced data key made every stored file
unreadable. Keys now have ids; rings keep retired keys by id through rotation; other secrets
are HKDF subkeys; and no key appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import create_app
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditType
from governance.cli import main
from governance.datasets import datastore
from governance.datasets.datastore import envelope, files
from governance.datasets.models import Dataset, DatasetVersion
from governance.kernel import keys
from governance.kernel.config import ConfigError
from governance.kernel.extensions import database
from governance.kernel.keys import KeyFileError, KeyNotAvailable, KeyPurpose, load_ring
from tests.conftest import fresh
from tests.datasets.support import COLUMNS, held_by_ring
from tests.datasets.test_datastore import FRAME, store
from tests.support import SETUP, People

KEY = bytes(range(32))


@pytest.fixture
def cli(commands: CliRunner, database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`governance` commands on the test's database."""
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    return commands


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args))


@pytest.fixture
def arrests(db: Session, people: People) -> Dataset:
    from governance.datasets.service import create_dataset

    dataset = create_dataset(
        db,
        name="Arrests",
        description="",
        provider_id=people.police.id,
        columns=COLUMNS,
        steward_ids=[people.steward.id],
        by=SETUP,
    )
    db.commit()
    return dataset


DAMAGE = {
    "missing": lambda path: path.unlink(),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:31]),
    "unreadable": lambda path: (path.unlink(), path.mkdir()),
}


@pytest.mark.parametrize("purpose", list(KeyPurpose))
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_missing_or_unreadable_key_stops_start_up_naming_the_file(
    app: Flask, app_config: dict[str, Any], instance_path: Path, purpose: KeyPurpose, damage: str
) -> None:
    path = instance_path / f"{purpose.value}.key"
    DAMAGE[damage](path)
    with pytest.raises(ConfigError) as refused:
        create_app(app_config)
    message = str(refused.value)
    assert str(path) in message
    assert "key backup" in message
    if damage == "missing":
        assert "governance init" in message
        assert not path.exists()  # nothing was created in its place


def test_audit_verify_with_a_lost_audit_key_refuses_and_creates_nothing(
    app: Flask, people: People, cli: CliRunner, instance_path: Path
) -> None:
    (instance_path / "audit.key").unlink()
    result = run(cli, "audit", "verify")
    assert result.exit_code == 1
    assert "audit checkpoint key file" in result.output
    assert "is missing" in result.output
    assert "Traceback" not in result.output
    assert not (instance_path / "audit.key").exists()


def test_every_command_needing_the_data_key_refuses_without_it(
    app: Flask, cli: CliRunner, instance_path: Path
) -> None:
    (instance_path / "data.key").unlink()
    for command in (["dataset", "verify"], ["dataset", "list"], ["expire"]):
        result = run(cli, *command)
        assert result.exit_code == 1, command
        assert "data key file" in result.output
    assert not (instance_path / "data.key").exists()


def test_init_creates_missing_keys_once_and_never_overwrites(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    instance = tmp_path / "new-instance"
    monkeypatch.setenv("GOVERNANCE_INSTANCE_PATH", str(instance))
    first = run(cli, "init")
    assert first.exit_code == 0, first.output
    contents = {}
    for purpose in KeyPurpose:
        path = instance / f"{purpose.value}.key"
        contents[purpose] = path.read_bytes()
        assert len(contents[purpose]) == 32
        assert path.stat().st_mode & 0o777 == 0o600
        assert f"{keys.key_id(contents[purpose])} in {path}" in first.output
    again = run(cli, "init")
    assert again.exit_code == 0, again.output
    assert "Created" not in again.output
    for purpose in KeyPurpose:
        assert (instance / f"{purpose.value}.key").read_bytes() == contents[purpose]


@pytest.mark.parametrize("purpose", list(KeyPurpose))
def test_init_does_not_replace_a_key_the_database_depends_on(
    app: Flask,
    db: Session,
    people: People,
    arrests: Dataset,
    cli: CliRunner,
    instance_path: Path,
    purpose: KeyPurpose,
) -> None:
    store(db, arrests)
    assert db.scalar(select(AuditCheckpoint.seq).limit(1)) is not None
    path = instance_path / f"{purpose.value}.key"
    path.unlink()
    result = run(cli, "init")
    assert result.exit_code == 1
    assert "Restore it from your key backup" in result.output
    assert "does not replace a key that data depends on" in result.output
    assert not path.exists()


def test_a_ring_loads_current_and_retired_keys_by_id(tmp_path: Path) -> None:
    current, old = tmp_path / "data.key", bytes(reversed(KEY))
    current.write_bytes(KEY)
    retired = keys.retired_dir(current)
    retired.mkdir()
    (retired / f"{keys.key_id(old)}.key").write_bytes(old)
    # A crash during promotion can leave the current key in the retired folder too.
    (retired / f"{keys.key_id(KEY)}.key").write_bytes(KEY)
    ring = load_ring(KeyPurpose.DATA, current)
    assert ring.current_id == keys.key_id(KEY) == hashlib.sha256(KEY).hexdigest()[:16]
    assert ring.current() == KEY
    assert ring.retired_ids == [keys.key_id(old)]
    assert ring.key(keys.key_id(old)) == old
    with pytest.raises(KeyNotAvailable, match="restore it from your key backup"):
        ring.key("0" * 16)
    (retired / "0123456789abcdef.key").write_bytes(old)
    with pytest.raises(KeyFileError, match="named after its id"):
        load_ring(KeyPurpose.DATA, current)


def _hkdf_sha256(key: bytes, info: bytes) -> bytes:
    """RFC 5869 written out with hmac, independent of the library the service uses."""
    prk = hmac.new(b"\0" * 32, key, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_derived_keys_are_full_width_labelled_hkdf_sha256(tmp_path: Path) -> None:
    current = tmp_path / "audit.key"
    current.write_bytes(KEY)
    ring = load_ring(KeyPurpose.AUDIT, current)
    ledger = ring.derive("differencing ledger")
    assert len(ledger) == 32
    assert ledger == _hkdf_sha256(KEY, b"governance/audit/differencing ledger")
    # A committed vector: a change to how subkeys are derived cannot pass unnoticed.
    assert ledger.hex() == "eb0a4dab3414d6f30cd866ec46a57a9d05f412bc752cf5761706a83a093265f6"
    assert ring.derive("another use") != ledger
    assert ring.derive("differencing ledger", key_id=ring.current_id) == ledger
    data_file = tmp_path / "data.key"
    data_file.write_bytes(KEY)
    assert load_ring(KeyPurpose.DATA, data_file).derive("differencing ledger") != ledger
    with pytest.raises(ValueError, match="label"):
        ring.derive("")
    with pytest.raises(KeyNotAvailable):
        ring.derive("differencing ledger", key_id="f" * 16)


def test_rotating_the_data_key_rewraps_every_file_key_and_reads_on(
    app: Flask,
    app_config: dict[str, Any],
    db: Session,
    arrests: Dataset,
    cli: CliRunner,
    instance_path: Path,
) -> None:
    # Versions whose keys the ring wraps (stored before keys per holder); versions held by
    # agreements or their dataset are not the ring's (tests/agreements/test_crypto_shredding).
    first = held_by_ring(db, store(db, arrests))
    second = held_by_ring(db, store(db, arrests, FRAME.head(2)))
    old_id = files.config_of(db).ring.current_id
    result = run(cli, "keys", "rotate", "--purpose", "data")
    assert result.exit_code == 0, result.output
    new_id = keys.key_id((instance_path / "data.key").read_bytes())
    assert new_id != old_id
    assert f"now {new_id}; {old_id} is retired; 2 file key(s) re-wrapped" in result.output
    assert (keys.retired_dir(instance_path / "data.key") / f"{old_id}.key").exists()
    fresh(db)
    rows = db.scalars(select(DatasetVersion).order_by(DatasetVersion.id)).all()
    assert [r.wrapping_key_id for r in rows] == [new_id, new_id]
    # The running app (loaded before the rotation) and a restarted one both read on.
    assert datastore.read_columns(rows[0], ["age"])["age"].tolist() == [34, 19, 51]
    restarted = create_app(app_config)
    try:
        with database(restarted).session() as session:
            again = session.get(DatasetVersion, second.id)
            assert again is not None
            assert datastore.read_columns(again, ["age"])["age"].tolist() == [34, 19]
    finally:
        database(restarted).dispose()
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.KEY_ROTATE)
    ).one()
    assert event.detail == {
        "purpose": "data",
        "retired_key_id": old_id,
        "new_key_id": new_id,
        "file_keys_rewrapped": 2,
    }
    assert first.id != second.id


def test_rotating_the_audit_key_keeps_the_old_one_by_id(
    app: Flask,
    app_config: dict[str, Any],
    db: Session,
    people: People,
    cli: CliRunner,
    instance_path: Path,
) -> None:
    signed_with = set(db.scalars(select(AuditCheckpoint.key_id)))
    result = run(cli, "keys", "rotate", "--purpose", "audit")
    assert result.exit_code == 0, result.output
    ring = load_ring(KeyPurpose.AUDIT, instance_path / "audit.key")
    assert signed_with
    assert signed_with <= set(ring.retired_ids)
    assert ring.current_id not in signed_with
    # Each old checkpoint's key is found by the id the checkpoint names.
    for key_id in signed_with:
        assert keys.key_id(ring.keys[key_id]) == key_id
    # After the rotation the whole trail still verifies, and new signatures use the new key.
    verified = run(cli, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output
    signed_now = set(fresh(db).scalars(select(AuditCheckpoint.key_id)))
    assert ring.current_id in signed_now | set(db.scalars(select(AuditHead.key_id)))


def test_a_retired_data_key_is_discarded_only_when_nothing_needs_it(
    app: Flask, db: Session, arrests: Dataset, cli: CliRunner, instance_path: Path
) -> None:
    held_by_ring(db, store(db, arrests))
    current = files.config_of(db).ring.current_id
    refused = run(cli, "keys", "discard", "--purpose", "data", "--key-id", current)
    assert refused.exit_code == 1
    assert "is the current data key" in refused.output
    audit_id = keys.key_id((instance_path / "audit.key").read_bytes())
    assert run(cli, "keys", "rotate", "--purpose", "audit").exit_code == 0
    kept = run(cli, "keys", "discard", "--purpose", "audit", "--key-id", audit_id)
    assert kept.exit_code == 1
    assert "Retired audit keys are kept" in kept.output
    assert run(cli, "keys", "rotate", "--purpose", "data").exit_code == 0
    done = run(cli, "keys", "discard", "--purpose", "data", "--key-id", current)
    assert done.exit_code == 0, done.output
    assert not (keys.retired_dir(instance_path / "data.key") / f"{current}.key").exists()
    fresh(db)
    assert (
        db.scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.KEY_DISCARD))
        .one()
        .target_id
        == current
    )


def test_a_retired_data_key_still_wrapping_a_file_key_is_not_discarded(
    app: Flask, db: Session, arrests: Dataset, cli: CliRunner, instance_path: Path
) -> None:
    version = held_by_ring(db, store(db, arrests))
    old_id = version.wrapping_key_id
    assert old_id is not None
    assert run(cli, "keys", "rotate", "--purpose", "data").exit_code == 0
    # A server that had not restarted after the rotation stored a file under the old key.
    ring = load_ring(KeyPurpose.DATA, instance_path / "data.key")
    fresh(db)
    version = db.get(DatasetVersion, version.id)
    assert version is not None
    rewrapped = envelope.unwrap(ring, version, envelope_binding(version))
    envelope.wrap(
        ring, rewrapped.key, envelope_binding(version), rewrapped.file_id, wrapping_key_id=old_id
    ).record_on(version)
    db.commit()
    refused = run(cli, "keys", "discard", "--purpose", "data", "--key-id", old_id)
    assert refused.exit_code == 1
    assert "1 stored file(s) still need data key" in refused.output
    assert (keys.retired_dir(instance_path / "data.key") / f"{old_id}.key").exists()


def envelope_binding(version: DatasetVersion) -> Any:
    from governance.datasets.datastore.crypto import Binding

    return Binding(version.dataset_id, version.number)


def test_a_short_configured_secret_key_stops_start_up_without_repeating_it(
    app_config: dict[str, Any], instance_path: Path
) -> None:
    secret = "not-thirty-two-bytes-long"
    with pytest.raises(ConfigError, match="at least 32 bytes") as refused:
        create_app({**app_config, "SECRET_KEY": secret})
    assert secret not in str(refused.value)
    assert refused.value.__cause__ is None
    accepted = create_app({**app_config, "SECRET_KEY": "x" * 32})
    database(accepted).dispose()


def _spellings(key: bytes) -> list[str]:
    return [key.hex(), repr(key), base64.b64encode(key).decode(), str(list(key))]


def test_keys_never_appear_in_reprs_logs_or_errors(
    app: Flask,
    db: Session,
    arrests: Dataset,
    cli: CliRunner,
    instance_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    version = held_by_ring(db, store(db, arrests))
    datastore.read_columns(version, ["age"])
    rings = keys.rings_of(db)
    file_key = envelope.unwrap(rings.data, version, envelope_binding(version))
    assert run(cli, "keys", "rotate", "--purpose", "data").exit_code == 0
    secrets = [
        rings.audit.current(),
        rings.data.current(),
        file_key.key,
        (instance_path / "data.key").read_bytes(),
        rings.data.derive(envelope.WRAP_LABEL),
    ]
    shown = [
        repr(rings),
        str(rings.data),
        repr(rings.audit.keys),
        repr(files.config_of(db)),
        repr(file_key),
        repr(database(app).info["keys"]),
        caplog.text,
    ]
    (instance_path / "audit.key").write_bytes(rings.audit.current()[:20])
    with pytest.raises(ConfigError) as refused:
        load_ring(KeyPurpose.AUDIT, instance_path / "audit.key")
    shown.append(str(refused.value))
    for text in shown:
        for secret in secrets:
            for spelling in _spellings(secret) + _spellings(secret[:20]):
                assert spelling not in text
