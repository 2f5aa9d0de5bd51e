"""The demo's analysis world: synthetic administrative data, grants, and one finished analysis.

`create_analysis_data` (before the agreements) generates the synthetic register
deterministically (seed 2026; `governance demo --people N`, default 50,000 people), declares the
index-events and proven-offences datasets under the Metro Police Department with classified
columns, and ingests them through the ingestion service as their steward would.
`run_demo_analysis` (after the agreements) has the analyst ask for the columns a matched
comparison needs under the active agreement, the steward and a privacy officer approve them,
uploads the partner's cohort file and runs one matched comparison to the end, synchronously.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from governance.access import requests as access_requests
from governance.analysis import cohorts
from governance.analysis import runs as analyses
from governance.analysis.engine import SyntheticDataset, columns_needed, generate_dataset
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Dataset
from governance.demo.analysis_data import INDEX_EVENTS, OFFENCES, declare_analysis_datasets
from governance.demo.people import DEMO_ACTOR, POLICE, DemoWorld
from governance.kernel.types import utcnow

DEFAULT_PEOPLE = 50_000
SEED = 2026
MATCHED_PARAMETERS: dict[str, Any] = {
    "matching": {"method": "nearest", "neighbours": 3, "replace": True, "caliper": 0.2},
    "eligibility": {"data_complete_until": "2022-12-31"},
    "categorical": ["sex", "index_disposal", "offence_category", "ethnicity"],
}


def create_analysis_data(
    session: Session, world: DemoWorld, *, app: Flask, people: int | None = None, **_options: Any
) -> None:
    size = people or DEFAULT_PEOPLE
    data = generate_dataset(size, seed=SEED, programme_size=max(100, min(1000, size // 50)))
    steward = world.people["steward"]
    made = declare_analysis_datasets(
        session, provider_id=world.organizations[POLICE].id, steward_id=steward.id
    )
    for name, dataset in made.items():
        audit.record(
            session,
            AuditType.DATASET_CREATE,
            by=DEMO_ACTOR,
            dataset_id=dataset.id,
            target_type="dataset",
            target_id=dataset.id,
            detail={"name": name, "columns": dataset.column_names, "source": "demo"},
        )
        frame = data.index_events if name == INDEX_EVENTS else data.offences
        ingest_frame(
            session,
            dataset_id=dataset.id,
            frame=frame[dataset.column_names],
            source_filename=f"synthetic-{name.lower().replace(' ', '-')}.csv",
            by=steward,
        )
        world.extra.setdefault("datasets", {})[name] = dataset
    world.extra["synthetic"] = data


def run_demo_analysis(session: Session, world: DemoWorld, *, app: Flask, **_options: Any) -> None:
    from governance.analysis.runner import execute_run
    from governance.kernel.extensions import database

    agreement = world.extra["agreements"]["active"]
    analyst, now = world.people["analyst"], utcnow()
    datasets = world.extra["datasets"]
    needed = columns_needed("matched_comparison", MATCHED_PARAMETERS)
    for table, name in (("index_events", INDEX_EVENTS), ("offences", OFFENCES)):
        grant_columns(
            session,
            world,
            dataset=datasets[name],
            columns=needed[table],
            purpose="matched_comparison",
            now=now,
        )
    data: SyntheticDataset = world.extra["synthetic"]
    text = io.StringIO()
    data.cohort.to_csv(text, index=False)
    cohort = cohorts.upload_cohort(
        session,
        agreement_id=agreement.id,
        data=text.getvalue().encode(),
        filename="diversion.csv",
        label="Diversion programme participants",
        by=analyst,
        now=now,
    )
    run = analyses.submit_run(
        session,
        agreement_id=agreement.id,
        kind="matched_comparison",
        parameters=MATCHED_PARAMETERS,
        datasets={"index_events": datasets[INDEX_EVENTS].id, "offences": datasets[OFFENCES].id},
        cohort_id=cohort.id,
        title="Diversion programme: one-year proven re-offending",
        by=analyst,
        now=now,
    )
    # The worker reads through its own sessions: what it needs must be committed first.
    session.commit()
    execute_run(database(app), run.id, worker_id="demo")
    world.extra["demo_run_id"] = run.id


def grant_columns(
    session: Session,
    world: DemoWorld,
    *,
    dataset: Dataset,
    columns: list[str],
    purpose: str,
    now: dt.datetime,
) -> None:
    """The analyst asks for exactly these columns; the steward (and, for direct identifiers,
    a privacy officer) approves them under the active agreement."""
    agreement = world.extra["agreements"]["active"]
    request = access_requests.submit_request(
        session,
        agreement_id=agreement.id,
        dataset_id=dataset.id,
        columns=columns,
        purpose=purpose,
        justification=f"The {purpose.replace('_', ' ')} needs these columns and no others.",
        end_date=now.date() + dt.timedelta(days=20),
        download=False,
        by=world.people["analyst"],
        now=now,
    )
    access_requests.steward_approve(
        session,
        request_id=request.id,
        columns=columns,
        comment="Minimum necessary for the method.",
        by=world.people["steward"],
        now=now,
    )
    if request.grant_id is None:
        access_requests.privacy_approve(
            session,
            request_id=request.id,
            by=world.people["privacy2"],
            now=now,
            comment="Identifiers are needed to link the cohort; they are never output.",
        )
