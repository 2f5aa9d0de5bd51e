"""The audit trail's format: the exact text each event's hash covers, its canonical JSON, the
stored time, and the messages the HMAC signatures sign.

Pure functions without SQLAlchemy: the writer, the verifier and the verifier's worker processes
share them, and an independent verifier can reimplement them from this module and
docs/decisions/audit.md.

Two formats exist, told apart by the head's `format_since` (the first event of format 2, bound
into every format-2 signature):

- format 1, events written before migration 0011: the detail as Python's `json` module wrote it
  (sorted keys, no spaces), checkpoints signed as `SEQ:SHA256`, the head unsigned;
- format 2: the detail as RFC 8785 (JCS) canonical JSON, checkpoints signed with the cadence
  they promise, and the head signed on every write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from json import scanner
from json.encoder import encode_basestring as _quote  # what JSON and JCS use for text
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64
LEGACY_FORMAT = 1
CURRENT_FORMAT = 2
# The largest whole number JSON (an IEEE double) carries exactly; RFC 8785 refuses larger ones.
MAX_SAFE_INTEGER = 2**53 - 1
# No event of this service can predate the Unix epoch; a stored time outside [1970, 10000) is a
# forgery (PostgreSQL's years BC, 'infinity') or cannot be written in the canonical form.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EARLIEST_TEXT = "1970-01-01"


def fingerprint(key: bytes) -> str:
    """The id a key is known by: the key ring's id rule (the first 16 hex digits of its
    SHA-256), which the key_id columns of the head and the checkpoints hold."""
    # Imported here: the key ring's module imports SQLAlchemy's ORM (0.2 s of CPU), which the
    # verifier's worker processes, importing this module for the walk, never need.
    from governance.kernel import keys

    return keys.key_id(key)


# -- times ----------------------------------------------------------------------------------


def format_time(moment: dt.datetime) -> str:
    """The canonical UTC text of a time, as hashed and exported: 2026-01-31T14:00:00.000000Z."""
    # isoformat is several times faster than strftime, and pads years below 1000 to 4 digits.
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def check_time(moment: dt.datetime) -> None:
    """Refuse a time the verifier would reject, before anything is written."""
    if moment.tzinfo is None:
        raise ValueError("an audit event's time must carry its zone (UTC)")
    if moment < EARLIEST:
        raise ValueError(f"an audit event cannot predate {EARLIEST:%Y-%m-%d}: {moment}")


# SQLite's stored form of a UTC time (SQLAlchemy writes it): digits only, always microseconds.
_SQLITE_TIME = re.compile(r"(\d{4}-\d\d-\d\d) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}", re.ASCII)
_valid_days: set[str] = set()


def sqlite_time_text(stored: Any) -> str | None:
    """The canonical text of a time as SQLite stores it (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC), or
    None when the stored value is not exactly that: another separator, a zone, missing digits,
    an impossible date or a year before 1970 would each sort or parse differently from the
    time the hash covers."""
    if type(stored) is not str or _SQLITE_TIME.fullmatch(stored) is None:
        return None
    day = stored[:10]
    if day not in _valid_days:  # a million events fall on a few thousand days
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            return None
        if day < _EARLIEST_TEXT:
            return None
        _valid_days.add(day)
    return f"{day}T{stored[11:]}Z"


_SQLITE_TIMES = re.compile(rf"(?:{_SQLITE_TIME.pattern}\n)*{_SQLITE_TIME.pattern}", re.ASCII)
_day = operator.itemgetter(slice(0, 10))


def sqlite_time_texts(stored: Sequence[Any]) -> list[str] | None:
    """`sqlite_time_text` of many stored times at once, or None when any one is not exactly the
    stored form: one C-speed match over the times joined by newlines (a pattern that cannot
    match a newline, so each line is one time), then the dates not yet seen checked one by
    one."""
    try:
        joined = "\n".join(stored)
    except TypeError:  # not every value is text
        return None
    # As many lines as values: no value holds a newline of its own (two times in one).
    if joined.count("\n") != len(stored) - 1 or _SQLITE_TIMES.fullmatch(joined) is None:
        return None
    for day in set(map(_day, stored)).difference(_valid_days):
        if sqlite_time_text(f"{day} 00:00:00.000000") is None:
            return None
    # Each line is `YYYY-MM-DD HH:MM:SS.ffffff`: its one space becomes the T, and a Z ends it.
    return (joined.replace(" ", "T").replace("\n", "Z\n") + "Z").split("\n")


def time_after(text: str, minutes: int) -> str:
    """The canonical text `minutes` after the canonical time `text` (for cadence checks:
    canonical texts of years 1970-9999 sort as the times do)."""
    moment = dt.datetime.fromisoformat(text)  # the Z reads as UTC
    try:
        later = moment + dt.timedelta(minutes=minutes)
    except OverflowError:
        return "~"  # after every time that can be written
    return format_time(later)


# -- canonical JSON (RFC 8785) --------------------------------------------------------------


class _NotFast(Exception):
    """A value outside the domain where the C json module writes exactly what JCS writes."""


def _not_fast(_token: str) -> Any:
    raise _NotFast


def _int_token(token: str) -> int:
    # Up to 15 digits is always within MAX_SAFE_INTEGER; longer ones go the slow way.
    if len(token) > 15:
        raise _NotFast
    return int(token)


def _unserialisable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _sorted_encoder() -> Callable[[Any], str]:
    """Compact JSON with sorted keys and text kept as UTF-8, from the C encoder (about three
    times faster than `json.dumps`, which builds a new encoder on every call)."""
    make = getattr(json.encoder, "c_make_encoder", None)  # absent from the type stubs
    if make is None:  # pragma: no cover  (CPython always has the C accelerator)
        return json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
    encoder = make(None, _unserialisable, _quote, None, ":", ",", True, False, True)

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    return encode


_encode_sorted = _sorted_encoder()
_make_scanner: Any = scanner.make_scanner  # the stubs type it as a class, not a factory
_scan_fast: Callable[[Any, int], tuple[Any, int]] = _make_scanner(
    json.JSONDecoder(parse_float=_not_fast, parse_int=_int_token, parse_constant=_not_fast)
)
_scan_legacy: Callable[[Any, int], tuple[Any, int]] = _make_scanner(json.JSONDecoder())
# RFC 8785 orders keys by UTF-16 code units, Python by code points: they differ only for keys
# holding characters from U+E000 up (astral characters are surrogate pairs in UTF-16).
_HIGH = re.compile("[\ue000-\U0010ffff]")
_REPLACEMENT = "\ufffd"


def storable_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD: neither UTF-8 storage nor JCS can
    carry one (a JSON body may hold "\\ud800"), and an audit record must never fail for the
    text it records. A valid surrogate pair becomes the character it encodes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _json_key(key: Any) -> str:
    """A mapping key as `json.dumps` converts it (what the detail always did)."""
    if isinstance(key, str):
        return storable_text(str.__str__(key))
    if key is True or key is False or key is None:
        return json.dumps(key)
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float):
        return json.dumps(float(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _storable(value: Any, slow: list[bool]) -> Any:
    """A copy of `value` that RFC 8785 can write, with the deterministic escapes below; sets
    `slow[0]` when the C encoder would not write it as JCS does (a float, a high key)."""
    kind = type(value)
    if kind is str:  # the common exact types first: this runs for every event written
        return value if value.isascii() else storable_text(value)
    if kind is dict:
        return (
            {key: _storable(item, slow) for key, item in value.items()}
            if all(type(key) is str and key.isascii() for key in value)
            else _storable_mapping(value, slow)
        )
    if kind is list or kind is tuple:
        return [_storable(item, slow) for item in value]
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return storable_text(str.__str__(value))
    if isinstance(value, int):
        number = int(value)
        # Beyond 2**53 a JSON number is rounded by every reader: keep the exact digits as text.
        return number if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER else str(number)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        slow[0] = True
        return float(value)
    if isinstance(value, Mapping):
        return _storable_mapping(value, slow)
    if isinstance(value, list | tuple):
        return [_storable(item, slow) for item in value]
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _storable_mapping(value: Mapping[Any, Any], slow: list[bool]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = _json_key(key)
        if not name.isascii() and _HIGH.search(name):
            slow[0] = True
        result[name] = _storable(item, slow)
    return result


def canonical_detail(detail: Mapping[str, Any]) -> str:
    """The RFC 8785 (JCS) text of an event's detail, after the escapes of `_storable`."""
    slow = [False]
    value = _storable(detail, slow)
    if slow[0]:
        return rfc8785.dumps(value).decode("utf-8")
    return _encode_sorted(value)


def is_jcs_object(text: Any) -> bool:
    """Whether `text` is exactly the RFC 8785 serialisation of a JSON object."""
    try:
        value, end = _scan_fast(text, 0)
    except _NotFast:
        return _is_jcs_slow(text)
    except (ValueError, TypeError, StopIteration, RecursionError):
        return False
    if end != len(text) or type(value) is not dict:
        return False
    if not text.isascii() and _HIGH.search(text):
        return _is_jcs_slow(text)
    return bool(_encode_sorted(value) == text)


def _is_jcs_slow(text: str) -> bool:
    # In JSON as RFC 8785 reads it every number is a double: 9007199254740992 is a valid
    # canonical number (2**53 as a float), 9007199254740993 is not (no double has that value).
    try:
        value = json.loads(text, parse_int=float, parse_constant=_not_fast)
    except (ValueError, RecursionError, _NotFast):
        return False
    if type(value) is not dict:
        return False
    try:
        return bool(rfc8785.dumps(value) == text.encode("utf-8"))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return False


def is_legacy_object(text: Any) -> bool:
    """Whether `text` is exactly what format 1 wrote: `json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)` of a JSON object."""
    try:
        value, end = _scan_legacy(text, 0)
    except (ValueError, TypeError, StopIteration, RecursionError):
        return False
    if end != len(text) or type(value) is not dict:
        return False
    try:
        return bool(_encode_sorted(value) == text)
    except ValueError:
        return False


# -- the hashed text ------------------------------------------------------------------------

# The fields each event's hash covers, in the (sorted) order canonical JSON writes them.
CONTENT_FIELDS: tuple[str, ...] = (
    "actor_email",
    "actor_id",
    "agreement_id",
    "agreement_version",
    "clause",
    "dataset_id",
    "detail",
    "event_type",
    "occurred_at",
    "outcome",
    "rule",
    "seq",
    "target_id",
    "target_type",
)
_int = int.__repr__  # refuses text and floats: a whole-number column must hold a whole number


def content_text(
    actor_email: str | None,
    actor_id: int | None,
    agreement_id: int | None,
    agreement_version: int | None,
    clause: str | None,
    dataset_id: int | None,
    detail_json: str,
    event_type: str,
    occurred_at: str,
    outcome: str,
    rule: str | None,
    seq: int,
    target_id: str | None,
    target_type: str | None,
) -> str:
    """The exact text each event's hash covers: the canonical JSON object of every stored field
    except the hashes, `occurred_at` as `format_time` text and `detail_json` the stored detail
    (checked canonical separately, so it is spliced rather than parsed and written again).

    Every value is written by its JSON type (text quoted, whole numbers bare, null), and a value
    of the wrong type raises TypeError: a number stored as text can never hash like the number.
    Arguments are in the canonical (sorted) order, so a verifier passes a row positionally.
    """
    return (
        f'{{"actor_email":{"null" if actor_email is None else _quote(actor_email)},'
        f'"actor_id":{"null" if actor_id is None else _int(actor_id)},'
        f'"agreement_id":{"null" if agreement_id is None else _int(agreement_id)},'
        f'"agreement_version":{"null" if agreement_version is None else _int(agreement_version)},'
        f'"clause":{"null" if clause is None else _quote(clause)},'
        f'"dataset_id":{"null" if dataset_id is None else _int(dataset_id)},'
        f'"detail":{detail_json if type(detail_json) is str else _not_text(detail_json)},'
        f'"event_type":{_quote(event_type)},'
        f'"occurred_at":{_quote(occurred_at)},"outcome":{_quote(outcome)},'
        f'"rule":{"null" if rule is None else _quote(rule)},"seq":{_int(seq)},'
        f'"target_id":{"null" if target_id is None else _quote(target_id)},'
        f'"target_type":{"null" if target_type is None else _quote(target_type)}}}'
    )


def _not_text(detail_json: object) -> str:
    raise TypeError(f"the detail must be JSON text, not {type(detail_json).__name__}")


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


# -- signatures -----------------------------------------------------------------------------


def sign(key: bytes, message: str) -> str:
    # The one-shot form: OpenSSL's HMAC in one call, several times faster than an HMAC object.
    return hmac.digest(key, message.encode(), "sha256").hex()


_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


def signer(key: bytes) -> Callable[[str], str]:
    """`sign` with `key` fixed, for many messages: HMAC-SHA256 as RFC 2104 defines it, from
    the SHA-256 states of the key's two padded blocks, computed once (the one-shot
    `hmac.digest` sets up the key again at each call: 1.9 µs a checkpoint against 0.7)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner, outer = (
        hashlib.sha256(block.translate(_INNER_PAD)),
        hashlib.sha256(block.translate(_OUTER_PAD)),
    )

    def sign_with(message: str) -> str:
        digest = inner.copy()
        digest.update(message.encode())
        result = outer.copy()
        result.update(digest.digest())
        return result.hexdigest()

    return sign_with


def legacy_checkpoint_message(seq: int, head_hash: str) -> str:
    """What a format-1 checkpoint signed."""
    return f"{seq}:{head_hash}"


def checkpoint_message(
    seq: int, head_hash: str, *, format_since: int, every: int, minutes: int
) -> str:
    """What a format-2 checkpoint signs: the event and its hash, where format 2 began (so no
    event can be moved back to the weaker format 1), and the cadence it promises (the next
    checkpoint within `every` events, and at the first event `minutes` or more after it)."""
    return (
        f"governance audit checkpoint\nformat=2\nseq={seq}\nsha256={head_hash}\n"
        f"format_since={format_since}\nevery={every}\nminutes={minutes}"
    )


def head_message(seq: int, head_hash: str, *, format_since: int) -> str:
    """What the head's signature signs, renewed with every event written."""
    return (
        f"governance audit head\nformat=2\nseq={seq}\nsha256={head_hash}\n"
        f"format_since={format_since}"
    )


def verify_signature(key: bytes, message: str, signature: Any) -> bool:
    return isinstance(signature, str) and hmac.compare_digest(sign(key, message), signature)
