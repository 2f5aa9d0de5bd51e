"""Per-file keys: each stored file has its own random key, wrapped by the data key.

Destroying data must erase it, and unlinking a file does not reach the copies in backups and
disk images. So every stored dataset version and cohort file is encrypted under a random
256-bit key of its own (envelope encryption). That key is kept only in the file's database row,
wrapped (AES-256-GCM) under a key derived from the data key ring (`governance.kernel.keys`) and
bound to the file: its dataset id and version number (or cohort id), and its random file id. The row
also records which data key wrapped it. Destroying the file deletes the wrapped key in the
same transaction as the audit event, and from then on no copy of the file can be decrypted
with the live database and keys. (A database backup made before the destruction still holds
the wrapped key until the data key that wrapped it is rotated away and discarded: see
docs/datasets.md, Destruction.)

Wrapped key layout: nonce (12) | AES-GCM ciphertext of the file key (32) | tag (16); the
associated data is `CONTEXT_LABEL`, the binding (two big-endian 64-bit numbers) and the file id.

Rows stored before per-file keys have no wrapped key: their files were encrypted under the
data key itself and are read with the ring key whose file-format key id matches the header
until `governance datastore rewrap` re-encrypts them (see rewrap.py).
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from governance.datasets.datastore.crypto import (
    FILE_ID_SIZE,
    NONCE_SIZE,
    Binding,
    DataIntegrityError,
    key_id,
    read_header,
)
from governance.kernel.keys import KeyNotAvailable, KeyRing

FILE_KEY_SIZE = 32
WRAP_LABEL = "datastore file-key wrapping"
CONTEXT_LABEL = b"governance file key v1\0"
FINGERPRINT_LABEL = b"governance destroyed file key v1\0"
_BINDING = struct.Struct(">QQ")


class KeyedFile(Protocol):
    """What a stored file's row records about its file (DatasetVersion, CohortFile)."""

    file_id: str | None
    wrapped_key: bytes | None
    wrapping_key_id: str | None


@dataclass(frozen=True, repr=False)
class FileKey:
    """A file's key with what the row stores about it; the key itself is never shown."""

    key: bytes
    file_id: bytes
    wrapped: bytes
    wrapping_key_id: str

    def record_on(self, row: KeyedFile) -> None:
        row.file_id = self.file_id.hex()
        row.wrapped_key = self.wrapped
        row.wrapping_key_id = self.wrapping_key_id

    def __repr__(self) -> str:
        return f"<FileKey file {self.file_id.hex()} wrapped by {self.wrapping_key_id}>"


def _context(binding: Binding, file_id: bytes) -> bytes:
    return CONTEXT_LABEL + _BINDING.pack(binding.dataset_id, binding.version_number) + file_id


def wrap(
    ring: KeyRing,
    key: bytes,
    binding: Binding,
    file_id: bytes,
    *,
    wrapping_key_id: str | None = None,
) -> FileKey:
    """Wrap a file key under the ring's current data key (or the one named)."""
    kek_id = wrapping_key_id or ring.current_id
    nonce = secrets.token_bytes(NONCE_SIZE)
    sealed = AESGCM(ring.derive(WRAP_LABEL, key_id=kek_id)).encrypt(
        nonce, key, _context(binding, file_id)
    )
    return FileKey(key, file_id, nonce + sealed, kek_id)


def new_file_key(ring: KeyRing, binding: Binding) -> FileKey:
    """A fresh random key and file id for a file about to be written, wrapped for its row."""
    return wrap(
        ring, secrets.token_bytes(FILE_KEY_SIZE), binding, secrets.token_bytes(FILE_ID_SIZE)
    )


def unwrap(ring: KeyRing, row: KeyedFile, binding: Binding) -> FileKey:
    """The file key recorded on `row`; DataIntegrityError if it is gone or does not unwrap."""
    if row.wrapped_key is None or row.wrapping_key_id is None or row.file_id is None:
        raise DataIntegrityError("The stored file's key is not recorded: it was destroyed.")
    file_id = bytes.fromhex(row.file_id)
    try:
        kek = ring.derive(WRAP_LABEL, key_id=row.wrapping_key_id)
    except KeyNotAvailable as error:
        raise DataIntegrityError(str(error)) from None
    blob = bytes(row.wrapped_key)
    try:
        key = AESGCM(kek).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], _context(binding, file_id))
    except InvalidTag:
        raise DataIntegrityError(
            f"The stored file's key does not unwrap with data key {row.wrapping_key_id}: the "
            "wrapped key was altered or belongs to another file."
        ) from None
    return FileKey(key, file_id, blob, row.wrapping_key_id)


def is_legacy(row: KeyedFile) -> bool:
    """Stored before per-file keys: encrypted under the data key itself."""
    return row.wrapped_key is None and row.file_id is None


def legacy_key(ring: KeyRing, path: Path) -> bytes:
    """The ring key a file from before per-file keys was encrypted with, found by the key id
    in its header."""
    wanted = read_header(path).key_id
    for candidate in ring.keys.values():
        if key_id(candidate) == wanted:
            return candidate
    raise DataIntegrityError(
        f"The stored file was encrypted directly under a data key (file key id "
        f"{wanted.hex()}) that is neither the current nor a retired data key; restore that "
        f"key from your key backup."
    )


def fingerprint(row: KeyedFile) -> str | None:
    """What a destruction certificate names: a hash of the wrapped key and the id of the key
    that wrapped it, never the key. None for a row without a per-file key."""
    if row.wrapped_key is None or row.wrapping_key_id is None:
        return None
    return hashlib.sha256(
        FINGERPRINT_LABEL + row.wrapping_key_id.encode() + b"\0" + bytes(row.wrapped_key)
    ).hexdigest()
