"""What a reader of an output is told: intervals that name their method on the page, in the CSV
and in the PDF; groups named by their declared labels; a balance threshold the analyst cannot
raise above the agreement's; residual imbalance listed in the caveats."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis import runs as analyses
from governance.analysis.models import RunStatus
from governance.analysis.runner import effective_parameters
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import service as datasets
from governance.datasets.models import Dataset
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from tests.analysis.conftest import (
    MATCHED_PARAMS,
    World,
    execute,
    grant_matched,
    make_agreement,
    submit,
    upload,
)
from tests.analysis.test_ledger_across_releases import AID_LABELS, agreement_over, run
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def pdf_text(content: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages
    )


def test_a_rate_comparison_names_its_groups_and_interval_everywhere_it_is_shown(
    app: Flask, db: Session, people: People, survey: Dataset, browser: Browser
) -> None:
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    done = run(
        app,
        db,
        agreement,
        survey,
        people.analyst,
        "rate_comparison",
        {
            "group_column": "aid",
            "group_a": "1",
            "group_b": "0",
            "outcome": "passed",
            "interval": "newcombe",
        },
    )
    assert done.status == RunStatus.SUCCEEDED, done.reason
    assert done.result is not None
    summary = done.result["summary"]
    assert "for those with financial aid and" in summary
    assert "for those without" in summary
    assert "for 1 and" not in summary
    assert "95% CI (Newcombe hybrid score)" in summary
    csv = (done.report_csv or b"").decode()
    assert "test.: 95% CI (Newcombe hybrid score), lower" not in csv
    assert "test: 95% CI (Newcombe hybrid score), lower" in csv
    assert "aid=those with financial aid (1)" in csv
    text = pdf_text(done.report_pdf or b"")
    assert "95% CI (Newcombe hybrid score)" in text
    assert "confidence intervals (Wilson)" in text or "(Wilson)" in text
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/analyses/{done.id}").get_data(as_text=True)
    assert "95% CI (Newcombe hybrid score)" in page
    assert "those with financial aid (1)" in page


def test_matched_outcome_tables_name_their_intervals(
    app: Flask, db: Session, people: People, world: World, browser: Browser
) -> None:
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    done = execute(
        app,
        db,
        submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id).id,
    )
    assert done.status == RunStatus.SUCCEEDED, done.reason
    assert done.result is not None
    rate = next(t for t in done.result["tables"] if t["name"] == "reoffending_rate")
    assert rate["intervals"] == {
        "ci_low": "95% CI (Wilson), lower",
        "ci_high": "95% CI (Wilson), upper",
    }
    csv = (done.report_csv or b"").decode()
    assert "95% CI (Wilson), lower" in csv
    assert ",ci_low," not in csv
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/analyses/{done.id}").get_data(as_text=True)
    assert "95% CI (Wilson), lower" in page
    balance = done.result["statistics"]["balance"]
    above = [
        r["term"] for r in balance if r["smd_after"] is not None and abs(r["smd_after"]) > 0.05
    ]
    caveats = " ".join(done.result["caveats"])
    for term in above:
        assert term in caveats
    assert ("above 0.05" in caveats) == bool(above) or not above


def test_an_analyst_cannot_raise_the_balance_threshold_above_the_agreements(
    app: Flask, db: Session, people: People, world: World, browser: Browser
) -> None:
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    with pytest.raises(ValidationFailed) as refused:
        analyses.submit_run(
            db,
            agreement_id=world.agreement.id,
            kind="matched_comparison",
            parameters={**MATCHED_PARAMS, "max_abs_smd": 5},
            datasets={"index_events": world.events.id, "offences": world.offences.id},
            cohort_id=cohort_id,
            by=people.analyst,
            now=utcnow(),
        )
    assert "analysis.balance.max_abs_smd" in refused.value.message
    assert refused.value.fields["max_abs_smd"].startswith("At most 0.1")
    db.rollback()
    # Through the page: 422 naming the clause, and the refusal is recorded.
    browser.login(people.analyst.email, PASSWORD)
    url = f"/analyses/new?agreement_id={world.agreement.id}&kind=matched_comparison"
    posted = browser.post(
        url,
        {
            "index_events_dataset": world.events.id,
            "offences_dataset": world.offences.id,
            "cohort_id": cohort_id,
            "method": "nearest",
            "neighbours": 3,
            "replace": "y",
            "max_abs_smd": "4.5",
        },
    )
    assert posted.status_code == 422
    assert "analysis.balance.max_abs_smd" in posted.get_data(as_text=True)
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.ANALYSIS_REFUSE)
            .order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    assert event.clause == "analysis.balance.max_abs_smd"
    # Tightening is allowed, and the agreement's ceiling applies when nothing is asked.
    version = world.agreement.current_version
    assert version is not None
    assert (
        effective_parameters("matched_comparison", {"max_abs_smd": 0.05}, version)["max_abs_smd"]
        == 0.05
    )
    assert effective_parameters("matched_comparison", {}, version)["max_abs_smd"] == 0.1


def test_a_stricter_agreement_lowers_the_threshold_the_engine_applies(
    app: Flask, db: Session, people: People, world: World
) -> None:
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], max_abs_smd=0.01
    )
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    done = execute(
        app,
        db,
        submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id).id,
    )
    assert done.status == RunStatus.SUCCEEDED, done.reason
    assert done.result is not None
    assert done.result["parameters"]["max_abs_smd"] == 0.01
    assert "outcomes" in done.result["withheld"]
    assert "exceeds 0.01" in done.result["withheld"]["outcomes"]


def test_value_labels_are_declared_stored_and_shown(
    app: Flask, db: Session, people: People, survey: Dataset, browser: Browser
) -> None:
    column = survey.column("aid")
    assert column is not None
    assert column.value_labels == AID_LABELS
    _, specs = datasets.parse_schema_json(
        '{"columns": [{"name": "aid", "type": "integer", "classification": "general", '
        '"value_labels": {"1": "with aid", "0": "without"}}]}'
    )
    assert specs[0].value_labels == {"1": "with aid", "0": "without"}
    assert datasets.parse_value_labels("1=with aid; 0=without") == {"1": "with aid", "0": "without"}
    with pytest.raises(ValidationFailed):
        datasets.parse_columns(
            [
                {
                    "name": "aid",
                    "type": "integer",
                    "classification": "general",
                    "value_labels": "1=with aid; 1=again",
                }
            ]
        )
    browser.login(people.steward.email, PASSWORD)
    page = browser.get(f"/datasets/{survey.id}").get_data(as_text=True)
    assert "those with financial aid" in page
