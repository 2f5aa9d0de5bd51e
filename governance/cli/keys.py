"""`governance keys list | rotate | discard` and `governance datastore rewrap |
migrate-encryption`; key creation for
`governance init`.

Keys are created only here, by `init`, and never over an existing file: a key that the
database already depends on (signed checkpoints, stored files) is never replaced by a new one,
because that would turn a lost key into silent, permanent damage. See governance/kernel/keys.py for
the key files, and docs/datasets.md for rotation and destruction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from sqlalchemy import Engine, inspect, text

from governance.cli.context import CLI_ACTOR, build_app, command_session, echo_table
from governance.kernel.keys import DESCRIPTIONS, KeyPurpose

PURPOSES = click.Choice([p.value for p in KeyPurpose])
# What each key protects in the database: a missing key is not created while any of it exists.
DEPENDENTS = {
    KeyPurpose.AUDIT: (
        "signed audit checkpoints",
        ["SELECT count(*) FROM audit_checkpoint"],
        ["audit_checkpoint"],
    ),
    KeyPurpose.DATA: (
        "stored dataset versions and cohort files",
        [
            "SELECT count(*) FROM dataset_version WHERE destroyed_at IS NULL",
            "SELECT count(*) FROM cohort_file WHERE destroyed_at IS NULL",
        ],
        ["dataset_version", "cohort_file"],
    ),
}


def _dependents(engine: Engine, purpose: KeyPurpose) -> int:
    _, queries, tables = DEPENDENTS[purpose]
    present = set(inspect(engine).get_table_names())
    if not set(tables) <= present:
        return 0
    with engine.connect() as connection:
        return sum(connection.execute(text(query)).scalar() or 0 for query in queries)


def create_missing_keys(settings: Mapping[str, Any]) -> list[str]:
    """Create each absent key file; refuses when the database already depends on the key.
    Returns one line per key created."""
    from governance.kernel import keys
    from governance.kernel.db import make_engine

    created = []
    engine = make_engine(settings["DATABASE_URL"])
    try:
        for purpose in KeyPurpose:
            path = keys.key_file(settings, purpose)
            if path.exists():
                continue
            needing = _dependents(engine, purpose)
            if needing:
                raise click.ClickException(
                    f"The {DESCRIPTIONS[purpose]} file {path} is missing, but the database "
                    f"holds {needing} {DEPENDENTS[purpose][0]} that need it. Restore it from "
                    "your key backup; `governance init` does not replace a key that data "
                    "depends on."
                )
            new_id = keys.create_key(purpose, path)
            if new_id is not None:
                created.append(
                    f"Created the {DESCRIPTIONS[purpose]} {new_id} in {path}: back "
                    "it up, separately from the database."
                )
    finally:
        engine.dispose()
    return created


@click.group("keys", help="List, rotate and discard the audit and data keys.")
def keys_group() -> None:
    """The `keys` command group."""


@keys_group.command(
    "list",
    help="Show each key ring's current and retired key ids (never "
    "the keys) and how many stored files each data key wraps.",
)
def list_command() -> None:
    from governance.datasets import datastore
    from governance.kernel import keys

    app = build_app()
    with command_session(app) as session:
        rings = keys.rings_of(session)
        rows: list[tuple[object, ...]] = [("PURPOSE", "KEY ID", "STATE", "FILES", "FILE")]
        for purpose in KeyPurpose:
            ring = rings.of(purpose)
            for key_id in [ring.current_id, *ring.retired_ids]:
                files = (
                    datastore.files_needing(session, key_id) if purpose == KeyPurpose.DATA else "-"
                )
                state = "current" if key_id == ring.current_id else "retired"
                where = (
                    ring.path
                    if key_id == ring.current_id
                    else keys.retired_dir(ring.path) / f"{key_id}{keys.KEY_SUFFIX}"
                )
                rows.append((purpose.value, key_id, state, files, where))
        legacy = len(datastore.legacy_rows(session))
    echo_table(rows)
    if legacy:
        click.echo(
            f"{legacy} stored file(s) predate per-file keys: run `governance datastore rewrap`."
        )


@keys_group.command(
    "rotate",
    help="Make a new current key for PURPOSE and keep the old one "
    "as retired; for the data key, every file key is re-wrapped "
    "under the new key. Restart the server and workers after.",
)
@click.option("--purpose", type=PURPOSES, required=True)
def rotate_command(purpose: str) -> None:
    from governance.datasets.key_management import rotate_key

    app = build_app()
    with command_session(app) as session:
        rotation = rotate_key(session, purpose=KeyPurpose(purpose), by=CLI_ACTOR)
        session.commit()
    rotation.promote()
    click.echo(
        f"The {DESCRIPTIONS[KeyPurpose(purpose)]} is now {rotation.new_id}; "
        f"{rotation.old_id} is retired"
        + (f"; {rotation.rewrapped} file key(s) re-wrapped" if purpose == "data" else "")
        + ". Back up the new key, and restart the server and workers."
    )


@keys_group.command(
    "discard",
    help="Delete a retired data key for good, once no stored file "
    "needs it: database backups from before its rotation can "
    "then no longer decrypt destroyed files.",
)
@click.option("--purpose", type=PURPOSES, required=True)
@click.option("--key-id", required=True)
def discard_command(purpose: str, key_id: str) -> None:
    from governance.datasets.key_management import discard_key
    from governance.kernel import keys

    app = build_app()
    with command_session(app) as session:
        ring = discard_key(session, purpose=KeyPurpose(purpose), key_id=key_id, by=CLI_ACTOR)
        session.commit()
    path = keys.discard(ring, key_id)
    click.echo(
        f"Discarded the retired {DESCRIPTIONS[KeyPurpose(purpose)]} {key_id} ({path}). "
        "Remove it from your key backups too."
    )


@click.group("datastore", help="Maintain the encrypted data store.")
def datastore_group() -> None:
    """The `datastore` command group."""


@datastore_group.command(
    "rewrap",
    help="Re-encrypt stored files from before per-file keys "
    "under keys of their own, so that destroying them "
    "erases them; exits 1 if any could not be.",
)
def rewrap_command() -> None:
    from governance.datasets import datastore
    from governance.datasets.cohort_model import CohortFile
    from governance.datasets.key_management import rewrap_legacy
    from governance.datasets.models import DatasetVersion

    app = build_app()
    with command_session(app) as session:
        pending = [
            (isinstance(row, DatasetVersion), row.id) for row in datastore.legacy_rows(session)
        ]
    failed = 0
    for is_version, row_id in pending:
        kind = "dataset version" if is_version else "cohort file"
        # One file per transaction: a long run can stop at any point and be started again.
        with command_session(app) as session:
            row: DatasetVersion | CohortFile | None = (
                session.get(DatasetVersion, row_id)
                if is_version
                else session.get(CohortFile, row_id)
            )
            if row is None:
                continue
            try:
                rewrap_legacy(session, row=row, by=CLI_ACTOR)
            except datastore.DatastoreError as error:
                session.rollback()
                failed += 1
                click.echo(f"FAIL {kind} {row_id}: {error}", err=True)
                continue
            session.commit()
            click.echo(f"ok   {kind} {row_id} ({row.sha256})")
    if failed:
        raise click.ClickException(
            f"{failed} of {len(pending)} file(s) could not be "
            "re-encrypted; they stay readable as before."
        )
    click.echo(f"{len(pending)} file(s) re-encrypted; every stored file has its own key.")


@datastore_group.command(
    "migrate-encryption",
    help="Move dataset versions and cohort files stored in the earlier whole-file format to "
    "Parquet modular encryption (cohort files under their agreement's keys), one file per "
    "transaction (safe to stop and run again); exits 1 if any could not be moved.",
)
def migrate_encryption_command() -> None:
    from governance.datasets import datastore
    from governance.datasets.cohort_model import CohortFile
    from governance.datasets.key_management import migrate_encryption
    from governance.datasets.models import DatasetVersion

    app = build_app()
    with command_session(app) as session:
        pending: list[tuple[bool, int]] = [
            *((True, i) for i in datastore.versions_to_migrate(session)),
            *((False, i) for i in datastore.cohorts_to_migrate(session)),
        ]
    failed = 0
    for is_version, row_id in pending:
        kind = "dataset version" if is_version else "cohort file"
        with command_session(app) as session:
            row: DatasetVersion | CohortFile | None = (
                session.get(DatasetVersion, row_id)
                if is_version
                else session.get(CohortFile, row_id)
            )
            if row is None or row.storage_format != "gde1":
                continue
            try:
                migrate_encryption(session, row=row, by=CLI_ACTOR)
            except datastore.DatastoreError as error:
                session.rollback()
                failed += 1
                click.echo(f"FAIL {kind} {row_id}: {error}", err=True)
                continue
            session.commit()
            click.echo(f"ok   {kind} {row_id} ({row.sha256}; content {row.content_sha256})")
    if failed:
        raise click.ClickException(
            f"{failed} of {len(pending)} file(s) could not be moved; they stay in the earlier "
            "format (dataset versions unreadable by analyses until moved)."
        )
    click.echo(f"{len(pending)} file(s) moved to Parquet modular encryption.")


COMMANDS = [keys_group, datastore_group]
