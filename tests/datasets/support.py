"""Shared pieces of the dataset tests: a declared schema, good and bad files, file counting."""

from __future__ import annotations

import hashlib
import hmac
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore import pme
from governance.datasets.datastore.crypto import Binding, DataIntegrityError, DecryptingReader
from governance.datasets.datastore.store import version_keys
from governance.datasets.models import Classification as K
from governance.datasets.models import ColumnType as T
from governance.datasets.models import DatasetVersion
from governance.datasets.service import ColumnSpec

COLUMNS = [
    ColumnSpec("person_id", T.STRING, K.DIRECT_IDENTIFIER, description="Agency person number"),
    ColumnSpec("age", T.INTEGER, K.QUASI_IDENTIFIER),
    ColumnSpec("arrest_date", T.DATE, K.GENERAL),
    ColumnSpec("offence", T.CATEGORY, K.SENSITIVE),
    ColumnSpec("released", T.BOOLEAN, K.GENERAL, required=False),
    ColumnSpec("bail", T.FLOAT, K.GENERAL, required=False),
]
HEADER = b"person_id,age,arrest_date,offence,released,bail\n"
GOOD_CSV = HEADER + (
    b"P1,34,2021-03-04,theft,yes,100.5\n"
    b"P2,19,2022-11-30,assault,,\n"
    b'P3,51,2020-01-01,=HYPERLINK("x"),false,0\n'
)


def rows_csv(rows: int) -> bytes:
    body = b"".join(
        b"P%d,%d,2021-01-%02d,theft,no,1.5\n" % (i, 20 + i % 50, 1 + i % 28) for i in range(rows)
    )
    return HEADER + body


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def good_parquet() -> bytes:
    return parquet_bytes(
        pa.table(
            {
                "person_id": ["P1", "P2"],
                "age": pa.array([34, 19], pa.int32()),
                "arrest_date": pa.array([18000, 18001], pa.date32()),
                "offence": ["theft", "fraud"],
                "bail": [1.0, None],
            }
        )
    )


def data_files(app: Flask) -> list[Path]:
    """Every file in DATA_DIR, hidden partial files included."""
    directory = Path(app.config["DATA_DIR"])
    return sorted(p for p in directory.iterdir()) if directory.is_dir() else []


def version_count(db: Session, dataset_id: int) -> int:
    db.rollback()
    return (
        db.scalar(
            select(func.count())
            .select_from(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id)
        )
        or 0
    )


def decrypts_with_live_keys(
    app: Flask, db: Session, path: Path, binding: Binding, backup_row: dict[str, Any] | None = None
) -> bool:
    """Whether someone holding every live data key file, the live database and (if given) a
    backup copy of the file's row can decrypt the file at `path`: the attacker of a
    destruction, with a copy of the file from a backup or a disk image."""
    key_file = Path(app.config["DATA_KEY_FILE"])
    master_keys = [
        p.read_bytes()
        for p in [key_file, *key_file.parent.glob(f"{key_file.name}.retired/*.key")]
        if p.exists()
    ]
    candidates = list(master_keys)  # files encrypted under the master key itself
    rows: list[Any] = [dict(backup_row)] if backup_row else []
    for model in (DatasetVersion, CohortFile):
        rows += [
            {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}
            for row in db.scalars(select(model))
        ]
    for row in rows:
        candidates += _unwrapped(row, binding, master_keys)
    candidates += _held(db, key_file, rows)
    if path.exists() and pme.is_pme(path):
        # Modular encryption: the column keys derive from a version key and its file id.
        file_ids = [bytes.fromhex(r["file_id"]) for r in rows if r.get("file_id")]
        return any(
            _pme_decrypts(path, key, binding, file_id) for key in candidates for file_id in file_ids
        )
    for key in candidates:
        try:
            with DecryptingReader(path, key, binding) as reader:
                reader.sha256()
            return True
        except DataIntegrityError:
            continue
    return False


def _held(db: Session, key_file: Path, rows: list[Any]) -> list[bytes]:
    """File keys that any key file left in the holders' folder unwraps: from the cohort rows
    (and backup row) given, and every version key wrap in the live database."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from governance.datasets.datastore import agreement_keys, cohorts
    from governance.datasets.models import VersionKeyWrap

    folder = key_file.with_name(key_file.name + ".agreements")
    keks = [p.read_bytes() for p in folder.rglob("*.key")] if folder.is_dir() else []
    sealed: list[tuple[bytes, bytes]] = []
    for row in rows:
        if row.get("agreement_key_id") and row.get("wrapped_key") and row.get("file_id"):
            aad = (
                cohorts.WRAP_LABEL
                + row["agreement_id"].to_bytes(8, "big")
                + row["id"].to_bytes(8, "big")
                + bytes.fromhex(row["file_id"])
            )
            sealed.append((bytes(row["wrapped_key"]), aad))
    for wrap in db.scalars(select(VersionKeyWrap)):
        version = db.get(DatasetVersion, wrap.version_id)
        if version is not None and version.file_id:
            aad = agreement_keys._context(wrap.agreement_id, version)
            sealed.append((bytes(wrap.wrapped_key), aad))
    found = []
    for kek in keks:
        for blob, aad in sealed:
            try:
                found.append(AESGCM(kek).decrypt(blob[:12], blob[12:], aad))
            except InvalidTag:
                continue
    return found


def _pme_decrypts(path: Path, key: bytes, binding: Binding, file_id: bytes) -> bool:
    try:
        pq.read_table(path, decryption_properties=version_keys(key, binding, file_id).decryption())
    except (OSError, pa.ArrowException, DataIntegrityError):
        return False
    return True


def _unwrapped(row: dict[str, Any], binding: Binding, master_keys: list[bytes]) -> list[bytes]:
    """The row's file key, unwrapped with any of the master keys that can."""
    if not row.get("wrapped_key") or not row.get("file_id"):
        return []
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from governance.datasets.datastore import envelope

    found = []
    for master in master_keys:
        kek = _hkdf(master, f"governance/data/{envelope.WRAP_LABEL}".encode())
        blob = bytes(row["wrapped_key"])
        aad = (
            envelope.CONTEXT_LABEL
            + binding.dataset_id.to_bytes(8, "big")
            + binding.version_number.to_bytes(8, "big")
            + bytes.fromhex(row["file_id"])
        )
        try:
            found.append(AESGCM(kek).decrypt(blob[:12], blob[12:], aad))
        except InvalidTag:
            continue
    return found


def _hkdf(key: bytes, info: bytes) -> bytes:
    prk = hmac.new(b"\0" * 32, key, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def held_by_ring(db: Session, version: DatasetVersion) -> DatasetVersion:
    """Put a version's key back under the data key ring, as versions stored before keys per
    holder were (and still are until a holder wraps them): for the tests of the ring's own
    rotation, discard and erasure."""
    from governance.datasets.datastore import agreement_keys, envelope, files

    key, file_id = agreement_keys.file_key(db, version)
    for wrap in agreement_keys.wraps_of(db, version):
        db.delete(wrap)
    db.flush()
    ring = files.config_of(db).ring
    envelope.wrap(ring, key, Binding(version.dataset_id, version.number), file_id).record_on(
        version
    )
    db.commit()
    return version
