"""Cohort files are stored like dataset versions: Parquet modular encryption, their key held by
their agreement (never the data key ring); files stored in the earlier chunked format move with
`governance datastore migrate-encryption`, keeping the SHA-256 the audit trail names them by."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.audit.verify import verify_chain
from governance.datasets import datastore
from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore import cohorts, envelope, files, key_files, pme
from governance.datasets.datastore.crypto import EncryptingWriter
from governance.datasets.datastore.parquet import arrow_schema, write_parquet
from governance.kernel.extensions import database
from tests.analysis.conftest import World, upload
from tests.conftest import fresh
from tests.datasets.support import decrypts_with_live_keys
from tests.datasets.test_modular_encryption import migrate
from tests.support import People


def as_earlier_format(db: Session, cohort: CohortFile) -> None:
    """Rewrite a cohort file as the datastore stored it before: a plaintext Parquet file
    encrypted whole in chunks under its own key, wrapped by the data key ring."""
    frame = datastore.read_cohort(cohort, [c.name for c in cohorts.COHORT_COLUMNS])
    config = files.config_of(db)
    key_files.unlink_now(
        [
            key_files.key_path(
                db,
                f"agreement-{cohort.agreement_id}",
                f"cohort-{cohort.id}",
                str(cohort.agreement_key_id),
            )
        ]
    )
    config.cohort_path_of(cohort.storage_name).unlink()
    binding = cohorts.binding_of(cohort)
    file_key = envelope.new_file_key(config.ring, binding)
    schema = arrow_schema(cohorts.COHORT_COLUMNS)
    name = files.new_storage_name()
    with files.create_exclusive(config.cohort_path_of(name)) as out:
        sink = EncryptingWriter(out, file_key.key, binding, file_id=file_key.file_id)
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        write_parquet(sink, schema, table.to_batches())
        sink.finish()
    cohort.storage_name = name
    cohort.sha256 = sink.sha256
    cohort.storage_format = "gde1"
    cohort.content_sha256 = None
    cohort.agreement_key_id = None
    file_key.record_on(cohort)
    db.commit()


def test_a_cohort_file_is_stored_with_modular_encryption_under_its_agreements_key(
    app: Flask, db: Session, people: People, world: World
) -> None:
    cohort = db.get(CohortFile, upload(db, people, world))
    assert cohort is not None
    path = Path(app.config["DATA_DIR"]) / "cohorts" / cohort.storage_name
    assert pme.is_pme(path)
    assert cohort.storage_format == "pme1"
    assert cohort.sha256 == cohort.content_sha256
    assert cohort.wrapping_key_id is None  # not the ring's
    frame = datastore.read_cohort(cohort, ["sex", "name"])
    assert list(frame.columns) == ["sex", "name"]
    assert len(frame) == cohort.row_count
    # A key file moved from another cohort file of the agreement does not open it.
    other = db.get(CohortFile, upload(db, people, world))
    assert other is not None
    cohort.wrapped_key = other.wrapped_key
    with pytest.raises(datastore.DataIntegrityError):
        datastore.read_cohort(cohort, ["sex"])
    db.rollback()


def test_migration_moves_cohort_files_keeping_their_hash_and_the_audit_trail(
    app: Flask,
    db: Session,
    people: People,
    world: World,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cohort = db.get(CohortFile, upload(db, people, world))
    assert cohort is not None
    content = cohort.sha256
    expected = datastore.read_cohort(cohort, ["name", "date_of_birth"])
    as_earlier_format(db, cohort)
    recorded = cohort.sha256
    old_path = Path(app.config["DATA_DIR"]) / "cohorts" / cohort.storage_name
    old_copy = tmp_path / "old-cohort.gde"
    shutil.copy(old_path, old_copy)
    assert datastore.read_cohort(cohort, ["name"])["name"].tolist() == expected["name"].tolist()

    result = migrate(database_url, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "1 file(s) moved" in result.output
    moved = fresh(db).get(CohortFile, cohort.id)
    assert moved is not None
    assert moved.sha256 == recorded  # what the audit trail names it by
    assert moved.content_sha256 == content  # the same rows as uploaded
    assert moved.storage_format == "pme1"
    assert moved.wrapping_key_id is None
    assert moved.agreement_key_id
    assert not old_path.exists()
    assert datastore.read_cohort(moved, ["name", "date_of_birth"]).equals(expected)
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_MIGRATE_ENCRYPTION)
    ).one()
    assert (event.target_type, event.target_id) == ("cohort_file", str(moved.id))
    assert event.detail["sha256"] == recorded
    assert event.detail["content_sha256"] == content
    assert event.detail["key_fingerprint"] == datastore.cohort_key_fingerprint(moved)
    verified = verify_chain(database(app).read_engine(), audit.settings_of(db))
    assert verified.intact, verified.summary()
    # The old file's key went with the old row: a backup copy of it no longer decrypts.
    assert not decrypts_with_live_keys(app, db, old_copy, cohorts.binding_of(moved))
    again = migrate(database_url, monkeypatch)
    assert again.exit_code == 0, again.output
    assert "0 file(s) moved" in again.output
