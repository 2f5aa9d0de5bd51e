"""Files stored before per-file keys stay readable after the upgrade, and `governance datastore
rewrap` gives each its own key, so that destroying it erases it.

The stored file here was written by the datastore as it was before per-file keys, under the
installation's data key (the test vector tests/datasets/vectors/parquet-version.gde, key
bytes(range(32))); its row, as the upgrade leaves it, has no file id and no wrapped key.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.destruction import destroy_uncovered
from governance.audit.models import AuditEvent, AuditType
from governance.cli import context, main
from governance.datasets import datastore
from governance.datasets.datastore import agreement_keys
from governance.datasets.datastore.crypto import Binding
from governance.datasets.models import Classification, ColumnType, DatasetVersion
from governance.datasets.service import ColumnSpec, create_dataset
from governance.kernel.extensions import database
from tests.conftest import fresh
from tests.datasets.support import data_files, decrypts_with_live_keys
from tests.support import SETUP, People

pytestmark = pytest.mark.filterwarnings(
    "ignore:HarfBuzz-Subset will be required:DeprecationWarning"
)
VECTORS = Path(__file__).parent / "vectors"
VECTOR = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))["parquet-version.gde"]
LEGACY_KEY = bytes(range(32))
NAME = "0123456789abcdef0123456789abcdef.gde"


@pytest.fixture
def app_config(database_url: str, instance_path: Path) -> dict[str, Any]:
    """The installation's data key is the one the old file was written with."""
    (instance_path / "data.key").write_bytes(LEGACY_KEY)
    return {"TESTING": True, "DATABASE_URL": database_url}


@pytest.fixture
def legacy(app: Flask, db: Session, people: People) -> DatasetVersion:
    dataset = create_dataset(
        db,
        name="Old arrests",
        description="",
        provider_id=people.police.id,
        columns=[
            ColumnSpec("person_id", ColumnType.STRING, Classification.DIRECT_IDENTIFIER),
            ColumnSpec("age", ColumnType.INTEGER, Classification.QUASI_IDENTIFIER, required=False),
        ],
        steward_ids=[people.steward.id],
        by=SETUP,
    )
    db.flush()
    assert [dataset.id, 1] == VECTOR["binding"]
    directory = Path(app.config["DATA_DIR"])
    directory.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(VECTORS / "parquet-version.gde", directory / NAME)
    version = DatasetVersion(
        dataset_id=dataset.id,
        number=1,
        sha256=VECTOR["plaintext_sha256"],
        row_count=VECTOR["rows"],
        byte_size=0,
        storage_name=NAME,
        source_filename="old.csv",
        uploaded_by_id=None,
    )
    db.add(version)
    db.commit()
    return version


def run(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    built: list[Flask] = []

    def build() -> Flask:
        built.append(context.build_app())
        return built[-1]

    for module in ("keys", "core"):
        monkeypatch.setattr(f"governance.cli.{module}.build_app", build)
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        for app in built:
            database(app).dispose()


def test_an_old_file_is_read_again_once_moved_to_modular_encryption(
    db: Session, legacy: DatasetVersion, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert legacy.wrapped_key is None
    with pytest.raises(datastore.DatastoreError, match="migrate-encryption"):
        datastore.read_columns(legacy, ["person_id", "age"])
    result = run(database_url, monkeypatch, "datastore", "migrate-encryption")
    assert result.exit_code == 0, result.output
    version = fresh(db).get(DatasetVersion, legacy.id)
    assert version is not None
    assert version.sha256 == VECTOR["plaintext_sha256"]
    # Its new key is held by its dataset's own key file, not the ring (no agreement covers it).
    assert version.wrapped_key is None
    assert [w.agreement_id for w in agreement_keys.wraps_of(db, version)] == [None]
    frame = datastore.read_columns(version, ["person_id", "age"])
    assert frame["person_id"].tolist() == ["P1", "P2", "P3"]
    assert datastore.verify_version(version) is True


def test_rewrap_gives_old_files_their_own_keys_and_then_destruction_erases_them(
    app: Flask,
    db: Session,
    people: People,
    legacy: DatasetVersion,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    told = run(database_url, monkeypatch, "init")
    assert "1 stored file(s) predate per-file keys" in told.output
    old_copy = tmp_path / "old.gde"
    shutil.copy(Path(app.config["DATA_DIR"]) / NAME, old_copy)
    result = run(database_url, monkeypatch, "datastore", "rewrap")
    assert result.exit_code == 0, result.output
    assert "1 file(s) re-encrypted" in result.output
    version = fresh(db).get(DatasetVersion, legacy.id)
    assert version is not None
    assert version.wrapped_key is not None
    assert version.file_id is not None
    assert version.storage_name != NAME
    assert [p.name for p in data_files(app)] == [version.storage_name]
    assert version.sha256 == VECTOR["plaintext_sha256"]
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_REWRAP)
    ).one()
    assert event.target_id == str(version.id)
    again = run(database_url, monkeypatch, "datastore", "rewrap")
    assert "0 file(s) re-encrypted" in again.output

    certificate = destroy_uncovered(
        db,
        dataset_ids=[version.dataset_id],
        by=people.privacy,
        now=dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
    )
    db.commit()
    assert certificate.items[0].key_fingerprint is not None
    binding = Binding(version.dataset_id, version.number)
    assert not decrypts_with_live_keys(
        app, db, Path(app.config["DATA_DIR"]) / version.storage_name, binding
    )
    # The old copy was under the master key itself: it decrypts until that key is rotated
    # away and discarded (docs/datasets.md, "Files stored before per-file keys").
    assert decrypts_with_live_keys(app, db, old_copy, binding)


def test_a_damaged_old_file_is_not_rewrapped(
    app: Flask,
    db: Session,
    legacy: DatasetVersion,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = Path(app.config["DATA_DIR"]) / NAME
    content = bytearray(path.read_bytes())
    content[-20] ^= 0x01
    path.write_bytes(bytes(content))
    result = run(database_url, monkeypatch, "datastore", "rewrap")
    assert result.exit_code == 1
    assert "FAIL dataset version" in result.output
    version = fresh(db).get(DatasetVersion, legacy.id)
    assert version is not None
    assert version.wrapped_key is None
    assert [p.name for p in data_files(app)] == [NAME]
    with pytest.raises(datastore.DatastoreError):
        datastore.read_columns(version, ["age"])
