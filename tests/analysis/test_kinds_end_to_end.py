"""Each kind submitted, executed in-process and checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from flask import Flask
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.engine import DisclosurePolicy, RunContext, run_analysis
from governance.analysis.engine.reoffending import derive_outcomes
from governance.analysis.models import ReleasedPopulation, RunStatus
from governance.audit.models import AuditEvent, AuditType
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


def cell(result: dict, table: str, **labels: str) -> dict:
    found = next(t for t in result["tables"] if t["name"] == table)
    return next(
        c for c in found["cells"] if all(c["labels"].get(k) == v for k, v in labels.items())
    )


def first_records(world: World) -> pd.DataFrame:
    events = world.data.index_events.sort_values("index_date", kind="stable")
    return events.drop_duplicates("person_id")


def test_descriptive_counts_and_rates_match_pandas(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(
        db, people, world, "descriptive", {"group_by": ["sex", "region"], "rate_of": "reoffended"}
    )
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    records = first_records(world)
    records = pd.concat(
        [
            records.reset_index(drop=True),
            derive_outcomes(records.reset_index(drop=True), world.data.offences),
        ],
        axis=1,
    )
    expected = records.groupby(["sex", "region"]).agg(
        count=("person_id", "size"), events=("reoffended", "sum")
    )
    for (sex, region), row in expected.iterrows():
        counts = cell(run.result, "counts", sex=sex, region=region)
        rates = cell(run.result, "rates", sex=sex, region=region)
        if not counts["disclosure"]["suppressed"]:
            assert counts["values"]["count"] == row["count"]
        if not rates["disclosure"]["suppressed"]:
            assert rates["values"]["events"] == row["events"]
            assert abs(rates["values"]["rate"] - row["events"] / row["count"]) < 1e-12
    assert cell(run.result, "counts", sex="Total", region="Total")["values"]["count"] == len(
        records
    )
    assert run.report_pdf is not None
    assert run.report_pdf.startswith(b"%PDF")
    assert run.report_csv is not None
    assert b"counts" in run.report_csv
    assert run.provenance["sources"]["records"]["sha256"]
    reads = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_READ)
    ).all()
    assert {tuple(e.detail["columns"]) for e in reads} == {
        ("person_id", "sex", "region", "index_date"),
        ("person_id", "offence_date", "proven_date"),
    }
    complete = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.ANALYSIS_COMPLETE)
    ).one()
    assert complete.detail["outputs"]["pdf_sha256"] == run.report_sha256
    assert complete.detail["sources"]["records"]["version"] == 1


def test_rate_comparison_test_matches_scipy(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(
        db, people, world, "rate_comparison", columns=["person_id", "employed", "index_date"]
    )
    run = submit(
        db,
        people,
        world,
        "rate_comparison",
        {"group_column": "employed", "group_a": "1", "group_b": "0", "outcome": "reoffended"},
    )
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    records = first_records(world).reset_index(drop=True)
    records = pd.concat([records, derive_outcomes(records, world.data.offences)], axis=1)
    groups = records.groupby("employed")["reoffended"].agg(["sum", "size"])
    e1, n1 = groups.loc[1]
    e0, n0 = groups.loc[0]
    p1, p0 = e1 / n1, e0 / n0
    pooled = (e1 + e0) / (n1 + n0)
    z = (p1 - p0) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    test = run.result["statistics"]["test"]
    assert abs(test["difference"] - (p1 - p0)) < 1e-12
    assert abs(test["p_value"] - 2 * stats.norm.sf(abs(z))) < 1e-9
    assert "rates" in run.result["figures"]


def test_matched_comparison_equals_the_engine_on_the_raw_data(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    run = submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id)
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    data = world.data
    tables = {
        "cohort": data.cohort[
            ["name", "date_of_birth", "sex", "intervention_start", "intervention_end"]
        ].astype("string"),
        "index_events": data.index_events,
        "offences": data.offences,
    }
    params = {
        **MATCHED_PARAMS,
        "eligibility": {
            **MATCHED_PARAMS["eligibility"],
            "min_cohort_size": 60,
            "min_age": 14,
            "excluded_offence_categories": ["domestic_violence", "sexual", "terrorism"],
        },
    }
    expected = run_analysis(
        "matched_comparison",
        tables,
        params,
        RunContext(DisclosurePolicy(min_cell_size=10, dominance_k=0.9)),
    )
    expected_dict = expected.to_dict()
    assert run.result["summary"] == expected_dict["summary"]
    assert (
        cell(run.result, "cohort_flow", stage="Total")["values"]
        == cell(expected_dict, "cohort_flow", stage="Total")["values"]
    )
    if "reoffending_rate" in run.result["figures"].get("outcomes", {}):
        mine = run.result["figures"]["outcomes"]["reoffending_rate"]
        theirs = expected_dict["figures"]["outcomes"]["reoffending_rate"]
        assert mine["treatment"]["value"] == theirs["treatment"]["value"]
        assert mine["comparison"]["value"] == theirs["comparison"]["value"]
    ledger = db.scalars(select(ReleasedPopulation)).all()
    assert {p.label for p in ledger} == {
        "linked cohort",
        "treatment group",
        "comparison group",
        "treatment and comparison groups",
    }
    assert all(len(p.member_hashes or b"") == 32 * p.size for p in ledger)
    assert {p.dataset_id for p in ledger} == {world.events.id}
    assert b"%PDF" in (run.report_pdf or b"")
    assert run.provenance["sources"]["cohort"]["cohort_file_id"] == cohort_id
