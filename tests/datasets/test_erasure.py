"""Destroying a version erases it: every copy of its file becomes undecryptable.

Each stored file has its own key, wrapped by the data key in the file's row; destruction deletes
that wrapped key with its audit event, and the certificate names the destroyed key by its
fingerprint. Before, every file was encrypted under the one long-lived data key and destruction
only unlinked the file, so a copy from a backup still decrypted with the live key.

A database backup taken before the destruction still holds the wrapped key: such a backup
(with the current data key) decrypts the copy until the data key is rotated and the retired
key discarded, which these tests show as well, because the documentation promises exactly it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.destruction import destroy_uncovered
from governance.agreements.destruction_model import DestroyedVersion
from governance.audit.models import AuditEvent, AuditType
from governance.cli import context, main
from governance.datasets import datastore
from governance.datasets.datastore import DataIntegrityError, DataUnavailable, agreement_keys
from governance.datasets.datastore.crypto import Binding
from governance.datasets.models import Dataset, DatasetVersion
from governance.datasets.service import create_dataset
from governance.kernel.extensions import database
from tests.conftest import fresh
from tests.datasets.support import COLUMNS, data_files, decrypts_with_live_keys, held_by_ring
from tests.datasets.test_datastore import FRAME, store
from tests.datasets.test_destruction import pdf_text
from tests.support import SETUP, People

pytestmark = pytest.mark.filterwarnings(
    "ignore:HarfBuzz-Subset will be required:DeprecationWarning"
)
NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)


def row_copy(version: DatasetVersion) -> dict[str, Any]:
    return {c.key: getattr(version, c.key) for c in DatasetVersion.__mapper__.column_attrs}


def test_a_backup_copy_of_a_destroyed_version_cannot_be_decrypted(
    app: Flask,
    db: Session,
    people: People,
    arrests: Dataset,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A version whose key the data key ring wraps (stored before keys per holder): what the
    # ring's rotation and discard finish erasing. A version held by its dataset's own key is
    # unreadable from a backup at once (tests/agreements/test_key_holders.py).
    version = held_by_ring(db, store(db, arrests))
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
    kept = held_by_ring(db, store(db, other, FRAME.head(2)))
    path = Path(app.config["DATA_DIR"]) / version.storage_name
    backup_file = tmp_path / "backup.gde"
    shutil.copy(path, backup_file)
    backup_row = row_copy(version)
    binding = Binding(version.dataset_id, version.number)
    assert decrypts_with_live_keys(app, db, backup_file, binding)  # the attacker's tool works

    certificate = destroy_uncovered(db, dataset_ids=[arrests.id], by=people.privacy, now=NOW)
    db.commit()
    assert not path.exists()
    # The live database and every live key: the copy is ciphertext under a key that is gone.
    assert not decrypts_with_live_keys(app, db, backup_file, binding)
    fresh(db)
    destroyed = db.get(DatasetVersion, version.id)
    assert destroyed is not None
    assert destroyed.wrapped_key is None
    # Put back, file and row (even marked live again), it still cannot be read.
    shutil.copy(backup_file, path)
    destroyed.destroyed_at = None
    with pytest.raises(DataIntegrityError, match="destroyed"):
        datastore.read_columns(destroyed, ["age"])
    db.rollback()

    # The certificate names the destroyed key by its fingerprint, never the key.
    [item] = certificate.items
    assert item.key_fingerprint is not None
    assert item.key_fingerprint == datastore.key_fingerprint(
        DatasetVersion(**{k: v for k, v in backup_row.items() if k != "id"})
    )
    assert item.key_fingerprint in "".join(pdf_text(certificate.pdf).split())
    event = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.DATASET_DESTROY,
            AuditEvent.target_id == str(version.id),
        )
    ).one()
    assert event.detail["key_fingerprint"] == item.key_fingerprint
    assert fresh(db).scalars(select(DestroyedVersion.key_fingerprint)).all() == [
        i.key_fingerprint for i in certificate.items
    ]

    # A database backup from before the destruction still unwraps the key with the current
    # data key; rotating the data key and discarding the retired one ends that too.
    assert decrypts_with_live_keys(app, db, backup_file, binding, backup_row)
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    runner, built = CliRunner(), []

    def build() -> Flask:
        built.append(context.build_app())
        return built[-1]

    monkeypatch.setattr("governance.cli.keys.build_app", build)
    old_key = backup_row["wrapping_key_id"]
    try:
        rotated = runner.invoke(main, ["keys", "rotate", "--purpose", "data"])
        assert rotated.exit_code == 0, rotated.output
        discarded = runner.invoke(
            main, ["keys", "discard", "--purpose", "data", "--key-id", old_key]
        )
        assert discarded.exit_code == 0, discarded.output
    finally:
        for built_app in built:
            database(built_app).dispose()
    assert not decrypts_with_live_keys(app, db, backup_file, binding, backup_row)
    # The version still stored was re-wrapped under the new data key, not lost.
    still = fresh(db).get(DatasetVersion, kept.id)
    assert still is not None
    assert still.wrapping_key_id != old_key
    assert datastore.read_columns(still, ["age"])["age"].tolist() == [34, 19]


def test_destroying_deletes_the_key_in_the_same_transaction_as_its_record(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    version = store(db, arrests)
    destroy_uncovered(db, dataset_ids=[arrests.id], by=people.privacy, now=NOW)
    db.rollback()  # the transaction fails after the file went: the key and record stay
    fresh(db)
    again = db.get(DatasetVersion, version.id)
    assert again is not None
    assert again.destroyed_at is None
    assert agreement_keys.wraps_of(db, again)  # the record stays (its key file went)
    assert data_files(app) == []
    certificate = destroy_uncovered(db, dataset_ids=[arrests.id], by=people.privacy, now=NOW)
    db.commit()
    assert certificate.items[0].file_removed is False
    assert fresh(db).get(DatasetVersion, version.id).wrapped_key is None  # type: ignore[union-attr]
    with pytest.raises(DataUnavailable):
        datastore.read_columns(again, ["age"])
