"""Parquet modular encryption (PME) of stored dataset versions, and their content hash.

Stored versions are Parquet files encrypted by Parquet's own standard (Apache Parquet Modular
Encryption, AES_GCM_V1): every page and every piece of metadata is an AES-256-GCM module, the
footer is encrypted, and each column has its own data key. Arrow, DuckDB and Spark all know the
format, and an engine reading a few columns decrypts only their pages.

Keys, from the outside in (docs/decisions/datasets-storage.md):
* the data key ring (`governance.kernel.keys`, DATA_KEY_FILE, outside the database) wraps
* the version's own random key, kept only in its database row (`envelope`); from it
* `VersionKms` derives one key-encryption key per column (and one for the footer), which wrap
* the random data keys pyarrow draws for each column and the footer, kept in the file.
`VersionKms` is the KMS that pyarrow's key tools call (a `pyarrow.parquet.encryption.KmsClient`):
it unwraps a column's data key only when pyarrow reads that column, and records which.
Destroying the version's key (`files.shred`) leaves every copy of the file holding data keys
wrapped under keys that nothing can derive any more.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet.encryption as pqe
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from governance.datasets.datastore.crypto import NONCE_SIZE, DataIntegrityError

FORMAT = "pme1"
FOOTER_KEY_ID = "footer"
PARQUET_ENCRYPTED_MAGIC = b"PARE"
KEK_LABEL = b"governance pme column key v1\0"
# pyarrow keeps unwrapped keys for this long inside one CryptoFactory; each read makes its own.
KEY_CACHE = dt.timedelta(minutes=10)
HASH_BATCH_ROWS = 65_536  # rows per batch when a whole version is read back to hash it


class KeyUnavailable(DataIntegrityError):
    """A key pyarrow asked for cannot be unwrapped: destroyed, altered, or another file's."""


def column_key_id(name: str) -> str:
    """The master key id of a column: pyarrow's key list syntax reserves ':', ',' and ';', so
    the id is a hash of the declared name."""
    return "col-" + hashlib.sha256(name.encode()).hexdigest()[:24]


class VersionKms(pqe.KmsClient):  # type: ignore[misc]
    """The KMS behind pyarrow's key tools for one stored version.

    `version_key` is called once, when pyarrow first needs a key: for a read, that is when it
    opens the encrypted footer. `unwrapped` lists the master key ids unwrapped so far (a test
    proves an ungranted column's id never appears).
    """

    def __init__(self, version_key: Callable[[], bytes], context: bytes) -> None:
        pqe.KmsClient.__init__(self)
        self._version_key = version_key
        self._context = context
        self._keks: dict[str, AESGCM] = {}
        self._lock = threading.Lock()
        self.unwrapped: list[str] = []

    def _kek(self, master_key_id: str) -> AESGCM:
        with self._lock:
            kek = self._keks.get(master_key_id)
            if kek is None:
                derived = HKDF(
                    algorithm=hashes.SHA256(),
                    length=32,
                    salt=None,
                    info=KEK_LABEL + self._context + master_key_id.encode(),
                ).derive(self._version_key())
                kek = self._keks[master_key_id] = AESGCM(derived)
            return kek

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        nonce = secrets.token_bytes(NONCE_SIZE)
        sealed = self._kek(master_key_identifier).encrypt(
            nonce, bytes(key_bytes), master_key_identifier.encode()
        )
        return base64.b64encode(nonce + sealed).decode("ascii")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        self.unwrapped.append(master_key_identifier)
        try:
            blob = base64.b64decode(wrapped_key, validate=True)
            return self._kek(master_key_identifier).decrypt(
                blob[:NONCE_SIZE], blob[NONCE_SIZE:], master_key_identifier.encode()
            )
        except (InvalidTag, ValueError):
            raise KeyUnavailable(
                "The stored file is not the one recorded for this version: a key in it does "
                "not unwrap with the version's key (a file moved from another version, "
                "substituted, or altered)."
            ) from None


class VersionKeys:
    """The encryption and decryption properties of one version's file, over one `VersionKms`."""

    def __init__(self, version_key: Callable[[], bytes], context: bytes) -> None:
        self.kms = VersionKms(version_key, context)
        self._factory = pqe.CryptoFactory(lambda _config: self.kms)
        self._connection = pqe.KmsConnectionConfig()

    def encryption(self, schema: pa.Schema) -> pqe.FileEncryptionProperties:
        config = pqe.EncryptionConfiguration(
            footer_key=FOOTER_KEY_ID,
            column_keys={column_key_id(name): [name] for name in schema.names},
            encryption_algorithm="AES_GCM_V1",
            plaintext_footer=False,
            # Single wrapping: each column's data key is wrapped by its own column key, so the
            # KMS sees (and records) exactly which columns a read opens.
            double_wrapping=False,
            data_key_length_bits=256,
            cache_lifetime=KEY_CACHE,
        )
        return self._factory.file_encryption_properties(self._connection, config)

    def decryption(self) -> pqe.FileDecryptionProperties:
        return self._factory.file_decryption_properties(
            self._connection, pqe.DecryptionConfiguration(cache_lifetime=KEY_CACHE)
        )


def is_pme(path: Path) -> bool:
    """True when the file at `path` starts as a Parquet file with an encrypted footer."""
    with open(path, "rb") as file:
        return file.read(4) == PARQUET_ENCRYPTED_MAGIC


# What a missing value counts as in the values stream (its absence is in the validity stream).
_FILLERS: dict[str, Any] = {"string": "", "bool": False, "date32[day]": 0}


class _ColumnDigest:
    """Three streams of one column, each the same however the rows are batched: which values
    are present, the values (missing ones as zero or empty), and for strings their lengths."""

    def __init__(self, field: pa.Field) -> None:
        self.type = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        self.is_string = pa.types.is_string(self.type) or pa.types.is_large_string(self.type)
        self.present = hashlib.sha256()
        self.values = hashlib.sha256()
        self.lengths = hashlib.sha256()

    def update(self, array: pa.Array) -> None:
        if pa.types.is_dictionary(array.type):
            array = array.cast(self.type)
        self.present.update(array.is_valid().cast(pa.uint8()).to_numpy().tobytes())
        filled = pc.fill_null(array, _FILLERS.get(str(self.type), 0))
        if self.is_string:
            filled = filled.cast(pa.large_string())
            offsets = np.frombuffer(filled.buffers()[1], dtype="<i8")
            offsets = offsets[filled.offset : filled.offset + len(filled) + 1]
            self.lengths.update(np.diff(offsets).astype("<i8").tobytes())
            data = filled.buffers()[2]
            if data is not None and len(filled):
                self.values.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
            return
        if pa.types.is_boolean(self.type):
            filled = filled.cast(pa.uint8())
        elif pa.types.is_date32(self.type):
            filled = filled.cast(pa.int32())
        self.values.update(filled.to_numpy(zero_copy_only=False).tobytes())

    def digest(self) -> bytes:
        return self.present.digest() + self.values.digest() + self.lengths.digest()


class ContentHash:
    """SHA-256 of a version's logical content, the same however it is encoded or batched.

    For each column, in schema order: a SHA-256 of which rows have a value (a byte per row), of
    the values (little-endian, a missing value as zero, false or empty; booleans a byte, dates
    days since 1970, categories as their text) and, for text, of each value's length; the
    content hash is the SHA-256 of the schema's text (name, type and nullability per column)
    followed by those digests. Row groups, pages, compression, dictionary order, encryption and
    whatever a missing value's slot held do not change it, so the hash taken while a version is
    written is the one checked when it is read back in full (`store.verify_version`), and it
    survives a change of storage format.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._columns = [_ColumnDigest(field) for field in schema]

    def watch(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Pass `batches` through, hashing each."""
        for batch in batches:
            self.update(batch)
            yield batch

    def update(self, batch: pa.RecordBatch) -> None:
        for column, array in zip(self._columns, batch.columns, strict=True):
            column.update(array)

    def hexdigest(self) -> str:
        described = "\n".join(
            f"{f.name}\t{column.type}\t{f.nullable}"
            for f, column in zip(self._schema, self._columns, strict=True)
        )
        digest = hashlib.sha256(described.encode())
        for column in self._columns:
            digest.update(column.digest())
        return digest.hexdigest()
