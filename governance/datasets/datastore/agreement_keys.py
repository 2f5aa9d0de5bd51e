"""Keys per agreement and dataset version: what makes closing an agreement crypto-shred the data
it alone covered, in every copy of the files and every backup of the database.

Each stored version has a random file key (envelope.py). While an agreement covers the
version's dataset, that key is wrapped (AES-256-GCM) under the agreement's own key-encryption
key and the wrap is kept in the database (`VersionKeyWrap`), bound to the agreement, the
dataset, the version number and the file id. Once a version has a wrap, its key is no longer
kept wrapped by the data key ring: the only ways to it are the wraps of the agreements that
cover it.

The agreement keys are 32 random bytes each, one file per agreement in the folder beside the
data key (`<DATA_KEY_FILE>.agreements/agreement-<id>.key`, owner-only), never in the database.
When an agreement's data is destroyed, `release_agreement` deletes its key file and its wraps:
* a version the agreement alone covered is destroyed with it, and a database backup taken
  before still holds only a wrap under a key that no longer exists: with a copy of the file,
  nothing that remains decrypts it;
* a version another live agreement also covers stays readable through that agreement's wrap
  only.
The certificate names each destroyed wrap and the agreement key by their SHA-256 fingerprints.

The agreement keys' folder must not be kept in backups that outlive an agreement's closure
(docs/datasets.md, Destruction): a copy of an agreement key would undo its destruction.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.datasets.datastore import envelope, files
from governance.datasets.datastore.crypto import NONCE_SIZE, Binding, DataIntegrityError
from governance.datasets.models import DatasetVersion, VersionKeyWrap
from governance.kernel.config import private_dir

KEY_SIZE = 32
FOLDER_SUFFIX = ".agreements"
WRAP_LABEL = b"governance agreement version key v1\0"
KEY_FINGERPRINT_LABEL = b"governance destroyed agreement key v1\0"
WRAP_FINGERPRINT_LABEL = b"governance destroyed agreement wrap v1\0"
_CONTEXT = struct.Struct(">QQQ")

# Which active agreements cover a dataset: filled by the registry (the agreements layer sits
# above the datasets layer). With none installed, versions stay wrapped by the data key ring.
CoveringAgreements = Callable[[Session, int], set[int]]
COVERING: list[CoveringAgreements] = []


def covering_agreements_from(finder: CoveringAgreements) -> CoveringAgreements:
    """Install the function that names the active agreements covering a dataset (once)."""
    if finder not in COVERING:
        COVERING.append(finder)
    return finder


def folder(session: Session) -> Path:
    """Where the agreement keys live: beside the data key, outside the database."""
    ring_path = files.config_of(session).ring.path
    return ring_path.with_name(ring_path.name + FOLDER_SUFFIX)


def _path(session: Session, agreement_id: int) -> Path:
    return folder(session) / f"agreement-{int(agreement_id)}.key"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def key_fingerprint(key: bytes) -> str:
    """What a certificate names a destroyed agreement key by (never the key)."""
    return hashlib.sha256(KEY_FINGERPRINT_LABEL + key).hexdigest()


def wrap_fingerprint(wrap: VersionKeyWrap) -> str:
    return hashlib.sha256(
        WRAP_FINGERPRINT_LABEL + wrap.agreement_key_id.encode() + b"\0" + bytes(wrap.wrapped_key)
    ).hexdigest()


def _read_key(path: Path) -> bytes | None:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(key) != KEY_SIZE:
        raise DataIntegrityError(f"The agreement key {path.name} is not {KEY_SIZE} bytes long.")
    return key


def _key_for(session: Session, agreement_id: int) -> bytes:
    """The agreement's key, created (owner-only, fsynced) on its first use."""
    path = _path(session, agreement_id)
    key = _read_key(path)
    if key is not None:
        return key
    private_dir(path.parent)
    key = secrets.token_bytes(KEY_SIZE)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # Never replace a key another process wrote first: its wraps may already exist.
        os.link(partial, path)
    except FileExistsError:
        existing = _read_key(path)
        if existing is None:
            raise
        key = existing
    finally:
        partial.unlink(missing_ok=True)
    files.fsync_dir(path.parent)
    return key


def _context(agreement_id: int, binding: Binding, file_id: bytes) -> bytes:
    return (
        WRAP_LABEL
        + _CONTEXT.pack(agreement_id, binding.dataset_id, binding.version_number)
        + file_id
    )


def _seal(kek: bytes, key: bytes, agreement_id: int, version: DatasetVersion) -> bytes:
    assert version.file_id is not None
    binding = Binding(version.dataset_id, version.number)
    nonce = secrets.token_bytes(NONCE_SIZE)
    context = _context(agreement_id, binding, bytes.fromhex(version.file_id))
    return nonce + AESGCM(kek).encrypt(nonce, key, context)


def wraps_of(session: Session, version: DatasetVersion) -> list[VersionKeyWrap]:
    return list(
        session.scalars(
            select(VersionKeyWrap)
            .where(VersionKeyWrap.version_id == version.id)
            .order_by(VersionKeyWrap.agreement_id)
        )
    )


def file_key(session: Session, version: DatasetVersion) -> tuple[bytes, bytes]:
    """The version's file key and file id: through a live agreement's wrap, or (for a
    version no agreement has wrapped yet) the data key ring."""
    if version.file_id is None:
        raise DataIntegrityError("The stored file's key is not recorded: it was destroyed.")
    binding = Binding(version.dataset_id, version.number)
    file_id = bytes.fromhex(version.file_id)
    wraps = wraps_of(session, version) if version.id is not None else []
    for wrap in wraps:
        kek = _read_key(_path(session, wrap.agreement_id))
        if kek is None:
            continue
        blob = bytes(wrap.wrapped_key)
        try:
            key = AESGCM(kek).decrypt(
                blob[:NONCE_SIZE],
                blob[NONCE_SIZE:],
                _context(wrap.agreement_id, binding, file_id),
            )
        except InvalidTag:
            raise DataIntegrityError(
                f"The version's key does not unwrap with agreement {wrap.agreement_id}'s key: "
                "the wrap was altered or belongs to another version."
            ) from None
        return key, file_id
    if version.wrapped_key is None:
        raise DataIntegrityError(
            f"Version {version.number} of dataset {version.dataset_id} has no key left: the "
            "keys of the agreements that covered it were destroyed."
        )
    unwrapped = envelope.unwrap(files.config_of(session).ring, version, binding)
    return unwrapped.key, unwrapped.file_id


def wrap_for(session: Session, version: DatasetVersion, agreement_id: int) -> bool:
    """Wrap the version's key for the agreement (once), then forget the ring's wrap so that
    only agreements' keys lead to it; True if a wrap was added."""
    existing = session.scalar(
        select(VersionKeyWrap).where(
            VersionKeyWrap.version_id == version.id,
            VersionKeyWrap.agreement_id == agreement_id,
        )
    )
    if existing is not None or version.destroyed_at is not None:
        return False
    if version.file_id is None:
        # Stored before per-file keys: encrypted under the data key itself until `governance
        # datastore rewrap` gives it a key of its own (the next cover or store wraps it then).
        return False
    key, _ = file_key(session, version)
    kek = _key_for(session, agreement_id)
    session.add(
        VersionKeyWrap(
            version_id=version.id,
            agreement_id=agreement_id,
            agreement_key_id=key_id(kek),
            wrapped_key=_seal(kek, key, agreement_id, version),
        )
    )
    version.wrapped_key = None
    version.wrapping_key_id = None
    session.flush()
    return True


def wrap_dataset_for(session: Session, dataset_ids: list[int], agreement_id: int) -> int:
    """Wrap every live version of these datasets for the agreement; how many were added."""
    versions = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id.in_(dataset_ids), DatasetVersion.destroyed_at.is_(None))
        .order_by(DatasetVersion.id)
    )
    return sum(wrap_for(session, v, agreement_id) for v in versions)


def wrap_new_version(session: Session, version: DatasetVersion) -> None:
    """A version just stored: wrap it for every active agreement covering its dataset."""
    covering: set[int] = set()
    for finder in COVERING:
        covering |= finder(session, version.dataset_id)
    for agreement_id in sorted(covering):
        wrap_for(session, version, agreement_id)


def rewrap_new_key(session: Session, version: DatasetVersion, key: bytes) -> None:
    """After a version was re-stored under a new file key (the move to modular encryption):
    replace its agreements' wraps with wraps of the new key."""
    wraps = wraps_of(session, version)
    if not wraps:
        return
    for wrap in wraps:
        kek = _key_for(session, wrap.agreement_id)
        wrap.wrapped_key = _seal(kek, key, wrap.agreement_id, version)
        wrap.agreement_key_id = key_id(kek)
    version.wrapped_key = None
    version.wrapping_key_id = None
    session.flush()


def forget_wraps(session: Session, version: DatasetVersion) -> None:
    """A destroyed version's wraps go with it (the caller has named them on a certificate)."""
    for wrap in wraps_of(session, version):
        session.delete(wrap)


@dataclass(frozen=True)
class ReleasedWrap:
    """A wrap destroyed with its agreement's key, as a certificate names it."""

    agreement_key_id: str
    agreement_key_fingerprint: str
    dataset_id: int
    version_id: int
    version_number: int
    wrap_fingerprint: str


def agreement_wraps(session: Session, agreement_id: int) -> list[ReleasedWrap]:
    """The agreement's wraps as the certificate will name them (read before the release)."""
    kek = _read_key(_path(session, agreement_id))
    rows = session.execute(
        select(VersionKeyWrap, DatasetVersion)
        .join(DatasetVersion, DatasetVersion.id == VersionKeyWrap.version_id)
        .where(VersionKeyWrap.agreement_id == agreement_id)
        .order_by(DatasetVersion.dataset_id, DatasetVersion.number)
    ).all()
    return [
        ReleasedWrap(
            agreement_key_id=wrap.agreement_key_id,
            # A key already gone (a retried close) is named by its id alone.
            agreement_key_fingerprint=key_fingerprint(kek) if kek else "",
            dataset_id=version.dataset_id,
            version_id=version.id,
            version_number=version.number,
            wrap_fingerprint=wrap_fingerprint(wrap),
        )
        for wrap, version in rows
    ]


def release_agreement(session: Session, agreement_id: int) -> tuple[str | None, list[str]]:
    """Destroy the agreement's key and its wraps; the key's fingerprint (None when it had
    none) and the storage names of the versions it held a wrap of. Like a destroyed version's
    file, the key file goes before the commit (a failed commit errs towards destruction)."""
    held = session.execute(
        select(VersionKeyWrap, DatasetVersion.storage_name)
        .join(DatasetVersion, DatasetVersion.id == VersionKeyWrap.version_id)
        .where(VersionKeyWrap.agreement_id == agreement_id)
    ).all()
    for wrap, _ in held:
        session.delete(wrap)
    session.flush()
    names = [name for _, name in held]
    path = _path(session, agreement_id)
    kek = _read_key(path)
    if kek is None:
        return None, names
    path.unlink()
    files.fsync_dir(path.parent)
    return key_fingerprint(kek), names
