"""Stored versions are Parquet with modular encryption: a standard format that Arrow (and so the
analysis engines, through the one door) reads, decrypting only the columns it is asked for.

What a user would notice: the file is not readable as Parquet without the version's keys; a
read of the granted columns never unwraps the key of any other column; a flipped bit or a wrong
or destroyed key is a clear refusal; versions stored in the earlier format are moved by one
command that keeps their recorded SHA-256 and writes its own audit event, can be stopped and run
again, and skips what it already moved.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.audit.verify import verify_chain
from governance.cli import context, main
from governance.datasets import datastore
from governance.datasets.datastore import (
    DataIntegrityError,
    DataUnavailable,
    agreement_keys,
    envelope,
    files,
    pme,
)
from governance.datasets.datastore import store as store_module
from governance.datasets.datastore.crypto import Binding, EncryptingWriter
from governance.datasets.datastore.parquet import arrow_schema, write_parquet
from governance.datasets.datastore.store import version_keys
from governance.datasets.models import Dataset, DatasetVersion
from governance.kernel.extensions import database
from tests.conftest import fresh
from tests.datasets.support import data_files, decrypts_with_live_keys, held_by_ring
from tests.datasets.test_datastore import FRAME, store


def path_of(app: Flask, version: DatasetVersion) -> Path:
    return Path(app.config["DATA_DIR"]) / version.storage_name


@pytest.fixture
def unwrapped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every master key id the KMS unwraps a key with, in order."""
    calls: list[str] = []
    original = pme.VersionKms.unwrap_key

    def spy(self: pme.VersionKms, wrapped_key: str, master_key_identifier: str) -> bytes:
        calls.append(master_key_identifier)
        return original(self, wrapped_key, master_key_identifier)

    monkeypatch.setattr(pme.VersionKms, "unwrap_key", spy)
    return calls


def test_a_version_round_trips_and_is_standard_encrypted_parquet(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    version = store(db, arrests)
    path = path_of(app, version)
    content = path.read_bytes()
    assert content[:4] == content[-4:] == b"PARE"  # Parquet with an encrypted footer
    assert b"theft" not in content
    assert b"person_id" not in content
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(path)  # without the keys, Arrow cannot even read the schema
    assert (version.storage_format, version.content_sha256) == ("pme1", version.sha256)
    frame = datastore.read_columns(version, list(FRAME.columns))
    assert frame["person_id"].tolist() == ["P1", "P2", "P3"]
    assert frame["offence"].tolist() == ["theft", "assault", "=1+1"]
    assert frame["bail"].tolist()[0] == 100.5
    assert datastore.verify_version(version) is True


def test_the_content_hash_ignores_how_the_rows_are_batched() -> None:
    table = pa.table(
        {
            "name": pa.array([None if i % 5 == 0 else f"n{i}" for i in range(150_001)]),
            "kind": pa.array(["a", "b", "c"] * 50_000 + ["d"]).dictionary_encode(),
        }
    )

    def digest(batches: list[pa.RecordBatch]) -> str:
        content = pme.ContentHash(table.schema)
        for batch in batches:
            content.update(batch)
        return content.hexdigest()

    whole = digest(table.to_batches())
    assert digest(table.to_batches(max_chunksize=7_919)) == whole
    assert digest(table.slice(0, 150_000).to_batches()) != whole


def test_reading_granted_columns_never_unwraps_another_columns_key(
    db: Session, arrests: Dataset, unwrapped: list[str]
) -> None:
    version = store(db, arrests)
    store_module.forget_cached(version.storage_name)
    unwrapped.clear()
    frame = datastore.read_columns(version, ["age", "offence"], filters=[("age", ">", 20)])
    assert frame["age"].tolist() == [34, 51]
    granted = {pme.FOOTER_KEY_ID, pme.column_key_id("age"), pme.column_key_id("offence")}
    assert set(unwrapped) <= granted
    assert pme.column_key_id("age") in unwrapped
    for column in ("person_id", "arrest_date", "released", "bail"):
        assert pme.column_key_id(column) not in unwrapped
    unwrapped.clear()
    store_module.forget_cached(version.storage_name)
    datastore.read_columns(version, ["bail"])
    assert set(unwrapped) == {pme.FOOTER_KEY_ID, pme.column_key_id("bail")}
    # Checking the whole version (the operator's verify) is what opens every column.
    unwrapped.clear()
    assert datastore.verify_version(version) is True
    assert {pme.column_key_id(c) for c in FRAME.columns} <= set(unwrapped)


def test_a_flipped_bit_in_anything_read_is_refused(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    version = store(db, arrests)
    path = path_of(app, version)
    good = path.read_bytes()
    expected = datastore.read_columns(version, list(FRAME.columns))
    refused = 0
    # Every 7th byte, and the footer's last bytes: each flip is refused (AES-GCM), or falls in
    # bytes no reader uses (the leading magic, the copies of column metadata that the footer
    # supersedes) and the data read is the same.
    for position in [*range(0, len(good), 7), len(good) - 9]:
        damaged = bytearray(good)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        store_module.forget_cached(version.storage_name)
        try:
            frame = datastore.read_columns(version, list(FRAME.columns))
        except DataIntegrityError:
            refused += 1
            continue
        assert frame.equals(expected), position
    assert refused > 0.9 * (len(good) / 7)
    path.write_bytes(good)
    assert datastore.verify_version(version) is True


def test_a_wrong_or_destroyed_key_fails_with_a_clear_error(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    version = held_by_ring(db, store(db, arrests))
    wrapped = bytearray(version.wrapped_key or b"")
    wrapped[-1] ^= 0x01
    version.wrapped_key = bytes(wrapped)
    with pytest.raises(DataIntegrityError, match="does not unwrap"):
        datastore.read_columns(version, ["age"])
    db.rollback()
    version = fresh(db).get(DatasetVersion, version.id)
    assert version is not None
    copy = path_of(app, version).read_bytes()
    datastore.destroy_version(version)
    db.commit()
    path_of(app, version).write_bytes(copy)  # the file restored from a backup
    with pytest.raises(DataUnavailable, match="destroyed"):
        datastore.read_columns(version, ["age"])
    version.destroyed_at = None  # even a row marked live again has no key left
    with pytest.raises(DataIntegrityError, match="destroyed"):
        datastore.read_columns(version, ["age"])
    db.rollback()


def test_no_plaintext_reaches_the_data_directory_while_storing(
    app: Flask, db: Session, arrests: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []
    original = os.fsync

    def look(fd: int) -> None:
        original(fd)
        for path in data_files(app):
            if path.is_file():
                seen.append(path.read_bytes())

    monkeypatch.setattr(os, "fsync", look)
    store(db, arrests)
    assert seen
    assert all(b"theft" not in content and b"PAR1" not in content for content in seen)


# --- the move from the earlier format -------------------------------------------------------


def store_in_earlier_format(db: Session, dataset: Dataset, frame: Any = FRAME) -> DatasetVersion:
    """A version as the datastore wrote it before modular encryption: a plaintext Parquet file
    encrypted whole in fixed chunks under the version's own key."""
    config = files.config_of(db)
    number = len(dataset.versions) + 1
    binding = Binding(dataset.id, number)
    file_key = envelope.new_file_key(config.ring, binding)
    schema = arrow_schema(dataset.columns)
    name = files.new_storage_name()
    config.ensure_dir()
    with files.create_exclusive(config.path_of(name)) as out:
        sink = EncryptingWriter(out, file_key.key, binding, file_id=file_key.file_id)
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        rows = write_parquet(sink, schema, table.to_batches())
        sink.finish()
    version = DatasetVersion(
        dataset_id=dataset.id,
        number=number,
        sha256=sink.sha256,
        row_count=rows,
        byte_size=sink.plaintext_size,
        storage_name=name,
        source_filename="old.csv",
        uploaded_by_id=None,
    )
    file_key.record_on(version)
    db.add(version)
    db.commit()
    assert version.storage_format == "gde1"
    return version


def migrate(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    built: list[Flask] = []

    def build() -> Flask:
        built.append(context.build_app())
        return built[-1]

    monkeypatch.setattr("governance.cli.keys.build_app", build)
    try:
        return CliRunner().invoke(main, ["datastore", "migrate-encryption"])
    finally:
        for app in built:
            database(app).dispose()


def test_migration_keeps_the_hashes_and_the_audit_trail_and_runs_once(
    app: Flask,
    db: Session,
    arrests: Dataset,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    old = store_in_earlier_format(db, arrests)
    recorded_sha256, old_name = old.sha256, old.storage_name
    with pytest.raises(datastore.DatastoreError, match="migrate-encryption"):
        datastore.read_columns(old, ["age"])
    old_copy = tmp_path / "old.gde"
    shutil.copy(path_of(app, old), old_copy)

    result = migrate(database_url, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "1 file(s) moved" in result.output
    moved = fresh(db).get(DatasetVersion, old.id)
    assert moved is not None
    assert moved.sha256 == recorded_sha256  # what the audit trail names it by
    assert moved.storage_format == "pme1"
    assert moved.storage_name != old_name
    assert [p.name for p in data_files(app)] == [moved.storage_name]
    assert pme.is_pme(path_of(app, moved))
    frame = datastore.read_columns(moved, list(FRAME.columns))
    assert frame["person_id"].tolist() == ["P1", "P2", "P3"]
    assert frame["offence"].tolist() == ["theft", "assault", "=1+1"]
    assert datastore.verify_version(moved) is True
    # The content hash of the moved file is the one a fresh store of the same rows records.
    assert moved.content_sha256 == store(db, arrests).sha256
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_MIGRATE_ENCRYPTION)
    ).one()
    assert event.target_id == str(moved.id)
    assert event.detail["sha256"] == recorded_sha256
    assert event.detail["content_sha256"] == moved.content_sha256
    assert (event.detail["from_format"], event.detail["to_format"]) == ("gde1", "pme1")
    verified = verify_chain(database(app).read_engine(), audit.settings_of(db))
    assert verified.intact, verified.summary()
    # The old file's key went with it: a copy of the old file (a backup) is undecryptable now.
    assert not decrypts_with_live_keys(app, db, old_copy, Binding(moved.dataset_id, 1))
    again = migrate(database_url, monkeypatch)
    assert again.exit_code == 0, again.output
    assert "0 file(s) moved" in again.output


def test_migration_keeps_a_version_keyed_for_its_agreements_only(
    app: Flask,
    db: Session,
    arrests: Dataset,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = store_in_earlier_format(db, arrests)
    assert datastore.wrap_dataset_for(db, [arrests.id], 7) == 1
    db.commit()
    assert old.wrapped_key is None  # only agreement 7's key leads to it now
    result = migrate(database_url, monkeypatch)
    assert result.exit_code == 0, result.output
    moved = fresh(db).get(DatasetVersion, old.id)
    assert moved is not None
    assert moved.storage_format == "pme1"
    assert moved.wrapped_key is None  # the new key went to the agreement, not the ring
    assert [w.agreement_id for w in agreement_keys.wraps_of(db, moved)] == [7]
    assert datastore.read_columns(moved, ["person_id"])["person_id"].tolist() == [
        "P1",
        "P2",
        "P3",
    ]
    assert datastore.release_agreement(db, 7) is not None
    db.commit()
    with pytest.raises(DataIntegrityError, match="no key left"):
        datastore.read_columns(fresh(db).get(DatasetVersion, old.id), ["person_id"])


def test_a_migration_stopped_half_way_leaves_the_good_file_and_can_be_run_again(
    app: Flask,
    db: Session,
    arrests: Dataset,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = store_in_earlier_format(db, arrests)
    old_name = old.storage_name

    def power_cut(path: Any, target: Any) -> None:
        raise OSError("the machine went down before the rename")

    with monkeypatch.context() as patched:
        patched.setattr("governance.datasets.datastore.store.os.replace", power_cut)
        result = migrate(database_url, monkeypatch)
    assert result.exit_code != 0
    kept = fresh(db).get(DatasetVersion, old.id)
    assert kept is not None
    assert (kept.storage_format, kept.storage_name) == ("gde1", old_name)
    assert [p.name for p in data_files(app)] == [old_name]  # no half-written file left

    result = migrate(database_url, monkeypatch)
    assert result.exit_code == 0, result.output
    moved = fresh(db).get(DatasetVersion, old.id)
    assert moved is not None
    assert moved.storage_format == "pme1"
    assert datastore.read_columns(moved, ["age"])["age"].tolist() == [34, 19, 51]


def test_a_damaged_old_file_is_not_migrated(
    app: Flask,
    db: Session,
    arrests: Dataset,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = store_in_earlier_format(db, arrests)
    path = path_of(app, old)
    content = bytearray(path.read_bytes())
    content[-20] ^= 0x01
    path.write_bytes(bytes(content))
    result = migrate(database_url, monkeypatch)
    assert result.exit_code == 1
    assert "FAIL dataset version" in result.output
    kept = fresh(db).get(DatasetVersion, old.id)
    assert kept is not None
    assert kept.storage_format == "gde1"
    assert [p.name for p in data_files(app)] == [old.storage_name]
    assert not db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_MIGRATE_ENCRYPTION)
    ).all()


def test_the_keys_are_bound_to_the_version() -> None:
    table = pa.table({"age": [1, 2, 3]})
    key = os.urandom(32)
    file_id = os.urandom(16)
    sink = pa.BufferOutputStream()
    keys = version_keys(key, Binding(1, 1), file_id)
    pq.write_table(table, sink, encryption_properties=keys.encryption(table.schema))
    data = pa.BufferReader(sink.getvalue())
    read = pq.read_table(data, decryption_properties=keys.decryption())
    assert read.column("age").to_pylist() == [1, 2, 3]
    for other in (
        version_keys(key, Binding(1, 2), file_id),
        version_keys(key, Binding(1, 1), b"x" * 16),
    ):
        with pytest.raises(DataIntegrityError, match="not the one recorded"):
            pq.read_table(
                pa.BufferReader(sink.getvalue()), decryption_properties=other.decryption()
            )


def test_duckdb_reads_what_the_door_returns_not_the_file(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    """DuckDB's Parquet encryption takes one raw key for the footer and every column and has no
    KMS: it cannot open a file with a key per column, so engines read the door's Arrow table
    (docs/decisions/datasets-storage.md, "DuckDB and Spark")."""
    duckdb = pytest.importorskip("duckdb")
    version = store(db, arrests)
    connection = duckdb.connect()
    try:
        connection.execute("PRAGMA add_parquet_key('some_key', '" + "0" * 32 + "')")
        with pytest.raises(duckdb.Error):
            connection.execute(
                "SELECT age FROM read_parquet(?, encryption_config = {footer_key: 'some_key'})",
                [str(path_of(app, version))],
            ).fetchall()
        granted = pa.Table.from_pandas(
            datastore.read_columns(version, ["age"]), preserve_index=False
        )
        connection.register("granted", granted)
        assert connection.execute("SELECT sum(age) FROM granted").fetchone() == (104,)
    finally:
        connection.close()
