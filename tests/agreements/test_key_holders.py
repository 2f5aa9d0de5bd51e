"""Who holds a version's key, and what taking it away does, seen by an insider holding the
database (or a dump of it from before), copies of the data files and every key file left:
* a version no agreement covers is held under its dataset's own key, never the data key ring,
  so destroying the dataset's data is verifiable and certified with the key's fingerprint;
* an amendment that drops a dataset destroys the agreement's keys to its versions in the same
  transaction (audited with fingerprints): the wrap rows restored from a dump taken before
  the amendment open nothing through that agreement;
* a key file left behind by a crash after such a commit is swept."""

from __future__ import annotations

import io
import os
import time

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.destruction import destroy_uncovered
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import datastore
from governance.datasets.datastore import DataIntegrityError, agreement_keys, key_files
from governance.datasets.models import VersionKeyWrap
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.agreements.test_amendments_and_events import amend
from tests.agreements.test_crypto_shredding import custody_dataset, store, wrap_holders
from tests.conftest import fresh
from tests.support import People


def key_file_names(db: Session, holder: str) -> list[str]:
    directory = key_files.folder(db) / holder
    return sorted(p.name for p in directory.glob("*.key")) if directory.is_dir() else []


def saved_wraps(db: Session) -> list[tuple[int, int | None, str, bytes]]:
    return [
        (w.version_id, w.agreement_id, w.agreement_key_id, bytes(w.wrapped_key))
        for w in db.scalars(select(VersionKeyWrap))
    ]


def put_back(
    db: Session, wraps: list[tuple[int, int | None, str, bytes]], *, only: int | None
) -> None:
    """The insider replaces the live wraps with the dumped wraps of one holder."""
    for wrap in db.scalars(select(VersionKeyWrap)):
        db.delete(wrap)
    db.flush()
    for version_id, agreement_id, kid, wrapped in wraps:
        if agreement_id == only:
            db.add(
                VersionKeyWrap(
                    version_id=version_id,
                    agreement_id=agreement_id,
                    agreement_key_id=kid,
                    wrapped_key=wrapped,
                )
            )
    db.flush()


def test_a_version_no_agreement_covers_is_held_by_its_dataset_and_shredded_with_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    version = store(db, datasets.probation)
    # Never the ring: the dataset's own key file for this version holds it.
    assert version.wrapped_key is None
    assert version.wrapping_key_id is None
    assert wrap_holders(db, version) == []  # no agreement
    wraps = agreement_keys.wraps_of(db, version)
    assert [w.agreement_id for w in wraps] == [None]
    holder = f"dataset-{datasets.probation.id}"
    assert key_file_names(db, holder) == [f"version-{version.id}-{wraps[0].agreement_key_id}.key"]
    assert datastore.read_columns(version, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]
    dump = saved_wraps(db)
    path = datastore.config_of(db).path_of(version.storage_name)
    copy = path.read_bytes()

    certificate = destroy_uncovered(
        db, dataset_ids=[datasets.probation.id], by=people.privacy, now=utcnow()
    )
    db.commit()
    assert key_file_names(db, holder) == []
    [line] = certificate.keys
    assert line.holder == holder
    assert line.version_destroyed
    assert len(line.agreement_key_fingerprint) == 64
    text = "".join(
        "".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(certificate.pdf)).pages
    )
    assert line.agreement_key_fingerprint in text
    assert line.wrap_fingerprint in text

    # The insider restores the file, the row and its wrap from backups: nothing left opens it.
    assert not path.exists()
    path.write_bytes(copy)
    version = fresh(db).get(type(version), version.id)
    assert version is not None
    version.destroyed_at = None
    put_back(db, dump, only=None)
    with pytest.raises(DataIntegrityError, match="no key left"):
        datastore.read_columns(version, ["sex"], keep=False)
    db.rollback()


def test_a_version_covered_later_leaves_its_datasets_key_for_good(
    db: Session, people: People, datasets: Datasets
) -> None:
    version = store(db, datasets.arrests)
    dump = saved_wraps(db)
    assert [w[1] for w in dump] == [None]
    agreement = builders.approved(db, people, datasets)
    fresh(db)
    assert [w.agreement_id for w in agreement_keys.wraps_of(db, version)] == [agreement.id]
    # The dataset's key file for it went once the agreement's wrap was committed.
    assert key_file_names(db, f"dataset-{datasets.arrests.id}") == []
    # So the dataset's wrap from before, restored from a dump, opens nothing.
    put_back(db, dump, only=None)
    with pytest.raises(DataIntegrityError, match="no key left"):
        datastore.read_columns(version, ["sex"], keep=False)
    db.rollback()


def test_an_amendment_dropping_a_dataset_destroys_the_agreements_keys_to_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    custody = custody_dataset(db, people)
    arrests = store(db, datasets.arrests)
    kept = store(db, custody)
    agreement = builders.approved(
        db,
        people,
        datasets,
        columns={datasets.arrests.id: ["person_id", "sex"], custody.id: ["person_id", "sex"]},
    )
    assert wrap_holders(db, kept) == [agreement.id]
    dump = saved_wraps(db)
    holder = f"agreement-{agreement.id}"
    assert len(key_file_names(db, holder)) == 2

    amend(db, people, datasets, agreement, columns={datasets.arrests.id: ["person_id", "sex"]})
    # Until the amendment is in force, nothing changes.
    assert wrap_holders(db, kept) == [agreement.id]
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.commit()
    assert wrap_holders(db, kept) == [agreement.id]  # approved, not yet countersigned
    builders.countersign(db, people, agreement)
    db.commit()
    fresh(db)

    # The agreement's wrap and key file for the dropped dataset's version are gone; the
    # version, covered by no other agreement, is held by its dataset's own key again.
    assert wrap_holders(db, kept) == []
    assert [w.agreement_id for w in agreement_keys.wraps_of(db, kept)] == [None]
    assert key_file_names(db, holder) == [
        f"version-{arrests.id}-{agreement_keys.wraps_of(db, arrests)[0].agreement_key_id}.key"
    ]
    assert datastore.read_columns(kept, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_RELEASE_AGREEMENT_KEYS)
    ).one()
    assert event.agreement_id == agreement.id
    assert event.detail["datasets"] == [custody.id]
    [released] = event.detail["wraps"]
    assert released["holder"] == holder
    assert released["version"] == kept.number
    assert len(released["key_fingerprint"]) == 64
    dumped = next(w for w in dump if w[0] == kept.id)
    assert released["key_id"] == dumped[2]

    # The insider puts back the agreement's wraps from the dump taken before the amendment:
    # the agreement's key to the dropped version no longer exists, so the restored row opens
    # nothing, while the wrap of the dataset it still covers opens as before.
    put_back(db, dump, only=agreement.id)
    with pytest.raises(DataIntegrityError, match="no key left"):
        datastore.read_columns(kept, ["sex"], keep=False)
    assert datastore.read_columns(arrests, ["sex"], keep=False)["sex"].tolist() == [
        "sex-1",
        "sex-2",
    ]
    db.rollback()


def test_an_amendment_releases_an_agreement_keyed_with_one_key_for_all(
    db: Session, people: People, datasets: Datasets
) -> None:
    """An agreement keyed before keys per file had one key for all its versions: dropping a
    dataset gives the others keys of their own and retires the shared key."""
    custody = custody_dataset(db, people)
    arrests = store(db, datasets.arrests)
    kept = store(db, custody)
    agreement = builders.approved(
        db,
        people,
        datasets,
        columns={datasets.arrests.id: ["person_id", "sex"], custody.id: ["person_id", "sex"]},
    )
    # Rewrite the agreement's wraps as the earlier code kept them: under one agreement key.
    shared = os.urandom(key_files.KEY_SIZE)
    legacy = key_files.legacy_path(db, agreement.id)
    legacy.write_bytes(shared)
    for version in (arrests, kept):
        [wrap] = agreement_keys.wraps_of(db, version)
        key = agreement_keys._unwrap(db, wrap, version)
        assert key is not None
        nonce = os.urandom(12)
        wrap.wrapped_key = nonce + AESGCM(shared).encrypt(
            nonce, key, agreement_keys._context(agreement.id, version)
        )
        wrap.agreement_key_id = key_files.key_id(shared)
    for path in (key_files.folder(db) / f"agreement-{agreement.id}").glob("*.key"):
        path.unlink()
    db.commit()
    assert datastore.read_columns(kept, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]
    dump = saved_wraps(db)

    amend(db, people, datasets, agreement, columns={datasets.arrests.id: ["person_id", "sex"]})
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    builders.countersign(db, people, agreement)
    db.commit()
    fresh(db)
    assert not legacy.exists()
    [wrap] = agreement_keys.wraps_of(db, arrests)
    assert wrap.agreement_key_id != key_files.key_id(shared)
    assert datastore.read_columns(arrests, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]
    put_back(db, dump, only=agreement.id)
    for version in (kept, arrests):
        with pytest.raises(DataIntegrityError, match="no key left"):
            datastore.read_columns(version, ["sex"])
    db.rollback()


def test_a_key_file_left_by_a_crash_after_the_commit_is_swept(
    db: Session, people: People, datasets: Datasets
) -> None:
    version = store(db, datasets.arrests)
    [wrap] = agreement_keys.wraps_of(db, version)
    live = key_files.key_path(
        db, f"dataset-{datasets.arrests.id}", f"version-{version.id}", wrap.agreement_key_id
    )
    leftover = live.with_name(f"version-{version.id}-{'0' * 16}.key")
    leftover.write_bytes(os.urandom(key_files.KEY_SIZE))
    # Too young: it may belong to a transaction still running elsewhere.
    assert datastore.sweep_keys(db) == []
    old = time.time() - 7 * 3600
    os.utime(leftover, (old, old))
    os.utime(live, (old, old))
    assert datastore.sweep_keys(db) == [f"dataset-{datasets.arrests.id}/{leftover.name}"]
    assert live.exists()
    assert not leftover.exists()
    assert datastore.read_columns(version, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]
