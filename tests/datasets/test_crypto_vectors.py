"""Test vectors of the stored-file format (docs/decisions/datasets-storage.md, "The file format").

The files in tests/datasets/vectors/ were written by the datastore's encrypting writer with the
fixed test key bytes(range(32)) and are committed: they must decrypt, byte for byte, with every
later version of the reader, so a change to the format cannot strand files already stored. Any
flipped bit, a truncated or extended file, reordered chunks, or another binding must be refused.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from governance.datasets.datastore.crypto import (
    HEADER,
    NONCE_SIZE,
    TAG_SIZE,
    Binding,
    DataIntegrityError,
    DecryptingReader,
    EncryptingWriter,
)

VECTORS = Path(__file__).parent / "vectors"
KEY = bytes(range(32))
EXPECTED = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))
CHUNKED = "chunks-64.gde"


def decrypt(path: Path, binding: Binding, key: bytes = KEY) -> bytes:
    with DecryptingReader(path, key, binding) as reader:
        return b"".join(reader.plaintext_chunks())


def binding_of(name: str) -> Binding:
    dataset_id, version = EXPECTED[name]["binding"]
    return Binding(dataset_id, version)


def chunk_spans(content: bytes, chunk_size: int) -> list[tuple[int, int]]:
    stride = NONCE_SIZE + chunk_size + TAG_SIZE
    spans = []
    start = HEADER.size
    while start < len(content):
        spans.append((start, min(start + stride, len(content))))
        start += stride
    return spans


def test_the_committed_chunked_file_decrypts_to_its_plaintext() -> None:
    plaintext = decrypt(VECTORS / CHUNKED, binding_of(CHUNKED))
    assert plaintext == bytes.fromhex(EXPECTED[CHUNKED]["plaintext_hex"])
    assert hashlib.sha256(plaintext).hexdigest() == EXPECTED[CHUNKED]["plaintext_sha256"]
    content = (VECTORS / CHUNKED).read_bytes()
    assert len(chunk_spans(content, EXPECTED[CHUNKED]["chunk_size"])) == 6


def test_the_committed_stored_version_reads_as_parquet() -> None:
    name = "parquet-version.gde"
    with DecryptingReader(VECTORS / name, KEY, binding_of(name)) as reader:
        assert reader.sha256() == EXPECTED[name]["plaintext_sha256"]
        reader.seek(0)
        table = pq.read_table(reader)
    assert table.column("person_id").to_pylist() == ["P1", "P2", "P3"]
    assert table.column("age").to_pylist() == [34, 19, None]
    assert table.num_rows == EXPECTED[name]["rows"]


def test_a_flipped_bit_anywhere_is_refused(tmp_path: Path) -> None:
    content = (VECTORS / CHUNKED).read_bytes()
    spans = chunk_spans(content, EXPECTED[CHUNKED]["chunk_size"])
    # A bit in the header, then in each chunk's nonce, ciphertext and tag.
    positions = [HEADER.size - 1]
    for start, end in spans:
        positions += [start, start + NONCE_SIZE + 1, end - 1]
    for position in positions:
        damaged = bytearray(content)
        damaged[position] ^= 0x01
        path = tmp_path / f"flipped-{position}.gde"
        path.write_bytes(bytes(damaged))
        with pytest.raises(DataIntegrityError):
            decrypt(path, binding_of(CHUNKED))


@pytest.mark.parametrize("cut", ["one byte", "the last chunk", "into the header"])
def test_a_truncated_file_is_refused(tmp_path: Path, cut: str) -> None:
    content = (VECTORS / CHUNKED).read_bytes()
    spans = chunk_spans(content, EXPECTED[CHUNKED]["chunk_size"])
    end = {
        "one byte": len(content) - 1,
        "the last chunk": spans[-1][0],
        "into the header": HEADER.size - 4,
    }[cut]
    path = tmp_path / "truncated.gde"
    path.write_bytes(content[:end])
    with pytest.raises(DataIntegrityError):
        decrypt(path, binding_of(CHUNKED))


def test_reordered_or_repeated_chunks_are_refused(tmp_path: Path) -> None:
    content = (VECTORS / CHUNKED).read_bytes()
    spans = chunk_spans(content, EXPECTED[CHUNKED]["chunk_size"])
    chunks = [content[start:end] for start, end in spans]
    header = content[: HEADER.size]
    swapped = [chunks[0], chunks[2], chunks[1], *chunks[3:]]
    repeated = [*chunks[:-1], chunks[-2], chunks[-1]]
    for name, order in (("swapped", swapped), ("repeated", repeated)):
        path = tmp_path / f"{name}.gde"
        path.write_bytes(header + b"".join(order))
        with pytest.raises(DataIntegrityError):
            decrypt(path, binding_of(CHUNKED))


def test_another_binding_or_key_is_refused() -> None:
    dataset_id, version = EXPECTED[CHUNKED]["binding"]
    with pytest.raises(DataIntegrityError):
        decrypt(VECTORS / CHUNKED, Binding(dataset_id, version + 1))
    with pytest.raises(DataIntegrityError):
        decrypt(VECTORS / CHUNKED, Binding(dataset_id + 1, version))
    with pytest.raises(DataIntegrityError, match="another key"):
        decrypt(VECTORS / CHUNKED, binding_of(CHUNKED), key=bytes(32))


def test_the_writer_still_writes_what_the_vectors_hold() -> None:
    """A new file in today's writer has the vectors' layout: same header fields and sizes."""
    plaintext = bytes.fromhex(EXPECTED[CHUNKED]["plaintext_hex"])
    out = io.BytesIO()
    writer = EncryptingWriter(out, KEY, binding_of(CHUNKED), chunk_size=64)
    writer.write(plaintext)
    writer.finish()
    committed = (VECTORS / CHUNKED).read_bytes()
    assert len(out.getvalue()) == len(committed)
    # Magic, chunk size and key id agree; the file id (the last 16 header bytes) is random.
    assert out.getvalue()[: HEADER.size - 16] == committed[: HEADER.size - 16]
