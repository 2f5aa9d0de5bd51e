"""Everything in instance/ is its owner's alone: the folder 0700, every file 0600.

The SQLite database (and its -wal and -shm files), the job queue, the keys, the session secret
and the encrypted data files were created readable by everyone on the host (0644), whatever
the process's umask allowed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from governance import create_app
from governance.cli import main
from governance.datasets import datastore
from governance.datasets.service import create_dataset
from governance.identity.organization_model import OrganizationKind
from governance.identity.users import create_organization
from governance.kernel import jobs
from governance.kernel.extensions import database
from tests.datasets.support import COLUMNS
from tests.datasets.test_datastore import FRAME
from tests.support import SETUP


@pytest.fixture
def everyone_may_read() -> Iterator[None]:
    """The commonest umask: without care, new files would be 0644 and folders 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    found = {root.name: stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root.parent))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_a_new_instance_is_private_to_its_owner(
    everyone_may_read: None,
    tmp_path: Path,
    database_url: str,
    commands: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance = tmp_path / "instance"
    monkeypatch.setenv("GOVERNANCE_INSTANCE_PATH", str(instance))
    own_database = database_url.startswith("postgresql")
    if own_database:
        monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("GOVERNANCE_DATABASE_URL", raising=False)
    result = commands.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    app = create_app()
    try:
        with database(app).session() as session:
            org = create_organization(
                session, name="Test Police", kind=OrganizationKind.PROVIDER, by=SETUP
            )
            session.flush()
            dataset = create_dataset(
                session,
                name="Arrests",
                description="",
                provider_id=org.id,
                columns=COLUMNS,
                steward_ids=[],
                by=SETUP,
            )
            datastore.store_version(
                session, dataset=dataset, frame_or_table=FRAME, source_filename="frame", by=SETUP
            )
            session.commit()
        jobs.queue_for(app.config["QUEUE_URL"])
        found = modes(instance)
    finally:
        database(app).dispose()
    expected = {
        "instance/audit.key",
        "instance/data.key",
        "instance/secret_key",
        "instance/queue.db",
        "instance/data",
    }
    if not own_database:
        expected |= {
            "instance/governance.kernel.db",
            "instance/governance.kernel.db-wal",
            "instance/governance.kernel.db-shm",
        }
    assert expected <= set(found)
    assert any(name.endswith(".gde") for name in found)
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (instance.parent / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_init_makes_an_existing_instance_folder_private(
    everyone_may_read: None, tmp_path: Path, commands: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "shared"
    instance.mkdir(mode=0o755)
    monkeypatch.setenv("GOVERNANCE_INSTANCE_PATH", str(instance))
    monkeypatch.delenv("GOVERNANCE_DATABASE_URL", raising=False)
    result = commands.invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert "readable by its owner only" in result.output
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
