"""The differencing ledger as an attacker meets it: two agreements over the same people, a
replaced key, two tables over populations a few people apart in one output, a run finishing
while another computes, and refusals that must not block later work.

A small survey register (300 generated people, one column with exactly three missing values,
a 0/1 column with value labels) is declared for each test, so the populations are exact."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance import create_app
from governance.agreements.models import Agreement
from governance.analysis import runs as analyses
from governance.analysis.differencing import ledger_key, pack_members
from governance.analysis.engine.ledger import population_of
from governance.analysis.models import AnalysisRun, ReleasedPopulation, RunStatus
from governance.analysis.runner import execute_run
from governance.audit.models import AuditEvent, AuditType
from governance.cli import context, main
from governance.datasets import service as datasets
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Classification, ColumnType, Dataset
from governance.identity.models import User
from governance.kernel import keys
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.analysis.conftest import execute, grant, make_agreement
from tests.conftest import Browser
from tests.support import PASSWORD, SETUP, People

PEOPLE = 300
COLUMNS = ["person_id", "sex", "aid", "passed", "score"]
AID_LABELS = {"1": "those with financial aid", "0": "those without"}


def register(size: int = PEOPLE, missing_scores: int = 3, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "person_id": np.arange(1, size + 1),
            "sex": rng.choice(["F", "M"], size=size),
            "aid": rng.integers(0, 2, size=size),
            "passed": rng.integers(0, 2, size=size),
            "score": rng.normal(50, 10, size=size).round(1),
        }
    )
    frame.loc[frame.index[:missing_scores], "score"] = np.nan
    return frame


def declare(db: Session, people: People, frame: pd.DataFrame | None = None) -> Dataset:
    """The survey register (``register()``, or ``frame``: one whose aid may have gaps)."""
    spec = datasets.ColumnSpec
    dataset = datasets.create_dataset(
        db,
        name="Survey register",
        description="Generated survey answers.",
        provider_id=people.probation.id,
        by=people.steward,
        columns=[
            spec("person_id", ColumnType.INTEGER, Classification.DIRECT_IDENTIFIER),
            spec("sex", ColumnType.CATEGORY, Classification.QUASI_IDENTIFIER),
            spec(
                "aid",
                ColumnType.INTEGER,
                Classification.GENERAL,
                value_labels=AID_LABELS,
                required=frame is None or bool(frame["aid"].notna().all()),
            ),
            spec("passed", ColumnType.INTEGER, Classification.GENERAL),
            spec("score", ColumnType.FLOAT, Classification.GENERAL, required=False),
        ],
    )
    db.commit()
    ingest(db, dataset, register() if frame is None else frame)
    return dataset


def ingest(db: Session, dataset: Dataset, frame: pd.DataFrame) -> None:
    ingest_frame(
        db, dataset_id=dataset.id, frame=frame[COLUMNS], source_filename="survey.csv", by=SETUP
    )
    db.commit()


def agreement_over(db: Session, people: People, dataset: Dataset, *, analyst: User) -> Agreement:
    agreement = make_agreement(
        db,
        people,
        [dataset.id],
        uses=["descriptive", "rate_comparison"],
        personnel={analyst.id: "principal_investigator"},
    )
    for purpose in ("descriptive", "rate_comparison"):
        grant(db, people, agreement, dataset, COLUMNS, purpose, user=analyst)
    return agreement


def submit(
    db: Session,
    agreement: Agreement,
    dataset: Dataset,
    user: User,
    kind: str,
    parameters: dict[str, Any],
) -> AnalysisRun:
    submitted = analyses.submit_run(
        db,
        agreement_id=agreement.id,
        kind=kind,
        parameters=parameters,
        datasets={"records": dataset.id},
        by=user,
        now=utcnow(),
    )
    db.commit()
    return submitted


def run(
    app: Flask,
    db: Session,
    agreement: Agreement,
    dataset: Dataset,
    user: User,
    kind: str,
    parameters: dict[str, Any],
) -> AnalysisRun:
    return execute(app, db, submit(db, agreement, dataset, user, kind, parameters).id)


def while_another_finishes(
    app: Flask,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
    slow: int,
    meanwhile: Callable[[], int],
) -> AnalysisRun:
    """Execute run ``slow``; while it is in the engine, another worker executes (and
    releases) the run that ``meanwhile`` submits. The slow run as it ended."""
    from governance.analysis import runner as analysis_runner

    real = analysis_runner.run_analysis
    finished: list[RunStatus | None] = []

    def engine(*args: Any, **kwargs: Any) -> Any:
        if not finished:
            finished.append(None)
            finished[0] = execute_run(database(app), meanwhile(), worker_id="other")
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis_runner, "run_analysis", engine)
    status = execute_run(database(app), slow, worker_id="slow")
    assert finished == [RunStatus.SUCCEEDED]
    db.expire_all()
    ended = db.get(AnalysisRun, slow)
    assert ended is not None
    assert ended.status == status
    return ended


def means_by_sex(
    app: Flask, db: Session, agreement: Agreement, dataset: Dataset, user: User
) -> AnalysisRun:
    """Counts by sex over everyone and means of the score over those with one."""
    return run(
        app, db, agreement, dataset, user, "descriptive", {"group_by": ["sex"], "mean_of": "score"}
    )


def cell(run: AnalysisRun, table: str, **labels: str) -> dict[str, Any]:
    assert run.result is not None
    found = next(t for t in run.result["tables"] if t["name"] == table)
    return next(c for c in found["cells"] if c["labels"] == labels)


def test_two_agreements_over_the_same_people_cannot_difference_them(
    app: Flask, db: Session, people: People, survey: Dataset
) -> None:
    """Agreement A releases counts by sex over 300 people; three people later leave the
    register and agreement B asks for the same table over the other 297. Subtracting would
    give the three people's sex. One ledger per dataset refuses B, whatever the agreement."""
    first_agreement = agreement_over(db, people, survey, analyst=people.analyst)
    second_agreement = agreement_over(db, people, survey, analyst=people.analyst2)
    first = run(
        app, db, first_agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]}
    )
    assert first.status == RunStatus.SUCCEEDED, first.reason
    ingest(db, survey, register().iloc[3:])
    second = run(
        app, db, second_agreement, survey, people.analyst2, "descriptive", {"group_by": ["sex"]}
    )
    assert second.status == RunStatus.REFUSED, second.result
    assert second.result is None
    assert second.report_csv is None
    assert second.clause == "publication.min_cell_size"
    assert f"run {first.id}" not in second.reason
    assert "at least 10 people" in second.reason
    assert [
        (c["run_id"], c["only_in_new"], c["only_in_released"]) for c in second.conflicts or []
    ] == [(first.id, 0, 3)]
    rows = db.scalars(select(ReleasedPopulation)).all()
    assert [(r.run_id, r.dataset_id, r.agreement_id) for r in rows] == [
        (first.id, survey.id, first_agreement.id)
    ]
    assert all(len(r.member_hashes or b"") == 32 * r.size for r in rows)


def test_the_refusal_names_the_earlier_release_only_to_those_allowed_to_see_it(
    app: Flask, db: Session, people: People, survey: Dataset, browser: Browser
) -> None:
    first_agreement = agreement_over(db, people, survey, analyst=people.analyst)
    second_agreement = agreement_over(db, people, survey, analyst=people.analyst2)
    first = run(
        app, db, first_agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]}
    )
    ingest(db, survey, register().iloc[3:])
    second = run(
        app, db, second_agreement, survey, people.analyst2, "descriptive", {"group_by": ["sex"]}
    )
    assert second.status == RunStatus.REFUSED
    browser.login(people.analyst2.email, PASSWORD)
    page = browser.get(f"/analyses/{second.id}").get_data(as_text=True)
    assert "Conflicts with an earlier release of the same people that you are not shown" in page
    assert f"/analyses/{first.id}" not in page
    assert first_agreement.reference not in page
    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    page = officer.get(f"/analyses/{second.id}").get_data(as_text=True)
    assert f'href="/analyses/{first.id}"' in page
    assert first_agreement.reference in page
    assert "0 in this run only, 3 in the earlier release only" in page


def keys_command(app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """`governance keys ...` as the host operator runs it, on this test's database."""
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app_config["DATABASE_URL"])
    built: list[Flask] = []

    def build() -> Flask:
        built.append(context.build_app())
        return built[-1]

    monkeypatch.setattr("governance.cli.keys.build_app", build)
    try:
        return CliRunner().invoke(main, ["keys", *args])
    finally:
        for built_app in built:
            database(built_app).dispose()


def test_rotating_the_data_key_keeps_the_ledger_and_its_key(
    app: Flask,
    app_config: dict[str, Any],
    db: Session,
    people: People,
    survey: Dataset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ledger key is derived from the data key it was first written under, so rotating the
    data key changes nothing for it; discarding that retired data key is refused."""
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    first = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]})
    assert first.status == RunStatus.SUCCEEDED
    old_id = keys.key_id(Path(app.config["DATA_KEY_FILE"]).read_bytes())
    rotated = keys_command(app_config, monkeypatch, "rotate", "--purpose", "data")
    assert rotated.exit_code == 0, rotated.output
    assert keys.key_id(Path(app.config["DATA_KEY_FILE"]).read_bytes()) != old_id
    db.rollback()  # the command committed in another connection: read after it
    ingest(db, survey, register().iloc[1:])
    submitted = analyses.submit_run(
        db,
        agreement_id=agreement.id,
        kind="descriptive",
        parameters={"group_by": ["sex"]},
        datasets={"records": survey.id},
        by=people.analyst,
        now=utcnow(),
    )
    db.commit()
    restarted = create_app(app_config)  # a worker started after the rotation
    try:
        second = execute(restarted, db, submitted.id)
    finally:
        database(restarted).dispose()
    assert second.status == RunStatus.REFUSED
    assert "another ledger key" not in (second.reason or "")
    assert [
        (c["run_id"], c["only_in_new"], c["only_in_released"]) for c in second.conflicts or []
    ] == [(first.id, 0, 1)]
    discarded = keys_command(
        app_config, monkeypatch, "discard", "--purpose", "data", "--key-id", old_id
    )
    assert discarded.exit_code == 1
    assert "differencing ledger's key is derived from data key" in discarded.output


def test_a_ledger_under_a_lost_key_refuses_releases_loudly(
    app: Flask, db: Session, people: People, survey: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's case: after the data key was replaced, a release of 299 of the 300 people
    already released passed, because hashes under the new key matched nothing. Here the ledger
    names a key that no data key of the ring gives (lost, or the rows rewritten by someone with
    the database): every release over these people is refused, loudly."""
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    first = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]})
    assert first.status == RunStatus.SUCCEEDED
    db.execute(update(ReleasedPopulation).values(key_fingerprint="0123456789abcdef"))
    db.commit()
    ingest(db, survey, register().iloc[1:])
    with caplog.at_level(logging.CRITICAL, logger="governance.analysis.runner"):
        second = run(
            app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]}
        )
    assert second.status == RunStatus.REFUSED
    assert "another ledger key" in second.reason
    assert second.result is None
    assert any("another ledger key" in r.getMessage() for r in caplog.records)
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.ANALYSIS_REFUSE)
    ).one()
    assert event.detail["reason"] == "ledger_key_changed"
    # Even a release far from everything is refused: the ledger cannot vouch for anything.
    third = run(
        app,
        db,
        agreement,
        survey,
        people.analyst,
        "rate_comparison",
        {"group_column": "aid", "group_a": "1", "group_b": "0", "outcome": "passed"},
    )
    assert third.status == RunStatus.REFUSED
    assert [r.run_id for r in db.scalars(select(ReleasedPopulation))] == [first.id]


def test_tables_over_populations_a_few_people_apart_in_one_output_are_withheld(
    app: Flask, db: Session, people: People, survey: Dataset
) -> None:
    """Counts over everyone and means over those with a score differ by the three people
    without one: publishing both would give their sex by subtraction."""
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    output = means_by_sex(app, db, agreement, survey, people.analyst)
    assert output.status == RunStatus.SUCCEEDED, output.reason
    assert output.result is not None
    names = [t["name"] for t in output.result["tables"]]
    assert names == ["counts"]
    assert "fewer than 10 people" in output.result["withheld"]["means"]
    assert any("A table was withheld" in note for note in output.result["notes"])
    assert [p["label"] for p in output.result["populations"]] == ["records"]
    assert b"means" not in (output.report_csv or b"").split(b"\n", 5)[-1]


def test_means_a_few_people_apart_in_one_cell_of_the_output_are_withheld(
    app: Flask, db: Session, people: People
) -> None:
    """25 people without a score are enough for the whole populations, but 3 of them are
    women: the counts of women less the means table's count of women gave those 3."""
    frame = register(missing_scores=0)
    women = frame.index[frame["sex"] == "F"][:3]
    men = frame.index[frame["sex"] == "M"][:22]
    frame.loc[women.union(men), "score"] = np.nan
    survey = declare(db, people, frame)
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    output = means_by_sex(app, db, agreement, survey, people.analyst)
    assert output.status == RunStatus.SUCCEEDED, output.reason
    assert output.result is not None
    assert [t["name"] for t in output.result["tables"]] == ["counts"]
    assert "in the same output, in a cell both publish" in output.result["withheld"]["means"]
    assert [p["label"] for p in output.result["populations"]] == ["records"]
    assert [r.label for r in db.scalars(select(ReleasedPopulation))] == ["records"]
    # With the missing scores spread so that every cell has none or enough, both are released.
    frame.loc[frame.index[frame["sex"] == "F"][:12], "score"] = np.nan
    ingest(db, survey, frame)
    both = means_by_sex(app, db, agreement, survey, people.analyst)
    assert both.status == RunStatus.SUCCEEDED, both.reason
    assert both.result is not None
    assert [t["name"] for t in both.result["tables"]] == ["counts", "means"]
    assert not both.result["withheld"]


def test_a_refused_or_withheld_population_does_not_block_later_work(
    app: Flask, db: Session, people: People, survey: Dataset
) -> None:
    """Before, the output above put both populations in the ledger, and every later analysis
    of the full register was refused for ever. Only released populations enter now."""
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    first = means_by_sex(app, db, agreement, survey, people.analyst)
    assert first.status == RunStatus.SUCCEEDED
    later = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["aid"]})
    assert later.status == RunStatus.SUCCEEDED, later.reason
    ingest(db, survey, register().iloc[2:])
    refused = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["aid"]})
    assert refused.status == RunStatus.REFUSED
    # The refusal entered nothing: the analysis of the register as released before still runs.
    ingest(db, survey, register())
    again = run(
        app,
        db,
        agreement,
        survey,
        people.analyst,
        "rate_comparison",
        {"group_column": "aid", "group_a": "1", "group_b": "0", "outcome": "passed"},
    )
    assert again.status == RunStatus.SUCCEEDED, again.reason
    assert {r.run_id for r in db.scalars(select(ReleasedPopulation))} == {
        first.id,
        later.id,
        again.id,
    }


def test_a_run_that_finished_meanwhile_is_checked_before_this_one_is_recorded(
    app: Flask, db: Session, people: People, survey: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers: run B loads 300 people and computes; meanwhile run A releases 297. B's
    check against the ledger it read at the start saw nothing; it must see A before it is
    recorded, under the writer lock, and be refused."""
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    slow = submit(db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]})

    def meanwhile() -> int:
        ingest(db, survey, register().iloc[3:])
        by_aid = {"group_by": ["aid"]}
        return submit(db, agreement, survey, people.analyst, "descriptive", by_aid).id

    refused = while_another_finishes(app, db, monkeypatch, slow.id, meanwhile)
    assert refused.status == RunStatus.REFUSED
    assert refused.result is None
    assert refused.conflicts
    assert refused.conflicts[0]["only_in_new"] == 3
    assert len(db.scalars(select(ReleasedPopulation)).all()) == 1


def test_a_release_recorded_with_float_keys_still_catches_a_difference(
    app: Flask, db: Session, people: People, survey: Dataset
) -> None:
    """Releases over a register whose integer person keys had a gap were recorded as the engine
    then wrote those keys ("7.0"). Rewritten so, the first release is still the same people as
    a run over the same register (which succeeds), and a run over three fewer is refused with
    the exact difference from both releases, the one in either form."""
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    first = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]})
    assert first.status == RunStatus.SUCCEEDED, first.reason
    floats = register()["person_id"].astype("float64")
    former = population_of("float keys", floats, ledger_key(db)).former
    assert former is not None
    db.execute(
        update(ReleasedPopulation)
        .where(ReleasedPopulation.run_id == first.id)
        .values(digest=former.digest, member_hashes=pack_members(former.members))
    )
    db.commit()
    again = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]})
    assert again.status == RunStatus.SUCCEEDED, again.reason
    ingest(db, survey, register().iloc[3:])
    fewer = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]})
    assert fewer.status == RunStatus.REFUSED, fewer.result
    assert sorted(
        (c["run_id"], c["only_in_new"], c["only_in_released"]) for c in fewer.conflicts or []
    ) == [(first.id, 0, 3), (again.id, 0, 3)]
