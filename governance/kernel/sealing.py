"""Sealing secrets kept in the database (the TOTP keys of second factors, and the differencing
ledger's per-person cells) with AES-GCM under a labelled subkey of the data key ring, or of a
key derived from it (`seal_under`).

The one module outside the datastore allowed to name an AEAD cipher (the datastore boundary
test lists it by name): it takes and returns bytes and never opens a file, so stored datasets
still pass only through governance/datasets/datastore/. The key id is bound in as associated
data, so a sealed value cannot be presented as sealed under another key; retired keys stay in
the ring, so rotating the data key does not strand sealed values.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from governance.kernel.keys import KeyRing

NONCE_BYTES = 12


def seal(ring: KeyRing, label: str, plaintext: bytes) -> tuple[str, bytes]:
    """(key id, nonce + ciphertext) under the ring's current key's subkey for `label`."""
    key_id = ring.current_id
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.derive(label, key_id=key_id)).encrypt(nonce, plaintext, key_id.encode())
    return key_id, nonce + sealed


def unseal(ring: KeyRing, label: str, key_id: str, blob: bytes) -> bytes:
    """The plaintext; raises cryptography's InvalidTag if the blob or its key id was altered."""
    key = ring.derive(label, key_id=key_id)
    return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], key_id.encode())


def _subkey(key: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(key)


def seal_under(key: bytes, label: str, plaintext: bytes, context: bytes) -> bytes:
    """Nonce + ciphertext under `key`'s subkey for `label`, bound to `context` (associated
    data: a blob moved to another row, whose context differs, does not open)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_subkey(key, label)).encrypt(nonce, plaintext, context)


def unseal_under(key: bytes, label: str, blob: bytes, context: bytes) -> bytes:
    """The plaintext of `seal_under`; raises cryptography's InvalidTag if anything was altered."""
    return AESGCM(_subkey(key, label)).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
