"""Key-encryption keys kept outside the database: one small file per holder and stored file.

A stored file's own key (envelope.py) is wrapped in the database under a key-encryption key
that lives here, in the folder beside the data key (`<DATA_KEY_FILE>.agreements/`, owner-only):

    agreement-<A>/version-<V>-<key id>.key   agreement A's key for dataset version V
    agreement-<A>/cohort-<C>-<key id>.key    agreement A's key for its cohort file C
    dataset-<D>/version-<V>-<key id>.key     dataset D's own key for version V, while no
                                             agreement covers it

One key per holder and file, never reused: taking a file away from a holder (an agreement
closing, an amendment dropping a dataset, a version leaving its dataset's own key when an
agreement comes to cover it, a destruction) deletes exactly the key files of that holder and
file, and no wrap row restored from a database backup finds a key again. The key id
(`SHA-256(key)[:16 hex]`) is in the name and on the wrap, so a key created for a wrap whose
transaction did not commit is never picked up by a later one. Agreements keyed before keys per
file kept one key per agreement (`agreement-<A>.key`); it is still read by its id.

These folders must not be kept in backups that outlive a destruction (docs/datasets.md,
Destruction): a copy of a key file would undo it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from governance.datasets.datastore import files
from governance.datasets.datastore.crypto import DataIntegrityError
from governance.kernel.config import private_dir

KEY_SIZE = 32
FOLDER_SUFFIX = ".agreements"
FINGERPRINT_LABEL = b"governance destroyed agreement key v1\0"
KEY_NAME = re.compile(r"^((?:version|cohort)-[0-9]+)-([0-9a-f]{16})\.key$")
HOLDER_NAME = re.compile(r"^(?:agreement|dataset)-[0-9]+$")


def folder(session: Session) -> Path:
    """Where the key-encryption keys live: beside the data key, outside the database."""
    ring_path = files.config_of(session).ring.path
    return ring_path.with_name(ring_path.name + FOLDER_SUFFIX)


def holder_of(agreement_id: int | None, dataset_id: int) -> str:
    """An agreement's folder, or (for a version no agreement covers) its dataset's."""
    return f"agreement-{agreement_id}" if agreement_id is not None else f"dataset-{dataset_id}"


def key_path(session: Session, holder: str, subject: str, kid: str) -> Path:
    return folder(session) / holder / f"{subject}-{kid}.key"


def legacy_path(session: Session, agreement_id: int) -> Path:
    """The one key per agreement of agreements keyed before keys per file."""
    return folder(session) / f"agreement-{int(agreement_id)}.key"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def fingerprint(key: bytes) -> str:
    """What a certificate or the audit trail names a destroyed key by (never the key)."""
    return hashlib.sha256(FINGERPRINT_LABEL + key).hexdigest()


def read_key(path: Path) -> bytes | None:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(key) != KEY_SIZE:
        raise DataIntegrityError(f"The key file {path.name} is not {KEY_SIZE} bytes long.")
    return key


def find(session: Session, holder: str, subject: str, kid: str) -> tuple[Path, bytes] | None:
    """The key `kid` of this holder and file, or the holder's legacy agreement key when that
    is the one named; None when it no longer exists."""
    path = key_path(session, holder, subject, kid)
    key = read_key(path)
    if key is not None:
        return path, key
    if holder.startswith("agreement-"):
        legacy = folder(session) / f"{holder}.key"
        key = read_key(legacy)
        if key is not None and key_id(key) == kid:
            return legacy, key
    return None


def create(session: Session, holder: str, subject: str) -> tuple[str, bytes]:
    """A new random key for this holder and file, written owner-only and fsynced; deleted
    again if the session's transaction does not commit."""
    key = secrets.token_bytes(KEY_SIZE)
    kid = key_id(key)
    path = key_path(session, holder, subject, kid)
    private_dir(folder(session))
    private_dir(path.parent)
    partial = files.partial_path(path)
    with files.create_exclusive(partial) as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    files.fsync_dir(path.parent)
    files.track_pending(session, path)
    return kid, key


def unlink_now(paths: Iterable[Path]) -> None:
    """Delete key files before the commit: a destruction errs towards destruction, like the
    stored files it erases (files.shred)."""
    touched = set()
    for path in paths:
        path.unlink(missing_ok=True)
        touched.add(path.parent)
    for directory in touched:
        if directory.is_dir():
            files.fsync_dir(directory)


def unlink_after_commit(session: Session, paths: Iterable[Path]) -> None:
    """Delete key files once the transaction that stopped using them commits: a change that
    keeps the data (an amendment, a wrap moving to an agreement) must not lose it if the
    commit fails. A crash in between leaves files no wrap names; `sweep` removes them."""
    for path in paths:
        files.remove_after_commit(session, path)


def unlink_holder(session: Session, holder: str) -> list[Path]:
    """Delete every key file of a holder (an agreement closing), before the commit."""
    directory = folder(session) / holder
    paths = sorted(directory.glob("*.key")) if directory.is_dir() else []
    unlink_now(paths)
    return paths


def sweep(
    session: Session, referenced: set[tuple[str, str, str]], *, grace_seconds: int
) -> list[str]:
    """Delete key files that no wrap names ((holder, subject, key id) in `referenced`): left
    by a crash after a commit that stopped using them. Younger files may belong to a
    transaction still running elsewhere, so they wait `grace_seconds`."""
    root = folder(session)
    if not root.is_dir():
        return []
    cutoff = time.time() - grace_seconds
    removed = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if not HOLDER_NAME.match(directory.name):
            continue
        for path in sorted(directory.glob("*.key")):
            match = KEY_NAME.match(path.name)
            if match is None or (directory.name, match[1], match[2]) in referenced:
                continue
            if path.stat().st_mtime < cutoff:
                unlink_now([path])
                removed.append(f"{directory.name}/{path.name}")
    return removed
