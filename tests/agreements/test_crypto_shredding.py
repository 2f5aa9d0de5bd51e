"""Keys per agreement and dataset version: closing an agreement destroys its own key and the
version keys it wrapped, so the data it alone covered is unreadable in every copy, database
backups included, while a version another live agreement covers stays readable through that
agreement's key only; the certificate and the audit trail name the destroyed keys."""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.destruction_model import DestructionCertificate
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import datastore
from governance.datasets.datastore import DataIntegrityError, agreement_keys, key_files
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Dataset, DatasetVersion, VersionKeyWrap
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import SETUP, People


def store(db: Session, dataset: Dataset) -> DatasetVersion:
    frame = pd.DataFrame({c.name: [f"{c.name}-1", f"{c.name}-2"] for c in dataset.columns})
    version = ingest_frame(db, dataset_id=dataset.id, frame=frame, source_filename="f", by=SETUP)
    db.commit()
    return version


def wrap_holders(db: Session, version: DatasetVersion) -> list[int]:
    """The agreements holding a wrap of the version."""
    return sorted(
        agreement_id
        for agreement_id in db.scalars(
            select(VersionKeyWrap.agreement_id).where(VersionKeyWrap.version_id == version.id)
        )
        if agreement_id is not None
    )


def custody_dataset(db: Session, people: People) -> Dataset:
    """A second dataset of the police department, so one agreement may cover both."""
    dataset = builders._dataset(db, "Custody", people.police.id, builders.ARREST_COLUMNS)
    db.commit()
    return dataset


def close(db: Session, people: People, agreement: Agreement) -> DestructionCertificate:
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Study ended", by=people.privacy, now=utcnow()
    )
    agreements.certify_destruction(
        db, agreement_id=agreement.id, statement="Wiped", by=people.privacy, now=utcnow()
    )
    db.commit()
    certificate = db.scalar(
        select(DestructionCertificate).where(DestructionCertificate.agreement_id == agreement.id)
    )
    assert certificate is not None
    return certificate


def test_each_covering_agreement_holds_its_own_wrap_and_the_ring_none(
    db: Session, people: People, datasets: Datasets
) -> None:
    before = store(db, datasets.arrests)
    # No agreement covers it yet: its dataset's own key holds it, not the ring.
    assert before.wrapped_key is None
    assert wrap_holders(db, before) == []
    first = builders.approved(db, people, datasets)
    second = builders.approved(db, people, datasets)
    fresh(db)
    # Activation wrapped the stored version for each agreement and dropped the ring's wrap.
    assert wrap_holders(db, before) == [first.id, second.id]
    assert before.wrapped_key is None
    assert before.wrapping_key_id is None
    # A version stored later is wrapped for every active agreement covering its dataset.
    later = store(db, datasets.arrests)
    assert wrap_holders(db, later) == [first.id, second.id]
    assert later.wrapped_key is None
    assert datastore.read_columns(later, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]
    # The agreement keys live outside the database, owner-only, one per agreement and version;
    # the dataset's own key for `before` went when the agreements came to hold it.
    keys = sorted(
        str(p.relative_to(key_files.folder(db))) for p in key_files.folder(db).rglob("*.key")
    )
    assert [k.split("-", 3)[:3] for k in keys] == [
        ["agreement", f"{first.id}/version", str(before.id)],
        ["agreement", f"{first.id}/version", str(later.id)],
        ["agreement", f"{second.id}/version", str(before.id)],
        ["agreement", f"{second.id}/version", str(later.id)],
    ]
    for path in key_files.folder(db).rglob("*.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The probation dataset is covered by neither: its version is held by its dataset's key.
    unrelated = store(db, datasets.probation)
    assert wrap_holders(db, unrelated) == []
    assert [w.agreement_id for w in agreement_keys.wraps_of(db, unrelated)] == [None]
    assert unrelated.wrapped_key is None


@dataclass
class Backup:
    """What an attacker kept from before the closure: the files and the database rows."""

    files: dict[str, bytes]
    versions: dict[int, tuple[str | None, bytes | None, str | None]]
    wraps: list[tuple[int, int, str, bytes]]


def take_backup(db: Session, data_dir: Path) -> Backup:
    versions = db.scalars(select(DatasetVersion)).all()
    return Backup(
        files={v.storage_name: (data_dir / v.storage_name).read_bytes() for v in versions},
        versions={v.id: (v.file_id, v.wrapped_key, v.wrapping_key_id) for v in versions},
        wraps=[
            (w.version_id, w.agreement_id, w.agreement_key_id, bytes(w.wrapped_key))
            for w in db.scalars(select(VersionKeyWrap))
        ],
    )


def restore(db: Session, backup: Backup, data_dir: Path, *, only_agreement: int) -> None:
    """Put the old files back and the old rows of one agreement's wraps, as a restore of the
    backups would (the keys outside the database are what is left now)."""
    for name, content in backup.files.items():
        (data_dir / name).write_bytes(content)
    for version in db.scalars(select(DatasetVersion)):
        version.file_id, version.wrapped_key, version.wrapping_key_id = backup.versions[version.id]
        version.destroyed_at = None
    for wrap in db.scalars(select(VersionKeyWrap)):
        db.delete(wrap)
    db.flush()
    for version_id, agreement_id, key_id, wrapped in backup.wraps:
        if agreement_id == only_agreement:
            db.add(
                VersionKeyWrap(
                    version_id=version_id,
                    agreement_id=agreement_id,
                    agreement_key_id=key_id,
                    wrapped_key=wrapped,
                )
            )
    db.flush()


def test_closing_shreds_what_the_agreement_alone_covered_backups_included(
    app: object, db: Session, people: People, datasets: Datasets
) -> None:
    custody = custody_dataset(db, people)
    arrests = store(db, datasets.arrests)
    probation = store(db, custody)
    closing = builders.approved(
        db,
        people,
        datasets,
        columns={datasets.arrests.id: ["person_id", "sex"], custody.id: ["person_id", "sex"]},
    )
    staying = builders.approved(db, people, datasets, columns={custody.id: ["person_id", "sex"]})
    assert wrap_holders(db, arrests) == [closing.id]
    assert wrap_holders(db, probation) == [closing.id, staying.id]
    data_dir = Path(datastore.config_of(db).data_dir)
    backup = take_backup(db, data_dir)
    key_folder = key_files.folder(db) / f"agreement-{closing.id}"
    assert len(list(key_folder.glob("*.key"))) == 2

    certificate = close(db, people, closing)
    fresh(db)

    # The closed agreement's key is gone from the key folder, and its wraps from the database.
    assert list(key_folder.glob("*.key")) == []
    assert arrests.destroyed_at is not None
    assert probation.destroyed_at is None
    assert wrap_holders(db, probation) == [staying.id]
    # The version still covered is readable, through the staying agreement's key.
    assert datastore.read_columns(probation, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]

    # The certificate names the destroyed agreement key and each wrap it held.
    keys = sorted(certificate.keys, key=lambda k: k.dataset_id)
    assert [(k.version_id, k.version_destroyed) for k in keys] == sorted(
        [(arrests.id, True), (probation.id, False)]
    )
    fingerprints = [k.agreement_key_fingerprint for k in keys]
    assert all(len(f) == 64 for f in fingerprints)
    assert len(set(fingerprints)) == 2
    assert {k.holder for k in keys} == {f"agreement-{closing.id}"}
    text = "".join(
        "".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(certificate.pdf)).pages
    )
    assert all(f in text for f in fingerprints)
    assert all(k.wrap_fingerprint in text for k in keys)
    event = db.scalar(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.DATASET_DESTROY_AGREEMENT_KEY,
            AuditEvent.agreement_id == closing.id,
        )
    )
    assert event is not None
    # The key of the version destroyed went with it; the agreement's other key with the close.
    still = next(k for k in keys if not k.version_destroyed)
    assert event.detail["agreement_key_fingerprints"] == [still.agreement_key_fingerprint]
    assert sorted(w["key_fingerprint"] for w in event.detail["wraps"]) == sorted(fingerprints)
    assert sorted(w["wrap_fingerprint"] for w in event.detail["wraps"]) == sorted(
        k.wrap_fingerprint for k in keys
    )

    # The attacker restores the files and the database as they were before the closure, with
    # the closed agreement's wraps: nothing that remains opens either version through them.
    restore(db, backup, data_dir, only_agreement=closing.id)
    for version in (arrests, probation):
        with pytest.raises(DataIntegrityError):
            datastore.read_columns(version, [datasets_first_column(db, version)])
        # Nor does the data key ring: the version's key was never left wrapped by it.
        assert backup.versions[version.id][1] is None
    db.rollback()


def datasets_first_column(db: Session, version: DatasetVersion) -> str:
    dataset = db.get(Dataset, version.dataset_id)
    assert dataset is not None
    return dataset.columns[0].name


def test_a_wrap_moved_to_another_agreement_or_version_is_refused(
    db: Session, people: People, datasets: Datasets
) -> None:
    first = store(db, datasets.arrests)
    second = store(db, datasets.arrests)
    agreement = builders.approved(db, people, datasets)
    wraps = {w.version_id: w for w in db.scalars(select(VersionKeyWrap))}
    # One version's wrap put on the other: it does not unwrap (bound to version and file).
    wraps[first.id].wrapped_key, wraps[second.id].wrapped_key = (
        wraps[second.id].wrapped_key,
        wraps[first.id].wrapped_key,
    )
    db.flush()
    with pytest.raises(DataIntegrityError, match="does not unwrap"):
        datastore.read_columns(first, ["sex"])
    db.rollback()
    # A wrap relabelled as another agreement's is refused too (bound to the agreement).
    other = builders.approved(db, people, datasets)
    for path in (key_files.folder(db) / f"agreement-{agreement.id}").glob("*.key"):
        os.remove(path)
    wrap = db.scalar(
        select(VersionKeyWrap).where(
            VersionKeyWrap.version_id == first.id, VersionKeyWrap.agreement_id == other.id
        )
    )
    assert wrap is not None
    forged = db.scalar(
        select(VersionKeyWrap).where(
            VersionKeyWrap.version_id == first.id, VersionKeyWrap.agreement_id == agreement.id
        )
    )
    assert forged is not None
    db.delete(wrap)
    db.flush()
    forged.agreement_id = other.id
    db.flush()
    with pytest.raises(DataIntegrityError):
        datastore.read_columns(first, ["sex"])
    db.rollback()


def test_rotating_the_data_key_leaves_held_keys_alone(
    db: Session, people: People, datasets: Datasets
) -> None:
    from governance.kernel import keys

    held = store(db, datasets.arrests)
    builders.approved(db, people, datasets)
    under_ring = store(db, datasets.probation)
    fresh(db)
    ring = datastore.config_of(db).ring
    new_id = keys.stage_new_key(ring)
    # The ring wraps neither: the agreement's key holds one, the dataset's own the other.
    assert datastore.rewrap_keys(db, to_key_id=new_id) == 0
    assert under_ring.wrapped_key is None
    assert held.wrapped_key is None
    assert datastore.files_needing(db, ring.current_id) == 0
    db.commit()
    assert datastore.read_columns(held, ["sex"])["sex"].tolist() == ["sex-1", "sex-2"]
