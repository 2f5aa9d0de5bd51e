"""A run on DuckDB or Spark goes through the same gate, door and audit trail as one on pandas.

The engine is chosen before anything is read, and every read event, the completion event and a
refusal name it, with the columns read. A grant that no longer covers a column stops a Spark
run exactly as it stops a pandas run (and no JVM is started for it).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import grants
from governance.access.models import Grant
from governance.analysis.models import RunStatus
from governance.audit.directory import Names
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.sentences import sentence
from governance.kernel.types import utcnow
from tests.analysis.conftest import (
    MATCHED_PARAMS,
    World,
    execute,
    grant_matched,
    grant_records,
    submit,
    upload,
)
from tests.support import People

DESCRIPTIVE = {"group_by": ["sex"], "rate_of": "reoffended"}


@pytest.fixture
def app_config(database_url: str, tmp_path: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    engine = getattr(request, "param", "duckdb")
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "ANALYSIS_HEARTBEAT_TIMEOUT": 30,
        "ANALYSIS_ENGINE": engine,
        "ANALYSIS_DUCKDB_MEMORY_LIMIT": "1GB",
    }


def events(db: Session, event_type: AuditType) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


def test_a_duckdb_run_names_its_engine_and_columns_in_every_event(
    app: Flask, db: Session, people: People, world: World
) -> None:
    cohort_id = upload(db, people, world)
    grant_matched(db, people, world)
    run = submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id)
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.provenance["engine"] == "duckdb"
    reads = events(db, AuditType.DATASET_READ) + events(db, AuditType.COHORT_READ)
    assert {e.detail["table"] for e in reads} == {"index_events", "offences", "cohort"}
    assert {e.detail["engine"] for e in reads} == {"duckdb"}
    (done,) = events(db, AuditType.ANALYSIS_COMPLETE)
    assert done.detail["engine"] == "duckdb"
    assert set(done.detail["columns"]) == {"index_events", "offences", "cohort"}
    assert "age_at_index" in done.detail["columns"]["index_events"]
    names = Names()
    assert "(analysis engine: DuckDB)" in sentence(done, names)
    read = next(e for e in reads if e.detail["table"] == "offences")
    said = sentence(read, names)
    assert "offence_date" in said
    assert "(analysis engine: DuckDB)" in said


def test_a_duckdb_run_is_handed_the_doors_arrow_table_of_the_granted_columns_only(
    app: Flask, db: Session, people: People, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The door decrypts the granted columns straight into Arrow for DuckDB: no pandas frame of
    the register is made (a register's dates would be a Python object each), and no other
    column's key is unwrapped; the read is decided and recorded as every read is."""
    from governance.analysis.engine import columns_needed
    from governance.datasets import datastore
    from governance.datasets.datastore import pme

    def no_frames(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a DuckDB run read the register as pandas frames")

    read: list[list[str]] = []
    original = datastore.read_arrow

    def arrow(version: Any, columns: list[str], **options: Any) -> Any:
        read.append(list(columns))
        return original(version, columns, **options)

    unwrapped: list[str] = []
    unwrap = pme.VersionKms.unwrap_key

    def spy(self: pme.VersionKms, wrapped_key: str, master_key_identifier: str) -> bytes:
        unwrapped.append(master_key_identifier)
        return unwrap(self, wrapped_key, master_key_identifier)

    cohort_id = upload(db, people, world)
    grant_matched(db, people, world)
    run = submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id)
    monkeypatch.setattr(datastore, "read_columns", no_frames)
    monkeypatch.setattr(datastore, "read_arrow", arrow)
    monkeypatch.setattr(pme.VersionKms, "unwrap_key", spy)
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    needed = columns_needed("matched_comparison", MATCHED_PARAMS)
    assert sorted(map(sorted, read)) == sorted(
        [sorted(needed["index_events"]), sorted(needed["offences"])]
    )
    ungranted = set(world.events.column_names) - set(needed["index_events"])
    assert ungranted, "the test needs a column the grant leaves out"
    assert not {pme.column_key_id(c) for c in ungranted} & set(unwrapped)
    reads = events(db, AuditType.DATASET_READ)
    assert {e.detail["table"]: sorted(e.detail["columns"]) for e in reads} == {
        "index_events": sorted(needed["index_events"]),
        "offences": sorted(needed["offences"]),
    }
    assert {e.detail["engine"] for e in reads} == {"duckdb"}
    assert {e.detail["row_count"] for e in reads} == {
        len(world.data.index_events),
        len(world.data.offences),
    }


@pytest.mark.parametrize("app_config", ["pandas", "duckdb", "spark"], indirect=True)
@pytest.mark.xdist_group("spark")  # one JVM (2 GiB) at a time under xdist
def test_a_grant_revoked_after_submission_refuses_a_spark_run_as_a_pandas_run(
    app: Flask, db: Session, people: People, world: World, app_config: dict[str, Any]
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", DESCRIPTIVE)
    for held in db.scalars(select(Grant).where(Grant.dataset_id == world.events.id)).all():
        grants.revoke_grant(
            db, grant_id=held.id, reason="No longer needed.", by=people.steward, now=utcnow()
        )
    db.commit()
    run = execute(app, db, run.id)
    assert run.status == RunStatus.REFUSED
    assert run.clause == "access.grant"
    assert run.result is None
    (refusal,) = events(db, AuditType.ANALYSIS_REFUSE)
    assert refusal.outcome == Outcome.DENIED
    assert refusal.detail["stage"] == "execute"
    assert refusal.detail["engine"] == app_config["ANALYSIS_ENGINE"]
    assert events(db, AuditType.DATASET_READ) == []
