"""The datastore: the only code that writes, decrypts or deletes stored dataset files.

Files live in DATA_DIR (default instance/data) under unguessable names. Dataset versions are
Parquet with modular encryption (`pme`: AES-256-GCM, a key per column, encrypted footer), cohort
files and attachments are encrypted whole with AES-256-GCM (`crypto`); each file has a random
key of its own, kept in the file's database row wrapped by the data key ring (`envelope`; the
ring's current key is DATA_KEY_FILE, default instance/data.key, created by `governance init`,
never in the database or in git). A test scans
the source tree and fails if any other module imports pyarrow.parquet or AESGCM, reads Parquet
with pandas, or names the DATA_DIR or DATA_KEY_FILE settings.

Public functions: `store_version` and `VersionWriter` (ingestion, whole or streamed),
`read_columns`, `read_arrow` and `read_series` (the access decision door), `verify_version`,
`destroy_version` and `key_fingerprint` (destruction) and `sweep_orphans` (a periodic job); for
partner cohort files (`cohorts`): `store_cohort`, `read_cohort` (the door again),
`destroy_cohort` and `cohort_key_fingerprint`; for agreement attachments (`documents`):
`store_document`, `read_document`, `destroy_document` and `attachment_key_fingerprint`; for key
management (`rewrap`): `rewrap_keys`, `files_needing`, `legacy_rows`, `reencrypt_legacy`; for
the move to modular encryption (`migrate`): `versions_to_migrate`, `migrate_version`,
`cohorts_to_migrate`, `migrate_cohort`; for keys per holder and file (`agreement_keys`,
`key_files`): `wrap_dataset_for`, `agreement_wraps`, `version_wraps`, `release_agreement`,
`release_cover`, `covering_agreements_from`, `sweep_keys`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from governance.datasets.datastore import agreement_keys, cohorts, key_files
from governance.datasets.datastore.agreement_keys import (
    ReleasedWrap,
    agreement_wraps,
    covering_agreements_from,
    version_wraps,
    wrap_dataset_for,
)
from governance.datasets.datastore.cohorts import (
    COHORT_COLUMNS,
    cohort_key_fingerprint,
    destroy_cohort,
    read_cohort,
    store_cohort,
)
from governance.datasets.datastore.column_cache import Columns
from governance.datasets.datastore.crypto import DataIntegrityError, DatastoreError
from governance.datasets.datastore.documents import (
    attachment_key_fingerprint,
    destroy_document,
    read_document,
    store_document,
)
from governance.datasets.datastore.files import (
    ORPHAN_GRACE_SECONDS,
    StoreConfig,
    config_of,
    sweep_orphans,
)
from governance.datasets.datastore.migrate import (
    Migrated,
    cohorts_to_migrate,
    migrate_cohort,
    migrate_version,
    versions_to_migrate,
)
from governance.datasets.datastore.parquet import (
    ARROW_TYPES,
    UnreadableParquet,
    UploadedParquet,
    arrow_schema,
)
from governance.datasets.datastore.rewrap import (
    files_needing,
    legacy_rows,
    reencrypt_legacy,
    rewrap_keys,
)
from governance.datasets.datastore.store import (
    DataUnavailable,
    VersionWriter,
    destroy_version,
    key_fingerprint,
    read_arrow,
    read_columns,
    read_series,
    release_agreement,
    release_cover,
    store_version,
    verify_version,
)
from governance.identity.actors import System

__all__ = [
    "ARROW_TYPES",
    "COHORT_COLUMNS",
    "Columns",
    "DataIntegrityError",
    "DataUnavailable",
    "DatastoreError",
    "Migrated",
    "ReleasedWrap",
    "StoreConfig",
    "UnreadableParquet",
    "UploadedParquet",
    "VersionWriter",
    "agreement_wraps",
    "arrow_schema",
    "attachment_key_fingerprint",
    "cohort_key_fingerprint",
    "cohorts_to_migrate",
    "config_of",
    "covering_agreements_from",
    "destroy_cohort",
    "destroy_document",
    "destroy_version",
    "files_needing",
    "key_fingerprint",
    "legacy_rows",
    "migrate_cohort",
    "migrate_version",
    "read_arrow",
    "read_cohort",
    "read_columns",
    "read_document",
    "read_series",
    "reencrypt_legacy",
    "release_agreement",
    "release_cover",
    "rewrap_keys",
    "store_cohort",
    "store_document",
    "store_version",
    "sweep_keys",
    "sweep_orphans",
    "verify_version",
    "version_wraps",
    "versions_to_migrate",
    "wrap_dataset_for",
]


def sweep_keys(session: Session, *, grace_seconds: int = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Remove key files that no wrap names (left by a crash after the commit that stopped
    using them: key_files.py); returns their names."""
    referenced = agreement_keys.referenced_keys(session) | cohorts.referenced_keys(session)
    return key_files.sweep(session, referenced, grace_seconds=grace_seconds)


def sweep_job(session: Session, actor: System, now: dt.datetime) -> int:
    """Remove data files that no committed, live version references (see files.py), and key
    files that no wrap names."""
    return len(sweep_orphans(session)) + len(sweep_keys(session))
