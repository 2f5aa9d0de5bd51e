"""The keys that sign visas: files in PASSPORT_KEY_DIR (instance/passport), never in the
database or in git, and their rotation.

* `<kid>.private.pem` (owner-only): the private key; only the current key keeps one, so a
  retired key can verify what it signed but never sign again;
* `<kid>.public.json`: the public key as a JWK, with the moment it was retired, for every key
  still published;
* `current`: the id of the key that signs now, replaced atomically by a rotation.

A key's id (`kid`) is its RFC 7638 thumbprint: derived from the public key, so a file whose
name does not match its content is refused. The first key is made when the first visa is
issued: losing these keys costs nothing but the visas in flight (an hour's worth at most),
unlike the audit and data keys, which the database depends on.

A retired key stays in the published set (the JWKS) while any visa it signed may still be
presented: until the last such visa expires, and at least one visa lifetime after its
retirement (a process may have been signing with it as the rotation happened). Then it is
dropped from the set, and `drop_retired_keys` deletes its file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import InvalidKeyTypeError
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.kernel.config import private_dir
from governance.passport.models import IssuedVisa

log = logging.getLogger(__name__)

CURRENT = "current"
PRIVATE_SUFFIX = ".private.pem"
PUBLIC_SUFFIX = ".public.json"
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # a base64url SHA-256 thumbprint
RSA_BITS = 3072
SigningKey = ECKey | RSAKey


class PassportKeyError(RuntimeError):
    """A key file is missing, unreadable or does not hold the key its name says."""


@dataclass(frozen=True)
class PublicKey:
    kid: str
    jwk: dict[str, Any]  # the public JWK, as published
    retired_at: dt.datetime | None

    @property
    def algorithm(self) -> str:
        return str(self.jwk["alg"])


def key_dir(settings: Mapping[str, Any]) -> Path:
    return Path(settings["PASSPORT_KEY_DIR"])


def algorithm_of(key: SigningKey) -> str:
    return "ES256" if isinstance(key, ECKey) else "RS256"


def public_jwk(key: SigningKey) -> dict[str, Any]:
    kid = key.thumbprint()
    return {**key.as_dict(private=False), "kid": kid, "alg": algorithm_of(key), "use": "sig"}


def _generate(algorithm: str) -> SigningKey:
    if algorithm == "RS256":
        return RSAKey.generate_key(RSA_BITS)
    return ECKey.generate_key("P-256")


def _write_new(path: Path, content: bytes) -> None:
    # Owner-only like every file of the instance folder, the public halves too.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, content: bytes) -> None:
    staging = path.with_name(f".{path.name}.new")
    staging.unlink(missing_ok=True)
    _write_new(staging, content)
    os.replace(staging, path)


def _public_record(key: SigningKey, retired_at: dt.datetime | None) -> bytes:
    record = {
        "jwk": public_jwk(key),
        "retired_at": None if retired_at is None else retired_at.isoformat(),
    }
    return json.dumps(record, indent=2, sort_keys=True).encode()


def _make_key(folder: Path, algorithm: str) -> SigningKey:
    key = _generate(algorithm)
    kid = key.thumbprint()
    _write_new(folder / f"{kid}{PRIVATE_SUFFIX}", key.as_pem(private=True))
    _write_new(folder / f"{kid}{PUBLIC_SUFFIX}", _public_record(key, None))
    return key


_cache: dict[str, SigningKey] = {}
_lock = threading.Lock()


def _read_current_id(folder: Path) -> str | None:
    try:
        kid = (folder / CURRENT).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if not KID_PATTERN.match(kid):
        raise PassportKeyError(f"{folder / CURRENT} does not name a key id.")
    return kid


def _load_private(folder: Path, kid: str) -> SigningKey:
    with _lock:
        cached = _cache.get(f"{folder}/{kid}")
    if cached is not None:
        return cached
    path = folder / f"{kid}{PRIVATE_SUFFIX}"
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise PassportKeyError(
            f"The visa signing key {path} cannot be read ({error.strerror}); run "
            "`governance passport rotate-key` to make a new one."
        ) from None
    key: SigningKey
    try:
        key = ECKey.import_key(pem)
    except InvalidKeyTypeError:
        key = RSAKey.import_key(pem)
    if key.thumbprint() != kid:
        raise PassportKeyError(f"{path} holds the key {key.thumbprint()}, not {kid}.")
    with _lock:
        _cache[f"{folder}/{kid}"] = key
    return key


def current_key(settings: Mapping[str, Any]) -> SigningKey:
    """The key that signs now; the first one is made here (ES256 unless configured)."""
    folder = private_dir(key_dir(settings))
    for _attempt in range(3):
        kid = _read_current_id(folder)
        if kid is None:
            key = _make_key(folder, settings["PASSPORT_KEY_ALGORITHM"])
            try:
                _write_new(folder / CURRENT, key.thumbprint().encode())
            except FileExistsError:  # another process made the first key at the same moment
                _discard_files(folder, key.thumbprint())
                continue
            log.info("made the first visa signing key %s", key.thumbprint())
            return key
        try:
            return _load_private(folder, kid)
        except PassportKeyError:
            # A rotation may have replaced the current key between the two reads.
            if _read_current_id(folder) == kid:
                raise
    raise PassportKeyError(f"The current visa signing key in {folder} keeps changing.")


def _discard_files(folder: Path, kid: str) -> None:
    (folder / f"{kid}{PRIVATE_SUFFIX}").unlink(missing_ok=True)
    (folder / f"{kid}{PUBLIC_SUFFIX}").unlink(missing_ok=True)


def public_keys(settings: Mapping[str, Any]) -> list[PublicKey]:
    """Every public key on disk, current and retired, newest retirement last."""
    folder = key_dir(settings)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{PUBLIC_SUFFIX}")):
        kid = path.name.removesuffix(PUBLIC_SUFFIX)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise PassportKeyError(f"{path} cannot be read: {error}") from None
        jwk = record.get("jwk") or {}
        if jwk.get("kid") != kid:
            raise PassportKeyError(f"{path} holds the key {jwk.get('kid')!r}, not {kid}.")
        retired = record.get("retired_at")
        found.append(PublicKey(kid, jwk, dt.datetime.fromisoformat(retired) if retired else None))
    return found


def _last_expiry(session: Session, kid: str) -> dt.datetime | None:
    return session.scalar(select(func.max(IssuedVisa.expires_at)).where(IssuedVisa.key_id == kid))


def still_needed(
    session: Session, key: PublicKey, *, current_kid: str | None, now: dt.datetime, lifetime: int
) -> bool:
    """Whether a relying party may still need this public key to check a visa."""
    if key.kid == current_kid or key.retired_at is None:
        return True
    if now < key.retired_at + dt.timedelta(minutes=lifetime):
        return True
    last = _last_expiry(session, key.kid)
    return last is not None and last > now


def published_keys(
    session: Session, settings: Mapping[str, Any], now: dt.datetime
) -> list[dict[str, Any]]:
    """The JWKS's keys: the current one and every retired one a live visa may still need."""
    current_kid = _read_current_id(key_dir(settings)) if key_dir(settings).is_dir() else None
    lifetime = int(settings["PASSPORT_VISA_MINUTES"])
    return [
        key.jwk
        for key in public_keys(settings)
        if still_needed(session, key, current_kid=current_kid, now=now, lifetime=lifetime)
    ]


@dataclass(frozen=True)
class Rotation:
    old_kid: str | None
    new_kid: str
    algorithm: str


def rotate(settings: Mapping[str, Any], now: dt.datetime) -> Rotation:
    """Make a new current key; the old one keeps only its public half, marked retired.

    Each step leaves a folder that works: the new key's files are written first, then
    `current` is replaced atomically, then the old key is marked retired and its private file
    deleted (a process that still holds it in memory signs at most a few more visas with it,
    which the retired key's grace period covers)."""
    folder = private_dir(key_dir(settings))
    old_kid = _read_current_id(folder)
    key = _make_key(folder, settings["PASSPORT_KEY_ALGORITHM"])
    _replace(folder / CURRENT, key.thumbprint().encode())
    # The old key, and any other a rotation stopped half-way left unretired.
    for public in public_keys(settings):
        if public.kid != key.thumbprint() and public.retired_at is None:
            _retire(folder, public.kid, now)
    return Rotation(old_kid, key.thumbprint(), algorithm_of(key))


def _retire(folder: Path, kid: str, now: dt.datetime) -> None:
    public = folder / f"{kid}{PUBLIC_SUFFIX}"
    record = json.loads(public.read_text(encoding="utf-8"))
    record["retired_at"] = now.isoformat()
    _replace(public, json.dumps(record, indent=2, sort_keys=True).encode())
    (folder / f"{kid}{PRIVATE_SUFFIX}").unlink(missing_ok=True)
    with _lock:
        _cache.pop(f"{folder}/{kid}", None)


def droppable_keys(session: Session, settings: Mapping[str, Any], now: dt.datetime) -> list[str]:
    """Retired keys no visa in circulation needs any more."""
    folder = key_dir(settings)
    if not folder.is_dir():
        return []
    current_kid = _read_current_id(folder)
    lifetime = int(settings["PASSPORT_VISA_MINUTES"])
    return [
        key.kid
        for key in public_keys(settings)
        if not still_needed(session, key, current_kid=current_kid, now=now, lifetime=lifetime)
    ]


def delete_public_key(settings: Mapping[str, Any], kid: str) -> None:
    _discard_files(key_dir(settings), kid)
