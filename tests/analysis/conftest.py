"""Analysis-run tests: the probation service's administrative data (synthetic, deterministic),
an active agreement permitting every kind, and the analyst's grants for each purpose."""

from __future__ import annotations

import datetime as dt
import functools
import io
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.access import requests
from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.agreements.terms import Signatory, TermsInput
from governance.analysis import cohorts
from governance.analysis import runs as analyses
from governance.analysis.engine import SyntheticDataset, generate_dataset
from governance.analysis.engine.engines import DuckDBEngine, EngineSettings
from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.runner import execute_run
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Dataset
from governance.demo.analysis_data import INDEX_EVENTS, OFFENCES, declare_analysis_datasets
from governance.identity.models import User
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.agreements.builders import countersign
from tests.support import SETUP, People

KINDS = ["descriptive", "rate_comparison", "matched_comparison"]
RECORD_COLUMNS = [
    "person_id",
    "index_date",
    "sex",
    "region",
    "offence_category",
    "employed",
    "prior_offences",
    "age_at_index",
    "index_disposal",
]


@functools.cache
def synthetic() -> SyntheticDataset:
    return generate_dataset(4000, seed=11, programme_size=300)


@dataclass
class World:
    agreement: Agreement
    events: Dataset
    offences: Dataset
    data: SyntheticDataset


@pytest.fixture
def app_config(database_url: str, tmp_path: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "ANALYSIS_HEARTBEAT_TIMEOUT": 30,
    }


def make_agreement(
    db: Session,
    people: People,
    dataset_ids: Sequence[int],
    *,
    provider_id: int | None = None,
    uses: Sequence[str] = KINDS,
    **overrides: Any,
) -> Agreement:
    today = utcnow().date()
    columns = {i: db.get(Dataset, i).column_names for i in dataset_ids}  # type: ignore[union-attr]
    values: dict[str, Any] = {
        "title": "Reoffending after the mentoring programme",
        "purpose": "Compare proven re-offending of programme participants with a matched group.",
        "effective_date": today - dt.timedelta(days=1),
        "expiry_date": today + dt.timedelta(days=200),
        "permitted_uses": list(uses),
        "columns": columns,
        "signatories": [
            Signatory("provider", "Maria Lopez", "Chief Probation Officer"),
            Signatory("recipient", "Dr Lee Park", "Director"),
        ],
        "laws": ["cjis"],
        "third_party_recipients": [],
        "personnel": {people.analyst.id: "principal_investigator", people.analyst2.id: "analyst"},
        "derived_forms": "both",  # like tests/agreements/builders.py: the forms' tests grant both
    }
    values.update(overrides)
    now = utcnow()
    agreement = agreements.create_agreement(
        db,
        provider_id=provider_id or people.probation.id,
        recipient_id=people.lab.id,
        terms=TermsInput(**values),
        by=people.privacy,
        now=now,
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=now)
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=now)
    countersign(db, people, agreement, now=now)
    db.commit()
    return agreement


def grant(
    db: Session,
    people: People,
    agreement: Agreement,
    dataset: Dataset,
    columns: Sequence[str],
    purpose: str,
    user: User | None = None,
) -> None:
    """Ask, have the steward approve and (for identifiers) the privacy officer too."""
    now = utcnow()
    request = requests.submit_request(
        db,
        agreement_id=agreement.id,
        dataset_id=dataset.id,
        columns=list(columns),
        purpose=purpose,
        justification="Needed for the analysis.",
        end_date=now.date() + dt.timedelta(days=60),
        download=False,
        by=user or people.analyst,
        now=now,
    )
    db.commit()
    requests.steward_approve(
        db, request_id=request.id, columns=list(columns), comment="", by=people.steward, now=now
    )
    db.commit()
    if request.grant_id is None:
        requests.privacy_approve(
            db,
            request_id=request.id,
            comment="Linkage needs the identifiers; they never leave the environment.",
            by=people.privacy,
            now=now,
        )
        db.commit()


@pytest.fixture
def world(db: Session, people: People) -> World:
    return build_world(db, people)


def build_world(db: Session, people: People) -> World:
    """The probation service's datasets, stored, under an agreement permitting every kind."""
    made = declare_analysis_datasets(
        db, provider_id=people.probation.id, steward_id=people.steward.id
    )
    db.commit()
    data = synthetic()
    events, offences = made[INDEX_EVENTS], made[OFFENCES]
    ingest_frame(
        db,
        dataset_id=events.id,
        frame=data.index_events[events.column_names],
        source_filename="events.csv",
        by=SETUP,
    )
    ingest_frame(
        db,
        dataset_id=offences.id,
        frame=data.offences[offences.column_names],
        source_filename="offences.csv",
        by=SETUP,
    )
    db.commit()
    agreement = make_agreement(db, people, [events.id, offences.id])
    return World(agreement=agreement, events=events, offences=offences, data=data)


def cohort_csv(data: SyntheticDataset) -> bytes:
    buffer = io.StringIO()
    data.cohort.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def upload(
    db: Session,
    people: People,
    world: World,
    user: User | None = None,
    agreement: Agreement | None = None,
) -> int:
    cohort = cohorts.upload_cohort(
        db,
        agreement_id=(agreement or world.agreement).id,
        data=cohort_csv(world.data),
        filename="partner.csv",
        label="Mentoring programme 2016-2019",
        by=user or people.analyst,
        now=utcnow(),
    )
    db.commit()
    return cohort.id


MATCHED_PARAMS: dict[str, Any] = {
    "matching": {"method": "nearest", "neighbours": 3, "replace": True},
    "eligibility": {"data_complete_until": "2022-12-31"},
    "categorical": ["sex", "index_disposal", "offence_category", "ethnicity"],
}


def grant_matched(db: Session, people: People, world: World, user: User | None = None) -> None:
    from governance.analysis.engine import columns_needed

    needed = columns_needed("matched_comparison", MATCHED_PARAMS)
    grant(
        db,
        people,
        world.agreement,
        world.events,
        needed["index_events"],
        "matched_comparison",
        user,
    )
    grant(
        db, people, world.agreement, world.offences, needed["offences"], "matched_comparison", user
    )


def grant_records(
    db: Session,
    people: People,
    world: World,
    purpose: str,
    columns: Sequence[str] = RECORD_COLUMNS,
    with_offences: bool = True,
) -> None:
    grant(db, people, world.agreement, world.events, columns, purpose)
    if with_offences:
        grant(
            db,
            people,
            world.agreement,
            world.offences,
            ["person_id", "offence_date", "proven_date"],
            purpose,
        )


def submit(
    db: Session,
    people: People,
    world: World,
    kind: str,
    parameters: dict[str, Any],
    *,
    cohort_id: int | None = None,
    user: User | None = None,
) -> AnalysisRun:
    datasets = (
        {"index_events": world.events.id, "offences": world.offences.id}
        if kind == "matched_comparison"
        else {"records": world.events.id, "offences": world.offences.id}
    )
    run = analyses.submit_run(
        db,
        agreement_id=world.agreement.id,
        kind=kind,
        parameters=parameters,
        datasets=datasets,
        cohort_id=cohort_id,
        by=user or people.analyst,
        now=utcnow(),
    )
    db.commit()
    return run


def execute(app: Flask, db: Session, run_id: int) -> AnalysisRun:
    status = execute_run(database(app), run_id, worker_id="test-worker")
    assert status is not None
    db.rollback()
    db.expire_all()
    run = db.get(AnalysisRun, run_id)
    assert run is not None
    assert RunStatus(run.status).finished
    return run


@pytest.fixture
def survey(db: Session, people: People) -> Dataset:
    """A small survey register with value labels and three missing scores (see
    tests/analysis/test_ledger_across_releases.py)."""
    from tests.analysis.test_ledger_across_releases import declare

    return declare(db, people)


@pytest.fixture
def duckdb_engine() -> Iterator[DuckDBEngine]:
    """A DuckDB engine for one test (the engine-agreement tests')."""
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="1GB"))
    yield engine
    engine.close()


def java_missing() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return True
    return shutil.which("java") is None


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One JVM for every Spark test of the session (it takes seconds to start); under xdist
    every test that asks for it is in the group `spark` (below), so one worker starts it."""
    if java_missing():
        pytest.skip("Spark tests need Java (a JRE 17 or later) and pyspark; neither is here")
    from governance.analysis.engine.engines import spark_session as start

    session = start(EngineSettings(spark_master="local[2]"))
    yield session
    session.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that asks for `spark_session` runs in the xdist group `spark`, on the worker
    that already runs the other Spark tests: a test outside the group started a second JVM
    (2 GiB, 10-19 s to start on this machine class) on the other worker, for one assertion."""
    for item in items:
        if "spark_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("spark"))
