"""The datastore: encrypted at rest, bound to its dataset and version, atomic, verifiable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import create_app
from governance.datasets import datastore
from governance.datasets.datastore import DataIntegrityError, DataUnavailable
from governance.datasets.datastore.files import ORPHAN_GRACE_SECONDS
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Dataset, DatasetVersion
from governance.datasets.service import create_dataset
from governance.kernel.extensions import database
from tests.datasets.support import COLUMNS, data_files, held_by_ring, version_count
from tests.support import SETUP, People

FRAME = pd.DataFrame(
    {
        "person_id": ["P1", "P2", "P3"],
        "age": [34, 19, 51],
        "arrest_date": pd.to_datetime(["2021-03-04", "2022-11-30", "2020-01-01"]),
        "offence": ["theft", "assault", "=1+1"],
        "released": [True, None, False],
        "bail": [100.5, None, 0.0],
    }
)


def store(db: Session, dataset: Dataset, frame: pd.DataFrame = FRAME) -> DatasetVersion:
    version = ingest_frame(
        db, dataset_id=dataset.id, frame=frame, source_filename="frame", by=SETUP
    )
    db.commit()
    return version


def test_read_columns_returns_only_the_requested_columns(db: Session, arrests: Dataset) -> None:
    version = store(db, arrests)
    frame = datastore.read_columns(version, ["offence", "age"])
    assert list(frame.columns) == ["offence", "age"]
    assert frame["age"].tolist() == [34, 19, 51]
    assert frame["offence"].tolist()[2] == "=1+1"
    filtered = datastore.read_columns(version, ["age"], filters=[("age", ">", 30)])
    assert filtered["age"].tolist() == [34, 51]


def test_filters_and_columns_are_limited_to_what_was_asked(db: Session, arrests: Dataset) -> None:
    version = store(db, arrests)
    with pytest.raises(ValueError, match="only use requested columns"):
        datastore.read_columns(version, ["age"], filters=[("person_id", "=", "P1")])
    with pytest.raises(ValueError, match="no column"):
        datastore.read_columns(version, ["salary"])


def test_a_new_upload_makes_the_next_version(db: Session, arrests: Dataset) -> None:
    first, second = store(db, arrests), store(db, arrests, FRAME.head(2))
    assert (first.number, second.number) == (1, 2)
    assert (first.row_count, second.row_count) == (3, 2)
    assert first.storage_name != second.storage_name
    assert len(first.sha256) == 64


def test_a_stored_file_is_ciphertext_with_an_unguessable_owner_only_name(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    version = store(db, arrests)
    [path] = data_files(app)
    assert path.name == version.storage_name
    assert len(path.stem) == 32
    content = path.read_bytes()
    assert b"PAR1" not in content
    assert b"theft" not in content
    assert path.stat().st_mode & 0o777 == 0o600
    key_file = Path(app.config["DATA_KEY_FILE"])
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_a_stored_file_is_unreadable_with_another_data_key(
    app: Flask, app_config: dict[str, Any], db: Session, arrests: Dataset
) -> None:
    # A version whose key the ring wraps (one held by its dataset or an agreement is opened
    # with their key files instead: tests/agreements/test_key_holders.py).
    held_by_ring(db, store(db, arrests))
    key_file = Path(app.config["DATA_KEY_FILE"])
    key_file.write_bytes(os.urandom(32))
    restarted = create_app(app_config)
    try:
        with database(restarted).session() as session:
            version = session.scalars(select(DatasetVersion)).one()
            with pytest.raises(DataIntegrityError, match="restore it from your key backup"):
                datastore.read_columns(version, ["age"])
            assert datastore.verify_version(version) is False
    finally:
        database(restarted).dispose()


def test_a_file_moved_to_another_dataset_or_version_fails_to_decrypt(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    other = create_dataset(
        db,
        name="Probation",
        description="",
        provider_id=people.probation.id,
        columns=COLUMNS,
        steward_ids=[people.steward.id],
        by=SETUP,
    )
    db.commit()
    arrests_v1, arrests_v2 = store(db, arrests), store(db, arrests)
    other_v1 = store(db, other)
    directory = Path(app.config["DATA_DIR"])
    for victim in (other_v1, arrests_v2):
        shutil.copy(directory / arrests_v1.storage_name, directory / victim.storage_name)
        with pytest.raises(DataIntegrityError, match="not the one recorded"):
            datastore.read_columns(victim, ["age"])
    assert datastore.read_columns(arrests_v1, ["age"])["age"].tolist() == [34, 19, 51]


def test_tampering_is_detected(app: Flask, db: Session, arrests: Dataset) -> None:
    version = store(db, arrests)
    path = Path(app.config["DATA_DIR"]) / version.storage_name
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(DataIntegrityError):
        datastore.read_columns(version, ["age"])
    assert datastore.verify_version(version) is False


def test_a_content_hash_that_does_not_match_the_version_row_fails_verification(
    db: Session, arrests: Dataset
) -> None:
    version = store(db, arrests)
    assert datastore.verify_version(version) is True
    version.content_sha256 = "0" * 64
    assert datastore.verify_version(version) is False


def test_a_missing_file_is_an_integrity_error(app: Flask, db: Session, arrests: Dataset) -> None:
    version = store(db, arrests)
    (Path(app.config["DATA_DIR"]) / version.storage_name).unlink()
    with pytest.raises(DataIntegrityError, match="missing"):
        datastore.read_columns(version, ["age"])


def test_a_failed_rename_leaves_nothing(
    app: Flask, db: Session, arrests: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        datastore.store_version(
            db, dataset=arrests, frame_or_table=FRAME, source_filename="x", by=SETUP
        )
    db.rollback()
    assert data_files(app) == []
    assert version_count(db, arrests.id) == 0


def test_a_failed_database_write_leaves_nothing(
    app: Flask, db: Session, arrests: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_flush(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(db, "flush", broken_flush)
    with pytest.raises(RuntimeError, match="went away"):
        datastore.store_version(
            db, dataset=arrests, frame_or_table=FRAME, source_filename="x", by=SETUP
        )
    monkeypatch.undo()
    db.rollback()
    assert data_files(app) == []
    assert version_count(db, arrests.id) == 0


def test_a_transaction_that_does_not_commit_takes_its_file_with_it(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    datastore.store_version(
        db, dataset=arrests, frame_or_table=FRAME, source_filename="x", by=SETUP
    )
    assert len(data_files(app)) == 1
    db.rollback()
    assert data_files(app) == []
    assert version_count(db, arrests.id) == 0


def test_the_sweep_removes_old_orphans_only(app: Flask, db: Session, arrests: Dataset) -> None:
    version = store(db, arrests)
    directory = Path(app.config["DATA_DIR"])
    old, fresh_file = directory / ("a" * 32 + ".gde"), directory / ("b" * 32 + ".gde")
    old.write_bytes(b"left by a crash")
    fresh_file.write_bytes(b"an upload in progress")
    long_ago = old.stat().st_mtime - ORPHAN_GRACE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    assert datastore.sweep_orphans(db) == [old.name]
    assert sorted(p.name for p in data_files(app)) == sorted(
        [version.storage_name, fresh_file.name]
    )


def test_the_sweep_covers_cohort_files_too(app: Flask, db: Session) -> None:
    directory = Path(app.config["DATA_DIR"]) / "cohorts"
    directory.mkdir(parents=True)
    old = directory / ("c" * 32 + ".gde")
    old.write_bytes(b"left by a crashed cohort upload")
    long_ago = old.stat().st_mtime - ORPHAN_GRACE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    assert datastore.sweep_orphans(db) == [old.name]
    assert not old.exists()


def test_a_destroyed_version_cannot_be_read(app: Flask, db: Session, arrests: Dataset) -> None:
    version = store(db, arrests)
    assert datastore.destroy_version(version) is True
    db.commit()
    assert data_files(app) == []
    with pytest.raises(DataUnavailable, match="destroyed"):
        datastore.read_columns(version, ["age"])
    assert datastore.verify_version(version) is False


def test_a_column_added_later_reads_as_missing_in_older_versions(
    db: Session, arrests: Dataset
) -> None:
    from governance.datasets.models import Classification, ColumnType
    from governance.datasets.service import ColumnSpec, spec_of, update_schema

    version = store(db, arrests)
    columns = [
        *map(spec_of, arrests.columns),
        ColumnSpec("district", ColumnType.STRING, Classification.QUASI_IDENTIFIER, required=False),
    ]
    update_schema(db, dataset_id=arrests.id, description="", columns=columns, by=SETUP)
    db.commit()
    db.refresh(version)
    frame = datastore.read_columns(version, ["age", "district"])
    assert frame["district"].isna().all()
