"""The encrypted file format of stored files: AES-256-GCM in fixed-size chunks.

A stored file is a header followed by chunks. Each chunk holds up to `CHUNK_SIZE` bytes of the
Parquet file, encrypted with its own random 96-bit nonce; the associated data of every chunk
binds it to the header (format, key id, a random file id), to the dataset id and version number
it belongs to, to its index, and to whether it is the last chunk. So:

* a file copied off the server is unreadable without its key: each file has its own random
  key, kept only wrapped by the data key in the file's database row (`envelope`), and deleted
  when the file is destroyed;
* a file moved to another dataset or version, chunks reordered or spliced from another file,
  a truncated or extended file, or a single flipped bit all fail authentication; a file other
  than the one recorded for its row (whose header file id differs) is refused;
* reading a few columns decrypts only the chunks that hold them: memory is one chunk per cached
  slot plus what pyarrow asks for, never the whole file.

Layout (docs/decisions/datasets-storage.md describes it for an independent reader):
header = MAGIC (8) | chunk size (4, big-endian) | key id (8) | file id (16);
chunk = nonce (12) | ciphertext (same length as the plaintext) | GCM tag (16).
Random nonces are safe here: at 1 MiB per chunk, the 2**32-message bound for one key is
4 PiB of stored data. tests/datasets/vectors/ holds files written in this format.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"GOVDATA1"
CHUNK_SIZE = 1 << 20
NONCE_SIZE = 12
TAG_SIZE = 16
FILE_ID_SIZE = 16
HEADER = struct.Struct(">8sI8s16s")
AAD_TAIL = struct.Struct(">QQQB")
CACHED_CHUNKS = 4


class DatastoreError(Exception):
    """Stored data cannot be read."""


class DataIntegrityError(DatastoreError):
    """A stored file is missing, was altered, moved, or encrypted with another key."""


def key_id(key: bytes) -> bytes:
    """A short, non-secret fingerprint of the key, so a wrong key is named as such."""
    return hashlib.sha256(b"governance data key id\0" + key).digest()[:8]


@dataclass(frozen=True)
class Header:
    chunk_size: int
    key_id: bytes
    file_id: bytes


def read_header(path: str | os.PathLike[str]) -> Header:
    """The header of a stored file, unauthenticated (every chunk authenticates it later)."""
    try:
        with open(path, "rb") as file:
            raw = file.read(HEADER.size)
    except FileNotFoundError as exc:
        raise DataIntegrityError(f"The stored file {os.fspath(path)!r} is missing.") from exc
    return _parse_header(raw)


def _parse_header(raw: bytes) -> Header:
    if len(raw) != HEADER.size:
        raise DataIntegrityError("The stored file is truncated: its header is incomplete.")
    magic, chunk_size, file_key_id, file_id = HEADER.unpack(raw)
    if magic != MAGIC or not 0 < chunk_size <= 64 * CHUNK_SIZE:
        raise DataIntegrityError("The stored file is not in the datastore's format.")
    return Header(int(chunk_size), file_key_id, file_id)


@dataclass(frozen=True)
class Binding:
    """What a stored file belongs to; part of every chunk's associated data."""

    dataset_id: int
    version_number: int


def _aad(header: bytes, binding: Binding, index: int, final: bool) -> bytes:
    return header + AAD_TAIL.pack(binding.dataset_id, binding.version_number, index, int(final))


class EncryptingWriter(io.RawIOBase):
    """A write-only file for pyarrow: encrypts as it goes and hashes the plaintext.

    Call `finish()` once after the last write; it writes the final chunk.
    """

    def __init__(
        self,
        out: BinaryIO,
        key: bytes,
        binding: Binding,
        chunk_size: int = CHUNK_SIZE,
        *,
        file_id: bytes | None = None,
    ) -> None:
        super().__init__()
        self._out = out
        self._aead = AESGCM(key)
        self._binding = binding
        self._chunk_size = chunk_size
        self.file_id = file_id or secrets.token_bytes(FILE_ID_SIZE)
        if len(self.file_id) != FILE_ID_SIZE:
            raise ValueError(f"a file id is {FILE_ID_SIZE} bytes")
        self._header = HEADER.pack(MAGIC, chunk_size, key_id(key), self.file_id)
        self._buffer = bytearray()
        self._index = 0
        self._hash = hashlib.sha256()
        self._size = 0
        self._finished = False
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._finished:
            raise ValueError("the encrypted file is already finished")
        view = memoryview(data).cast("B")
        self._buffer += view
        self._hash.update(view)
        self._size += len(view)
        # Keep at least one byte back: the last chunk is only known at finish().
        while len(self._buffer) > self._chunk_size:
            self._emit(bytes(self._buffer[: self._chunk_size]), final=False)
            del self._buffer[: self._chunk_size]
        return len(view)

    def tell(self) -> int:
        return self._size

    def finish(self) -> None:
        if not self._finished:
            self._emit(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._finished = True

    def _emit(self, plaintext: bytes, *, final: bool) -> None:
        nonce = secrets.token_bytes(NONCE_SIZE)
        sealed = self._aead.encrypt(
            nonce, plaintext, _aad(self._header, self._binding, self._index, final)
        )
        self._out.write(nonce + sealed)
        self._index += 1

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    @property
    def plaintext_size(self) -> int:
        return self._size


class DecryptingReader(io.RawIOBase):
    """A read-only, seekable view of a stored file's plaintext, decrypted chunk by chunk."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: bytes,
        binding: Binding,
        *,
        file_id: bytes | None = None,
    ) -> None:
        """Open `path` with `key`; `file_id`, when given, is the id the file's header must
        carry (the one recorded when it was stored)."""
        super().__init__()
        try:
            self._file = open(path, "rb")  # noqa: SIM115  (closed in close())
        except FileNotFoundError as exc:
            raise DataIntegrityError(f"The stored file {os.fspath(path)!r} is missing.") from exc
        try:
            self._open(key, binding, file_id)
        except BaseException:
            self._file.close()
            raise

    def _open(self, key: bytes, binding: Binding, expected_file_id: bytes | None) -> None:
        header = self._file.read(HEADER.size)
        parsed = _parse_header(header)
        if expected_file_id is not None and parsed.file_id != expected_file_id:
            raise DataIntegrityError(
                f"The stored file is not the one recorded for it: its file id is "
                f"{parsed.file_id.hex()}, the recorded one {expected_file_id.hex()} (a "
                f"leftover or substituted file)."
            )
        if parsed.key_id != key_id(key):
            raise DataIntegrityError(
                f"The stored file was encrypted with another key (key id "
                f"{parsed.key_id.hex()}), not the one it is read with ({key_id(key).hex()})."
            )
        self._header = header
        self._aead = AESGCM(key)
        self._binding = binding
        self._chunk_size: int = parsed.chunk_size
        body = os.fstat(self._file.fileno()).st_size - HEADER.size
        stride = NONCE_SIZE + self._chunk_size + TAG_SIZE
        self._chunks = max(1, -(-body // stride))
        last = body - (self._chunks - 1) * stride - NONCE_SIZE - TAG_SIZE
        if last < 0:
            raise DataIntegrityError("The stored file is truncated: its last chunk is incomplete.")
        self._stride = stride
        self._size = (self._chunks - 1) * self._chunk_size + last
        self._position = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        target = memoryview(buffer).cast("B")
        written = 0
        while written < len(target) and self._position < self._size:
            index, offset = divmod(self._position, self._chunk_size)
            chunk = self._chunk(index)
            take = min(len(chunk) - offset, len(target) - written)
            target[written : written + take] = chunk[offset : offset + take]
            written += take
            self._position += take
        return written

    def _chunk(self, index: int) -> bytes:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        plaintext = self.decrypt_chunk(index)
        self._cache[index] = plaintext
        if len(self._cache) > CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return plaintext

    def decrypt_chunk(self, index: int) -> bytes:
        final = index == self._chunks - 1
        self._file.seek(HEADER.size + index * self._stride)
        sealed = self._file.read(self._stride)
        nonce, ciphertext = sealed[:NONCE_SIZE], sealed[NONCE_SIZE:]
        try:
            return self._aead.decrypt(
                nonce, ciphertext, _aad(self._header, self._binding, index, final)
            )
        except InvalidTag as exc:
            raise DataIntegrityError(
                f"The stored file failed authentication at chunk {index}: it was altered, "
                f"truncated, or belongs to another dataset or version."
            ) from exc

    def plaintext_chunks(self) -> Iterator[bytes]:
        """Every chunk in order, each authenticated; memory is one chunk at a time."""
        for index in range(self._chunks):
            yield self.decrypt_chunk(index)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.plaintext_chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def close(self) -> None:
        # A reader whose opening failed (a missing or foreign file) is closed once more by
        # IOBase's finaliser, without the attributes opening would have set.
        if not self.closed:
            file = getattr(self, "_file", None)
            if file is not None:
                file.close()
            cache = getattr(self, "_cache", None)
            if cache is not None:
                cache.clear()
        super().close()
