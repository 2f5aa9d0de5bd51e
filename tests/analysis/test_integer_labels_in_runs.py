"""What a user sees of an integer column with a gap, through the door and the worker: a table
of counts by such a category is labelled "0" and "1" (and "Missing"), not "0.0" and "1.0", its
declared value labels attach to those codes, and its counts are the register's, on pandas,
DuckDB and Spark alike; the clerical review queue finds the register person of a pair stored
as "7" and of one stored as "7.0" (queued while such keys reached the engine as floats)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.analysis import linkage_review
from governance.analysis.linkage_model import LinkageReport, LinkageReviewPair
from governance.analysis.models import RunStatus
from governance.datasets.models import Dataset
from tests.analysis.conftest import MATCHED_PARAMS, World, execute, grant_matched, submit, upload
from tests.analysis.test_ledger_across_releases import (
    AID_LABELS,
    agreement_over,
    declare,
    register,
    run,
)
from tests.conftest import Browser
from tests.support import PASSWORD, People

# Three people whose aid is not recorded: the column is an integer column with a gap.
NO_AID = [4, 50, 120]
BY_AID = {"group_by": ["aid"], "rate_of": "passed"}


@pytest.fixture
def app_config(database_url: str, tmp_path: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "ANALYSIS_HEARTBEAT_TIMEOUT": 30,
        "ANALYSIS_ENGINE": getattr(request, "param", "pandas"),
        "ANALYSIS_DUCKDB_MEMORY_LIMIT": "1GB",
    }


def survey_with_gaps(db: Session, people: People) -> tuple[Dataset, pd.DataFrame]:
    frame = register()
    frame["aid"] = frame["aid"].astype("Int64")
    frame.loc[NO_AID, "aid"] = pd.NA
    return declare(db, people, frame), frame


@pytest.mark.parametrize(
    "app_config",
    [
        "pandas",
        "duckdb",
        pytest.param(
            "spark", marks=[pytest.mark.slow, pytest.mark.xdist_group("spark")], id="spark"
        ),
    ],
    indirect=True,
)
def test_a_table_by_an_integer_category_with_a_gap_shows_its_codes_as_integers(
    app: Flask, db: Session, people: People, app_config: dict[str, Any]
) -> None:
    survey, frame = survey_with_gaps(db, people)
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    done = run(app, db, agreement, survey, people.analyst, "descriptive", BY_AID)
    assert done.status == RunStatus.SUCCEEDED, done.reason
    assert done.provenance["engine"] == app_config["ANALYSIS_ENGINE"]
    assert done.result is not None
    counts = next(t for t in done.result["tables"] if "count" in t["measures"].values())
    shown = {cell["labels"]["aid"]: cell for cell in counts["cells"]}
    assert set(shown) == {"0", "1", "Missing", "Total"}
    assert counts["value_labels"] == {"aid": AID_LABELS}
    truth = frame["aid"].value_counts()
    assert shown["Missing"]["disclosure"]["suppressed"]  # 3 people
    published = [code for code in ("0", "1") if not shown[code]["disclosure"]["suppressed"]]
    assert published  # one may be hidden beside the missing three (secondary suppression)
    for code in published:
        assert shown[code]["values"]["count"] == truth[int(code)]
    # The export a reader downloads names the code by its declared label.
    assert b"counts,aid=those with financial aid (1),count," in (done.report_csv or b"")


def test_the_clerical_review_finds_people_of_pairs_stored_in_either_key_form(
    app: Flask,
    browser: Browser,
    db: Session,
    people: People,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The register's person keys read with a gap (pandas' nullable integers, as the door
    reads such a column): a pair queued as "7.0" and one queued as "8" both show the
    register person's name beside the cohort row."""
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    queued = submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id)
    done = execute(app, db, queued.id)
    assert done.status == RunStatus.SUCCEEDED, done.reason
    db.add(LinkageReport(run_id=done.id, report={"thresholds": {}}))
    register_rows = world.data.index_events.drop_duplicates("person_id").set_index("person_id")
    a, b, gap = (int(k) for k in register_rows.index[:3])
    for row, key in enumerate((f"{a}.0", str(b))):
        db.add(
            LinkageReviewPair(
                run_id=done.id,
                agreement_id=done.agreement_id,
                cohort_row=row,
                person_key=key,
                match_weight=1.5,
                match_probability=0.7 - row / 10,
                why="between the thresholds",
            )
        )
    db.commit()
    door = linkage_review.data_door.load_columns

    def with_a_gap(*args: Any, **kwargs: Any) -> Any:
        loaded = door(*args, **kwargs)
        if "person_id" in loaded.frame.columns:
            keys = loaded.frame["person_id"].astype("Int64")
            keys[keys == gap] = pd.NA
            loaded.frame["person_id"] = keys
        return loaded

    monkeypatch.setattr(linkage_review.data_door, "load_columns", with_a_gap)
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/analyses/{done.id}/linkage/review")
    assert page.status_code == 200
    text = " ".join(page.get_data(as_text=True).split())
    for key in (a, b):
        name = " ".join(str(register_rows.loc[key, "name"]).split())
        assert name in text, (key, name)
