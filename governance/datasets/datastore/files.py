"""Where stored files live, how they appear atomically, and how leftovers are cleaned up.

A new file is written to a hidden temporary name in DATA_DIR, fsynced, then renamed to an
unguessable final name (a rename within one directory is atomic), and the directory is
fsynced so the rename survives a power cut. Until the transaction that adds its version row
commits, the file is "pending" on that session: a rollback (or a session closed without
commit) deletes it. A process killed between rename and commit leaves an orphan, which
`sweep_orphans` removes once it is older than `ORPHAN_GRACE` (younger files may belong to an
upload still in progress in another process). The sweep covers the cohort files' folder too.

A file replaced by a new one (`governance datastore rewrap`) is "obsolete" on its session: it
is deleted once the transaction that points the row at the new file commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from governance.datasets.attachment_model import Attachment
from governance.datasets.cohort_model import CohortFile
from governance.datasets.models import DatasetVersion
from governance.kernel.keys import KeyRing, rings_of

log = logging.getLogger(__name__)

SUFFIX = ".gde"
PARTIAL = ".partial"
NAME_PATTERN = re.compile(r"^[0-9a-f]{32}\.gde$")
ORPHAN_GRACE_SECONDS = 6 * 60 * 60
PENDING_KEY = "datastore.pending"
OBSOLETE_KEY = "datastore.obsolete"
COHORT_SUBDIRECTORY = "cohorts"
ATTACHMENT_SUBDIRECTORY = "attachments"


@dataclass(frozen=True)
class StoreConfig:
    data_dir: Path
    # The data key ring, loaded at start-up (governance/kernel/keys.py); its repr shows ids only.
    ring: KeyRing

    def ensure_dir(self) -> Path:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.data_dir

    def path_of(self, storage_name: str) -> Path:
        return _path_in(self.data_dir, storage_name)

    @property
    def cohort_dir(self) -> Path:
        return self.data_dir / COHORT_SUBDIRECTORY

    def cohort_path_of(self, storage_name: str) -> Path:
        return self.path_of(storage_name).parent / COHORT_SUBDIRECTORY / storage_name

    @property
    def attachment_dir(self) -> Path:
        return self.data_dir / ATTACHMENT_SUBDIRECTORY

    def attachment_path_of(self, storage_name: str) -> Path:
        return self.path_of(storage_name).parent / ATTACHMENT_SUBDIRECTORY / storage_name


def config_of(session: Session) -> StoreConfig:
    return StoreConfig(Path(_settings(session)["DATA_DIR"]), rings_of(session).data)


def _settings(session: Session) -> dict[str, Any]:
    settings = session.info.get("settings")
    if not isinstance(settings, dict):
        raise RuntimeError(
            "This session was not opened by governance.kernel.db.Database: the data "
            "directory and key settings are missing."
        )
    return settings


def stored_path(session: Session, storage_name: str) -> str:
    """`config_of(session).path_of(storage_name)` as text, without the key ring: what the
    column cache stats at every read (a path worked out once per directory and name)."""
    return _stored_path(str(_settings(session)["DATA_DIR"]), storage_name)


@functools.lru_cache(maxsize=1024)
def _stored_path(data_dir: str, storage_name: str) -> str:
    return os.fspath(_path_in(Path(data_dir), storage_name))


def _path_in(data_dir: Path, storage_name: str) -> Path:
    # Names come from the database; refuse anything that could step outside DATA_DIR.
    if not NAME_PATTERN.match(storage_name):
        raise ValueError(f"{storage_name!r} is not a datastore file name")
    return data_dir / storage_name


def new_storage_name() -> str:
    return secrets.token_hex(16) + SUFFIX


def partial_path(final: Path) -> Path:
    """The hidden name a file is written under before it is renamed to `final`."""
    return final.parent / f".{final.name}{PARTIAL}"


def create_exclusive(path: Path) -> Any:
    """Open a new file for writing, owner-only; fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ErasableFile(Protocol):
    """A stored file's row: its wrapped file key and when its file was destroyed."""

    wrapped_key: bytes | None
    destroyed_at: dt.datetime | None


def shred(row: ErasableFile, path: Path, *, now: dt.datetime) -> bool:
    """Crypto-shred one stored file: forget its wrapped key (every copy of the file, backups
    included, becomes ciphertext under a key that no longer exists), unlink the file, make the
    unlink durable and record when; True if there was a file to delete. The caller takes the
    key's fingerprint before and records the destruction in the same transaction."""
    existed = path.exists()
    path.unlink(missing_ok=True)
    if path.parent.is_dir():
        fsync_dir(path.parent)
    row.wrapped_key = None
    row.destroyed_at = now
    return existed


def remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.exception("could not remove %s; the orphan sweep will retry", path)


def track_pending(session: Session, path: Path) -> None:
    session.info.setdefault(PENDING_KEY, []).append(path)


def forget_pending(session: Session, path: Path) -> None:
    pending: list[Path] = session.info.get(PENDING_KEY, [])
    if path in pending:
        pending.remove(path)


def remove_after_commit(session: Session, path: Path) -> None:
    session.info.setdefault(OBSOLETE_KEY, []).append(path)


@event.listens_for(Session, "after_commit")
def _keep_committed(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
    for path in session.info.pop(OBSOLETE_KEY, []):
        log.info("removing %s: it was replaced", path.name)
        remove_quietly(path)


@event.listens_for(Session, "after_transaction_end")
def _remove_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    session.info.pop(OBSOLETE_KEY, None)
    for path in session.info.pop(PENDING_KEY, []):
        log.info("removing %s: its transaction did not commit", path.name)
        remove_quietly(path)


def sweep_orphans(session: Session, *, grace_seconds: int = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Delete files in DATA_DIR (and its cohort and attachment folders) that no live row
    references; returns
    their names.

    Age is judged by the real clock (not a simulated `--now`), because it protects uploads
    that are being written right now. Files of destroyed rows are removed at once.
    """
    config = config_of(session)
    removed = []
    stores: tuple[tuple[Path, type[DatasetVersion] | type[CohortFile] | type[Attachment]], ...] = (
        (config.data_dir, DatasetVersion),
        (config.cohort_dir, CohortFile),
        (config.attachment_dir, Attachment),
    )
    for directory, model in stores:
        if not directory.is_dir():
            continue
        live: dict[str, bool] = {
            name: destroyed is None
            for name, destroyed in session.execute(select(model.storage_name, model.destroyed_at))
        }
        removed += _sweep(directory, live, time.time() - grace_seconds)
    return removed


def _sweep(directory: Path, live: dict[str, bool], cutoff: float) -> list[str]:
    removed = []
    for entry in os.scandir(directory):
        if not entry.is_file(follow_symlinks=False) or live.get(entry.name):
            continue
        known_destroyed = entry.name in live
        if known_destroyed or entry.stat(follow_symlinks=False).st_mtime < cutoff:
            log.warning("removing orphan data file %s", entry.name)
            remove_quietly(Path(entry.path))
            removed.append(entry.name)
    if removed:
        fsync_dir(directory)
    return removed
