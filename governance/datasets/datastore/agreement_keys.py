"""Keys per agreement and dataset version: what makes destroying data verifiable, in every
copy of the files and every backup of the database.

Each stored version has a random file key (envelope.py). That key is kept in the database only
wrapped (AES-256-GCM, `VersionKeyWrap`), bound to its holder, the dataset, the version number
and the file id, under a key-encryption key of that holder and version kept outside the
database (key_files.py). The holders:
* each agreement whose version in force covers the version's dataset, from the moment the
  agreement comes into force (or the version is stored, if later);
* while no agreement covers it, the dataset itself (its own key for the version, read by the
  steward's checks and the service's maintenance through the one door like any read).
Once a version has a wrap, the data key ring no longer wraps its key, and a version covered by
an agreement no longer has a wrap under its dataset's own key: the only ways to its key are
its holders' key files.

Taking a version from a holder deletes that holder's wrap and the key file it was sealed
under, so a wrap row restored from a database backup finds no key:
* an agreement closing deletes all its key files (`release_agreement`, before the commit);
* an amendment dropping a dataset deletes the agreement's wraps and keys for that dataset's
  versions (`release_cover`, after the commit); a version then covered by no agreement goes
  back to its dataset's own key;
* a version coming under an agreement leaves its dataset's own key (after the commit);
* destroying a version deletes every wrap and key file it had (`forget_wraps`, before).
Certificates and the audit trail name each destroyed key by its fingerprint.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from governance.datasets.datastore import envelope, files, key_files
from governance.datasets.datastore.crypto import NONCE_SIZE, Binding, DataIntegrityError
from governance.datasets.models import DatasetVersion, VersionKeyWrap

WRAP_LABEL = b"governance agreement version key v1\0"
WRAP_FINGERPRINT_LABEL = b"governance destroyed agreement wrap v1\0"
# Stands for "the dataset's own key" in a wrap's associated data (no agreement has this id).
DATASET_HOLDER = 2**64 - 1
_CONTEXT = struct.Struct(">QQQ")

# Which active agreements cover a dataset: filled by the registry (the agreements layer sits
# above the datasets layer). With none installed, no version is covered by an agreement.
CoveringAgreements = Callable[[Session, int], set[int]]
COVERING: list[CoveringAgreements] = []


def covering_agreements_from(finder: CoveringAgreements) -> CoveringAgreements:
    """Install the function that names the active agreements covering a dataset (once)."""
    if finder not in COVERING:
        COVERING.append(finder)
    return finder


def holder_of(wrap: VersionKeyWrap, version: DatasetVersion) -> str:
    return key_files.holder_of(wrap.agreement_id, version.dataset_id)


def _subject(version: DatasetVersion) -> str:
    return f"version-{version.id}"


def wrap_fingerprint(wrap: VersionKeyWrap) -> str:
    return hashlib.sha256(
        WRAP_FINGERPRINT_LABEL + wrap.agreement_key_id.encode() + b"\0" + bytes(wrap.wrapped_key)
    ).hexdigest()


def _context(agreement_id: int | None, version: DatasetVersion) -> bytes:
    assert version.file_id is not None
    holder = DATASET_HOLDER if agreement_id is None else agreement_id
    return (
        WRAP_LABEL
        + _CONTEXT.pack(holder, version.dataset_id, version.number)
        + bytes.fromhex(version.file_id)
    )


def wraps_of(session: Session, version: DatasetVersion) -> list[VersionKeyWrap]:
    return list(
        session.scalars(
            select(VersionKeyWrap)
            .where(VersionKeyWrap.version_id == version.id)
            .order_by(VersionKeyWrap.agreement_id.is_(None), VersionKeyWrap.agreement_id)
        )
    )


def _unwrap(session: Session, wrap: VersionKeyWrap, version: DatasetVersion) -> bytes | None:
    """The file key through this wrap; None when its key file was destroyed."""
    found = key_files.find(
        session, holder_of(wrap, version), _subject(version), wrap.agreement_key_id
    )
    if found is None:
        return None
    blob = bytes(wrap.wrapped_key)
    try:
        return AESGCM(found[1]).decrypt(
            blob[:NONCE_SIZE], blob[NONCE_SIZE:], _context(wrap.agreement_id, version)
        )
    except InvalidTag:
        raise DataIntegrityError(
            f"The version's key does not unwrap with the key of {holder_of(wrap, version)}: "
            "the wrap was altered or belongs to another version."
        ) from None


def file_key(session: Session, version: DatasetVersion) -> tuple[bytes, bytes]:
    """The version's file key and file id: through a holder's wrap, or (for a version no
    holder has wrapped yet) the data key ring."""
    if version.file_id is None:
        raise DataIntegrityError("The stored file's key is not recorded: it was destroyed.")
    file_id = bytes.fromhex(version.file_id)
    for wrap in wraps_of(session, version) if version.id is not None else []:
        key = _unwrap(session, wrap, version)
        if key is not None:
            return key, file_id
    if version.wrapped_key is None:
        raise DataIntegrityError(
            f"Version {version.number} of dataset {version.dataset_id} has no key left: the "
            "keys of the agreements that covered it were destroyed."
        )
    unwrapped = envelope.unwrap(
        files.config_of(session).ring, version, Binding(version.dataset_id, version.number)
    )
    return unwrapped.key, unwrapped.file_id


def _add_wrap(
    session: Session, version: DatasetVersion, agreement_id: int | None, key: bytes
) -> VersionKeyWrap:
    """Seal the file key under a new key file of the holder's; the ring's wrap goes."""
    holder = key_files.holder_of(agreement_id, version.dataset_id)
    kid, kek = key_files.create(session, holder, _subject(version))
    nonce = secrets.token_bytes(NONCE_SIZE)
    wrap = VersionKeyWrap(
        version_id=version.id,
        agreement_id=agreement_id,
        agreement_key_id=kid,
        wrapped_key=nonce + AESGCM(kek).encrypt(nonce, key, _context(agreement_id, version)),
    )
    session.add(wrap)
    version.wrapped_key = None
    version.wrapping_key_id = None
    return wrap


def _remove(
    session: Session, version: DatasetVersion, wraps: Iterable[VersionKeyWrap], *, now: bool
) -> None:
    """Delete these wraps and the key files they were sealed under: at once for a
    destruction, after the commit otherwise (key_files.py says why)."""
    paths = []
    for wrap in wraps:
        paths.append(
            key_files.key_path(
                session, holder_of(wrap, version), _subject(version), wrap.agreement_key_id
            )
        )
        session.delete(wrap)
    session.flush()
    if now:
        key_files.unlink_now(paths)
    else:
        key_files.unlink_after_commit(session, paths)


def wrap_for(session: Session, version: DatasetVersion, agreement_id: int) -> bool:
    """Wrap the version's key for the agreement (once); the ring's wrap and the dataset's own
    go, so only agreements' keys lead to it. True if a wrap was added."""
    if version.destroyed_at is not None or version.file_id is None:
        # A version stored before per-file keys is encrypted under the data key itself until
        # `governance datastore rewrap` gives it a key of its own.
        return False
    wraps = wraps_of(session, version)
    if any(w.agreement_id == agreement_id for w in wraps):
        return False
    key, _ = file_key(session, version)
    _add_wrap(session, version, agreement_id, key)
    _remove(session, version, [w for w in wraps if w.agreement_id is None], now=False)
    return True


def hold_for_dataset(session: Session, version: DatasetVersion, key: bytes | None = None) -> bool:
    """A version no agreement covers: its key goes under its dataset's own key file (and
    leaves the ring), so that destroying it is verifiable too. True if a wrap was added."""
    if version.destroyed_at is not None or version.file_id is None:
        return False
    if wraps_of(session, version):
        return False
    _add_wrap(session, version, None, key or file_key(session, version)[0])
    session.flush()
    return True


def wrap_dataset_for(session: Session, dataset_ids: list[int], agreement_id: int) -> int:
    """Wrap every live version of these datasets for the agreement; how many were added."""
    versions = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id.in_(dataset_ids), DatasetVersion.destroyed_at.is_(None))
        .order_by(DatasetVersion.id)
    )
    return sum(wrap_for(session, v, agreement_id) for v in versions)


def wrap_new_version(session: Session, version: DatasetVersion) -> None:
    """A version just stored: wrap it for every active agreement covering its dataset, or,
    when none does, under its dataset's own key."""
    covering: set[int] = set()
    for finder in COVERING:
        covering |= finder(session, version.dataset_id)
    for agreement_id in sorted(covering):
        wrap_for(session, version, agreement_id)
    if not covering:
        hold_for_dataset(session, version)
    session.flush()


def rewrap_new_key(session: Session, version: DatasetVersion, key: bytes) -> None:
    """After a version was re-stored under a new file key (the move to modular encryption):
    its holders' wraps are replaced by wraps of the new key under new key files (the old ones
    go after the commit); a version nobody held goes under its dataset's own key."""
    wraps = wraps_of(session, version)
    holders = [wrap.agreement_id for wrap in wraps]
    _remove(session, version, wraps, now=False)
    for agreement_id in holders:
        _add_wrap(session, version, agreement_id, key)
    session.flush()
    hold_for_dataset(session, version, key)


def forget_wraps(session: Session, version: DatasetVersion) -> None:
    """A destroyed version's wraps and key files go with it (the caller has named them on a
    certificate)."""
    _remove(session, version, wraps_of(session, version), now=True)


@dataclass(frozen=True)
class ReleasedWrap:
    """A wrap destroyed with its key file, as a certificate or the audit trail names it."""

    holder: str
    agreement_key_id: str
    agreement_key_fingerprint: str
    dataset_id: int
    version_id: int
    version_number: int
    wrap_fingerprint: str

    def detail(self) -> dict[str, object]:
        return {
            "holder": self.holder,
            "dataset_id": self.dataset_id,
            "version": self.version_number,
            "key_id": self.agreement_key_id,
            "key_fingerprint": self.agreement_key_fingerprint,
            "wrap_fingerprint": self.wrap_fingerprint,
        }


def _released(session: Session, wrap: VersionKeyWrap, version: DatasetVersion) -> ReleasedWrap:
    holder = holder_of(wrap, version)
    found = key_files.find(session, holder, _subject(version), wrap.agreement_key_id)
    return ReleasedWrap(
        holder=holder,
        agreement_key_id=wrap.agreement_key_id,
        # A key already gone (a retried close) is named by its id alone.
        agreement_key_fingerprint=key_files.fingerprint(found[1]) if found else "",
        dataset_id=version.dataset_id,
        version_id=version.id,
        version_number=version.number,
        wrap_fingerprint=wrap_fingerprint(wrap),
    )


def _wraps_where(
    session: Session, *conditions: ColumnElement[bool]
) -> list[tuple[VersionKeyWrap, DatasetVersion]]:
    return [
        (wrap, version)
        for wrap, version in session.execute(
            select(VersionKeyWrap, DatasetVersion)
            .join(DatasetVersion, DatasetVersion.id == VersionKeyWrap.version_id)
            .where(*conditions)
            .order_by(DatasetVersion.dataset_id, DatasetVersion.number, VersionKeyWrap.id)
        )
    ]


def agreement_wraps(session: Session, agreement_id: int) -> list[ReleasedWrap]:
    """The agreement's wraps as the certificate will name them (read before the release)."""
    rows = _wraps_where(session, VersionKeyWrap.agreement_id == agreement_id)
    return [_released(session, wrap, version) for wrap, version in rows]


def version_wraps(session: Session, version_ids: list[int]) -> list[ReleasedWrap]:
    """Every wrap of these versions (about to be destroyed), whoever holds it."""
    if not version_ids:
        return []
    rows = _wraps_where(session, VersionKeyWrap.version_id.in_(version_ids))
    return [_released(session, wrap, version) for wrap, version in rows]


def release_cover(
    session: Session, agreement_id: int, dataset_ids: list[int]
) -> list[ReleasedWrap]:
    """An amendment in force no longer covers these datasets: delete the agreement's wraps of
    their versions and the key files they were sealed under (after the commit), so no wrap
    restored from a backup opens them through this agreement again; a version left with no
    holder goes under its dataset's own key. Returns what was released."""
    rows = _wraps_where(
        session,
        VersionKeyWrap.agreement_id == agreement_id,
        DatasetVersion.dataset_id.in_(dataset_ids),
    )
    released = []
    legacy = key_files.read_key(key_files.legacy_path(session, agreement_id))
    for wrap, version in rows:
        released.append(_released(session, wrap, version))
        try:
            key: bytes | None = file_key(session, version)[0]
        except DataIntegrityError:
            key = None  # already unreadable: the wrap goes all the same
        _remove(session, version, [wrap], now=False)
        if key is not None and version.destroyed_at is None and not wraps_of(session, version):
            hold_for_dataset(session, version, key)
    if legacy is not None and rows:
        _leave_legacy_key(session, agreement_id, legacy)
    return released


def _leave_legacy_key(session: Session, agreement_id: int, legacy: bytes) -> None:
    """An agreement keyed with one key for all its versions, released from some: its other
    wraps get keys of their own and the shared key goes after the commit (otherwise the
    released wraps, restored from a backup, would open with it)."""
    kid = key_files.key_id(legacy)
    for wrap, version in _wraps_where(
        session, VersionKeyWrap.agreement_id == agreement_id, VersionKeyWrap.agreement_key_id == kid
    ):
        key = _unwrap(session, wrap, version)
        if key is None:
            continue
        session.delete(wrap)
        session.flush()
        _add_wrap(session, version, agreement_id, key)
    session.flush()
    key_files.unlink_after_commit(session, [key_files.legacy_path(session, agreement_id)])


def release_agreement(session: Session, agreement_id: int) -> tuple[list[str], list[str]]:
    """Destroy the agreement's key files (its versions' and its cohort files') and its wraps;
    the fingerprints of the keys destroyed and the storage names of the versions it held a
    wrap of. Like a destroyed version's file, the key files go before the commit (a failed
    commit errs towards destruction)."""
    held = _wraps_where(session, VersionKeyWrap.agreement_id == agreement_id)
    for wrap, _ in held:
        session.delete(wrap)
    session.flush()
    holder = key_files.holder_of(agreement_id, 0)
    paths = sorted((key_files.folder(session) / holder).glob("*.key"))
    legacy = key_files.legacy_path(session, agreement_id)
    keys = [key for key in map(key_files.read_key, [*paths, legacy]) if key is not None]
    key_files.unlink_holder(session, holder)
    key_files.unlink_now([legacy])
    return sorted(map(key_files.fingerprint, keys)), [v.storage_name for _, v in held]


def referenced_keys(session: Session) -> set[tuple[str, str, str]]:
    """(holder, file, key id) of every wrap of a dataset version, for the key sweep."""
    return {
        (key_files.holder_of(agreement_id, dataset_id), f"version-{version_id}", kid)
        for agreement_id, dataset_id, version_id, kid in session.execute(
            select(
                VersionKeyWrap.agreement_id,
                DatasetVersion.dataset_id,
                VersionKeyWrap.version_id,
                VersionKeyWrap.agreement_key_id,
            ).join(DatasetVersion, DatasetVersion.id == VersionKeyWrap.version_id)
        )
    }
