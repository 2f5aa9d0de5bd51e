"""Keyed seals over the rows that decide access, so that someone with the database alone
cannot grant, extend or widen access by writing rows.

A seal is HMAC-SHA-256 over a row's canonical content (the values that decide what it allows,
as a JSON list) under a subkey of the audit key ring derived for the row's kind
(`row-seal/<kind>`): the key is a file the database does not hold, as for the audit trail's
checkpoints. It is stored as `<key id>:<hex>`, so a seal made before an audit key rotation
still verifies under the retired key. The row's id is part of its content, so a seal copied
onto another row does not verify. The application computes seals when it writes such a row
(the flush listeners of each kind); whoever reads a row to decide access verifies it, and a
row whose seal is missing or does not match allows nothing.

What a seal cannot tell: a row put back, whole, to an earlier state the application sealed
(an old backup row with its old seal). See docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Sequence
from enum import Enum

from governance.kernel.keys import KeyNotAvailable, KeyRing

LABEL = "row-seal/"
#: Longest stored seal: a 16-digit key id, a colon and 64 hex digits.
SEAL_LENGTH = 81


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, sort_keys=True)


def _canonical(kind: str, content: Sequence[object]) -> bytes:
    return _JSON.encode([kind, *[_value(v) for v in content]]).encode()


_PLAIN = frozenset({str, int, bool, float, type(None)})


def _value(value: object) -> object:
    """A value as it reads the same on SQLite and PostgreSQL: times in UTC, enums by value.
    Plain values are passed first and by exact type: a grant index's first load checks every
    live grant (a hundred thousand of them) through here."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.tzinfo is not dt.UTC:
            value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return _value(value.value)
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _mac(ring: KeyRing, key_id: str, kind: str, content: Sequence[object]) -> str:
    key = ring.derive(LABEL + kind, key_id=key_id)
    return hmac.new(key, _canonical(kind, content), hashlib.sha256).hexdigest()


def seal(ring: KeyRing, kind: str, content: Sequence[object]) -> str:
    """The seal of a row of `kind` whose canonical content is `content` (its id first)."""
    return f"{ring.current_id}:{_mac(ring, ring.current_id, kind, content)}"


def holds(ring: KeyRing, kind: str, content: Sequence[object], stored: str | None) -> bool:
    """Whether `stored` is the seal of this content under one of the ring's keys; a missing,
    malformed or unknown-key seal does not hold."""
    if not stored or ":" not in stored:
        return False
    key_id, _, mac = stored.partition(":")
    try:
        expected = _mac(ring, key_id, kind, content)
    except KeyNotAvailable:
        return False
    return hmac.compare_digest(expected, mac)
