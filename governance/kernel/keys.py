"""Key rings: the service's long-lived secrets, per purpose, by id, with rotation and subkeys.

Two purposes: `audit` signs the audit trail's checkpoints; `data` wraps the random key of each
stored file (governance/datasets/datastore/envelope.py). Each purpose has one current key and any
number of retired ones, all loaded at start-up:

* the current key is the file its setting names (AUDIT_KEY_FILE, DATA_KEY_FILE; default
  instance/audit.key and instance/data.key): 32 random bytes, owner-only, exactly the file
  of installations from before key rings;
* retired keys sit beside it in the folder `<key file>.retired/`, one file per key named
  `<key id>.key`.

A key's id is the first 16 hex digits of its SHA-256: derived from the key itself, so the
single key files of older installations have ids without any change, a checkpoint or a
wrapped file key can name the key it needs, and a file whose name does not match its content
is refused. Ids are not secret; keys never appear in a repr, a log line or an error message.

A missing or unreadable key stops start-up (`KeyFileError`): a new key would make every older
checkpoint fail verification for ever and every stored file unreadable, and a real forgery
could no longer be told from a lost key. Keys are created only by `governance init`
(`create_key`, which never overwrites) and changed only by `governance keys rotate`.

Other secrets are derived from a ring's key with HKDF-SHA-256 under a label (`derive`), full
32-byte outputs, so no two uses ever share a key. A use whose derived secret must outlive a
rotation records the ring's `current_id` beside what it derives and passes it back as `key_id`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from governance.kernel.config import KEY_FILE_SETTINGS, ConfigError, private_dir

log = logging.getLogger(__name__)

KEY_SIZE = 32
ID_LENGTH = 16
RETIRED_SUFFIX = ".retired"
KEY_SUFFIX = ".key"
RESTORE = (
    "restore it from your key backup (keys are backed up separately from the "
    "database); on a new installation, run `governance init`, which creates missing keys"
)


class KeyPurpose(StrEnum):
    AUDIT = "audit"
    DATA = "data"


DESCRIPTIONS = {KeyPurpose.AUDIT: "audit checkpoint key", KeyPurpose.DATA: "data key"}


class KeyFileError(ConfigError):
    """A key file is missing, unreadable or malformed: start-up stops."""


class KeyNotAvailable(LookupError):
    """Something names a key id that is neither the current nor a retired key of the ring."""


def key_id(key: bytes) -> str:
    """The public id of a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:ID_LENGTH]


def retired_dir(path: Path) -> Path:
    return path.with_name(path.name + RETIRED_SUFFIX)


class _Keys(Mapping[str, bytes]):
    """Key id -> key, read-only, whose repr names the ids only."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self._keys = dict(keys)

    def __getitem__(self, item: str) -> bytes:
        return self._keys[item]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<keys {', '.join(self._keys)}>"

    __str__ = __repr__


class KeyRing:
    """The current and retired keys of one purpose."""

    def __init__(
        self, purpose: KeyPurpose, path: Path, current: bytes, retired: Mapping[str, bytes]
    ) -> None:
        self.purpose = purpose
        self.path = path
        self.current_id = key_id(current)
        self._current = current
        self._keys = {self.current_id: current, **retired}
        self._derived: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.purpose]

    @property
    def keys(self) -> Mapping[str, bytes]:
        """Every key by id (current and retired), e.g. to check old signatures."""
        with self._lock:
            return _Keys(self._keys)

    @property
    def retired_ids(self) -> list[str]:
        with self._lock:
            return sorted(i for i in self._keys if i != self.current_id)

    def current(self) -> bytes:
        return self._current

    def key(self, wanted: str) -> bytes:
        """The key with this id; looks on disk once more for a key that another process's
        rotation added after this ring was loaded."""
        with self._lock:
            if wanted not in self._keys:
                self._keys.update(_read_retired(self.purpose, self.path))
                self._keys.update(_current_if_present(self.purpose, self.path))
            if wanted not in self._keys:
                raise KeyNotAvailable(
                    f"The {self.description} with id {wanted} is neither the current key "
                    f"({self.current_id}) nor one of the retired keys in "
                    f"{retired_dir(self.path)}; restore it from your key backup."
                )
            return self._keys[wanted]

    def derive(self, label: str, *, key_id: str | None = None) -> bytes:
        """A 32-byte secret for one use, HKDF-SHA-256 from the ring's key (the current one,
        or the one named) under `label`: different labels give independent secrets."""
        if not label:
            raise ValueError("a derived key needs a label naming its use")
        source = key_id or self.current_id
        cache = (source, label)
        with self._lock:
            derived = self._derived.get(cache)
        if derived is None:
            info = f"governance/{self.purpose}/{label}".encode()
            derived = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(
                self.key(source)
            )
            with self._lock:
                self._derived[cache] = derived
        return derived

    def __repr__(self) -> str:
        return (
            f"<KeyRing {self.purpose}: current {self.current_id}, retired "
            f"[{', '.join(self.retired_ids)}]>"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a key ring is not pickled: load it in the process that needs it")


@dataclass(frozen=True, repr=False)
class KeyRings:
    """Every purpose's ring; set on each database session's `info["keys"]` by the app."""

    audit: KeyRing
    data: KeyRing

    def of(self, purpose: KeyPurpose) -> KeyRing:
        return self.audit if purpose == KeyPurpose.AUDIT else self.data

    def __repr__(self) -> str:
        return f"<KeyRings {self.audit!r} {self.data!r}>"


def key_file(settings: Mapping[str, Any], purpose: KeyPurpose) -> Path:
    return Path(settings[KEY_FILE_SETTINGS[purpose]])


def load_rings(settings: Mapping[str, Any]) -> KeyRings:
    return KeyRings(
        audit=load_ring(KeyPurpose.AUDIT, key_file(settings, KeyPurpose.AUDIT)),
        data=load_ring(KeyPurpose.DATA, key_file(settings, KeyPurpose.DATA)),
    )


def rings_of(session: Session) -> KeyRings:
    rings = session.info.get("keys")
    if not isinstance(rings, KeyRings):
        raise RuntimeError(
            "This session was not opened by governance.kernel.db.Database: the key "
            "rings are missing."
        )
    return rings


def load_ring(purpose: KeyPurpose, path: Path) -> KeyRing:
    """The ring of `purpose` whose current key is the file `path`; KeyFileError if it is
    missing or unreadable, or a retired key is malformed."""
    description = DESCRIPTIONS[purpose]
    if not path.exists():
        setting = KEY_FILE_SETTINGS[purpose]
        raise KeyFileError(
            f"The {description} file {path} ({setting}) is missing, so the service does not "
            f"start: a new key would make {_what_breaks(purpose)}. To fix it, {RESTORE}."
        )
    current = _read_key(purpose, path)
    return KeyRing(purpose, path, current, _read_retired(purpose, path))


def _what_breaks(purpose: KeyPurpose) -> str:
    if purpose == KeyPurpose.AUDIT:
        return "every older signed checkpoint fail verification"
    return "every stored dataset version and cohort file unreadable"


def _read_key(purpose: KeyPurpose, path: Path) -> bytes:
    description = DESCRIPTIONS[purpose]
    try:
        key = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise KeyFileError(
            f"The {description} file {path} cannot be read ({reason}). Give "
            f"the service's user read access to it (owner-only, mode 0600), or "
            f"{RESTORE}."
        ) from None
    if len(key) != KEY_SIZE:
        raise KeyFileError(
            f"The {description} file {path} holds {len(key)} bytes; a key file "
            f"holds exactly {KEY_SIZE} random bytes. It is damaged or not a key "
            f"file: {RESTORE}."
        )
    return key


def _read_retired(purpose: KeyPurpose, path: Path) -> dict[str, bytes]:
    folder = retired_dir(path)
    if not folder.exists():
        return {}
    retired = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise KeyFileError(
            f"The retired {DESCRIPTIONS[purpose]}s in {folder} cannot be listed "
            f"({error.strerror or type(error).__name__})."
        ) from None
    for entry in entries:
        if entry.suffix != KEY_SUFFIX or entry.name.startswith("."):
            continue
        key = _read_key(purpose, entry)
        if key_id(key) != entry.stem:
            raise KeyFileError(
                f"The retired key file {entry} holds the key with id "
                f"{key_id(key)}, not {entry.stem}: a retired key's file is named "
                f"after its id. Restore the right file from your key backup."
            )
        retired[entry.stem] = key
    return retired


def _current_if_present(purpose: KeyPurpose, path: Path) -> dict[str, bytes]:
    try:
        key = _read_key(purpose, path)
    except KeyFileError:
        return {}
    return {key_id(key): key}


def _write_new(path: Path, key: bytes) -> None:
    """Write `key` to a new owner-only file, durably; fails if the file exists."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_key(purpose: KeyPurpose, path: Path) -> str | None:
    """Create the current key of `purpose` if its file is absent; returns its id, or None
    when a key file is already there (it is never overwritten)."""
    if path.exists():
        return None
    key = secrets.token_bytes(KEY_SIZE)
    try:
        _write_new(path, key)
    except FileExistsError:
        return None
    log.info("created the %s %s in %s", DESCRIPTIONS[purpose], key_id(key), path)
    return key_id(key)


def stage_new_key(ring: KeyRing) -> str:
    """Add a new random key to the ring as a retired key: every process can use it from now
    on (to read what was written with it), none writes with it until it is promoted."""
    key = secrets.token_bytes(KEY_SIZE)
    new_id = key_id(key)
    _write_new(retired_dir(ring.path) / f"{new_id}{KEY_SUFFIX}", key)
    ring.key(new_id)  # loads it into this process's ring
    log.info("staged a new %s %s", ring.description, new_id)
    return new_id


def promote(ring: KeyRing, new_id: str) -> None:
    """Make the staged key `new_id` current and keep the old current key as retired.

    Each step leaves a ring that loads, with every key in it: the old key is copied into the
    retired folder before the current file is replaced (an atomic rename), and the staged
    copy of the new key is removed last (a key found twice is the same key)."""
    folder = retired_dir(ring.path)
    new_key = ring.key(new_id)
    old_copy = folder / f"{ring.current_id}{KEY_SUFFIX}"
    if not old_copy.exists():
        _write_new(old_copy, ring.current())
    staging = ring.path.with_name(f".{ring.path.name}.{new_id}.new")
    staging.unlink(missing_ok=True)
    _write_new(staging, new_key)
    os.replace(staging, ring.path)
    _fsync_dir(ring.path.parent)
    (folder / f"{new_id}{KEY_SUFFIX}").unlink(missing_ok=True)
    _fsync_dir(folder)
    log.info("the %s is now %s; %s is retired", ring.description, new_id, ring.current_id)


def discard(ring: KeyRing, retired_id: str) -> Path:
    """Delete a retired key's file for good; the current key cannot be discarded."""
    if retired_id == ring.current_id:
        raise ValueError(f"{retired_id} is the current {ring.description}; rotate first.")
    path = retired_dir(ring.path) / f"{retired_id}{KEY_SUFFIX}"
    if not path.exists():
        raise ValueError(
            f"There is no retired {ring.description} {retired_id} in {retired_dir(ring.path)}."
        )
    path.unlink()
    _fsync_dir(path.parent)
    with ring._lock:
        ring._keys.pop(retired_id, None)
        ring._derived = {k: v for k, v in ring._derived.items() if k[0] != retired_id}
    log.info("discarded the retired %s %s", ring.description, retired_id)
    return path
