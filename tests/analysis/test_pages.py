"""The analysis pages: run form, progress, released result, recorded downloads, who may see."""

from __future__ import annotations

import io
import re

from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.cohort_model import CohortFile
from governance.kernel.types import utcnow
from governance.outputs.models import Output
from tests.analysis.conftest import (
    MATCHED_PARAMS,
    World,
    cohort_csv,
    execute,
    grant_matched,
    grant_records,
)
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def last(db: Session, kind: AuditType) -> AuditEvent:
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    return event


def test_descriptive_through_the_pages(
    app: Flask, browser: Browser, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    browser.login(people.analyst.email, PASSWORD)
    scope = browser.get(f"/analyses/new?agreement_id={world.agreement.id}")
    assert scope.status_code == 200
    assert 'value="descriptive"' in scope.get_data(as_text=True)
    url = f"/analyses/new?agreement_id={world.agreement.id}&kind=descriptive"
    assert "Group by" in browser.get(url).get_data(as_text=True)
    posted = browser.post(
        url,
        {
            "records_dataset": world.events.id,
            "offences_dataset": world.offences.id,
            "group_by": "region, offence_category",
            "method": "nearest",
        },
    )
    assert posted.status_code == 302, posted.get_data(as_text=True)
    run = fresh(db).scalars(select(AnalysisRun)).one()
    page = browser.get(f"/analyses/{run.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in page
    assert "queued" in page
    execute(app, db, run.id)
    page = browser.get(f"/analyses/{run.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page
    assert "[suppressed]" in page
    assert "threshold" in page
    assert "<script" not in page
    listing = browser.get("/analyses/").get_data(as_text=True)
    assert f"#{run.id}" in listing
    # The report and figures leave as the output's files, once it is released.
    assert "Report (PDF)" not in page
    assert 'id="files-after-release"' in page
    for what in ("pdf", "csv"):
        refused = browser.get(f"/analyses/{run.id}/download/{what}")
        assert refused.status_code == 403
        assert b"%PDF" not in refused.data
        assert "once it is released" in refused.get_data(as_text=True)
        event = last(db, AuditType.OUTPUT_DOWNLOAD)
        assert (event.outcome, event.rule, event.detail["file"]) == (
            "denied",
            "released-only",
            what,
        )
    checker = Browser(app.test_client())
    checker.login(people.checker.email, PASSWORD)
    assert "Report (PDF)" in checker.get(f"/analyses/{run.id}").get_data(as_text=True)
    pdf = checker.get(f"/analyses/{run.id}/download/pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF")
    event = last(db, AuditType.OUTPUT_DOWNLOAD)
    assert (event.outcome, event.detail["file"], event.detail["sha256"]) == (
        "success",
        "pdf",
        fresh(db).get_one(AnalysisRun, run.id).report_sha256,
    )
    assert checker.get(f"/analyses/{run.id}/download/csv").data.startswith(b"table,cell,")


def test_matched_comparison_with_a_cohort_upload_through_the_pages(
    app: Flask, browser: Browser, db: Session, people: People, world: World
) -> None:
    grant_matched(db, people, world)
    browser.login(people.analyst.email, PASSWORD)
    uploaded = browser.post(
        f"/analyses/cohorts?agreement={world.agreement.id}",
        {"label": "Mentoring", "file": (io.BytesIO(cohort_csv(world.data)), "partner.csv")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302, uploaded.get_data(as_text=True)
    cohort = fresh(db).scalars(select(CohortFile)).one()
    assert cohort.provider_id == people.probation.id
    url = f"/analyses/new?agreement_id={world.agreement.id}&kind=matched_comparison"
    posted = browser.post(
        url,
        {
            "cohort_id": cohort.id,
            "index_events_dataset": world.events.id,
            "offences_dataset": world.offences.id,
            "covariates": ", ".join(
                [
                    "age_at_index",
                    "sex",
                    "prior_offences",
                    "prior_custodial_sentences",
                    "index_disposal",
                    "offence_category",
                    "ethnicity",
                    "employed",
                ]
            ),
            "categorical": ", ".join(MATCHED_PARAMS["categorical"]),
            "method": "nearest",
            "neighbours": "3",
            "replace": "y",
            "caliper": "0.2",
            "max_abs_smd": "0.1",
            "data_complete_until": "2022-12-31",
        },
    )
    assert posted.status_code == 302, posted.get_data(as_text=True)
    run = execute(app, db, fresh(db).scalars(select(AnalysisRun)).one().id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    page = browser.get(f"/analyses/{run.id}").get_data(as_text=True)
    assert "<svg" in page
    assert "What happened to the people submitted" in page
    assert_headlines_on(page)
    checker = Browser(app.test_client())
    checker.login(people.checker.email, PASSWORD)
    pdf = checker.get(f"/analyses/{run.id}/download/pdf")
    assert pdf.status_code == 200
    text = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf.data)).pages
    )
    assert "Headline results" in text
    assert "One-year proven re-offending rate" in text
    assert "p-value" in text
    assert "Significance" in text or "significant" in text
    assert "rate.test" not in text


def assert_headlines_on(page: str) -> None:
    """One headline table per outcome: each group's figure, the difference, the interval with
    its method, the p-value and significance in words; no raw statistic keys anywhere."""
    for outcome, title in (
        ("reoffending_rate", "One-year proven re-offending rate"),
        ("reoffence_frequency", "Proven re-offences per 100 people"),
    ):
        found = re.search(
            rf'<table class="table headline-table" id="headline-{outcome}">(.*?)</table>',
            page,
            re.S,
        )
        assert found, f"no headline table for {outcome}"
        cells = " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())
        assert cells.startswith(title)
        assert "Treatment group Comparison group Difference 95% CI (" in cells
        assert re.search(r"significant", cells, re.I)
    assert "rate.test" not in page
    assert "ci low" not in page


def test_others_cannot_see_a_run_and_the_refusal_is_recorded(
    app: Flask, browser: Browser, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    from tests.analysis.conftest import submit

    run = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    browser.login(people.analyst2.email, PASSWORD)
    # Answered as for a run that does not exist (tests/api/test_unseen_runs_and_outputs.py).
    assert browser.get(f"/analyses/{run.id}").status_code == 404
    assert browser.get(f"/analyses/{run.id}/download/pdf").status_code == 404
    refused = last(db, AuditType.ANALYSIS_DOWNLOAD)
    assert (refused.outcome, refused.rule) == ("denied", "run-requester")
    assert f"#{run.id}" not in browser.get("/analyses/").get_data(as_text=True)
    browser.client.post("/logout", data={})
    checker = Browser(app.test_client())
    checker.login(people.checker.email, PASSWORD)
    assert checker.get(f"/analyses/{run.id}").status_code == 200
    assert f"#{run.id}" in checker.get("/analyses/").get_data(as_text=True)


def test_a_refused_submission_through_the_page_is_recorded(
    browser: Browser, db: Session, people: People, world: World
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    url = f"/analyses/new?agreement_id={world.agreement.id}&kind=descriptive"
    refused = browser.post(
        url, {"records_dataset": world.events.id, "group_by": "sex", "method": "nearest"}
    )
    assert refused.status_code == 403
    event = last(db, AuditType.ANALYSIS_REFUSE)
    assert event.clause == "access.grant"
    assert event.actor_email == people.analyst.email
    assert fresh(db).scalars(select(AnalysisRun)).all() == []


def test_people_without_analysis_run_cannot_open_the_run_form(
    browser: Browser, people: People
) -> None:
    browser.login(people.partner.email, PASSWORD)
    assert browser.get("/analyses/new").status_code == 403


def test_after_termination_the_analyst_gets_neither_figures_nor_files(
    app: Flask, browser: Browser, db: Session, people: People, world: World
) -> None:
    """explore6 F5, the pages: the run's figures are read inside the service while the
    agreement is in force; once it is terminated (every grant revoked) the page withholds
    them, recorded, and the downloads are refused, recorded."""
    from governance.agreements import service as agreements
    from tests.analysis.conftest import submit

    grant_records(db, people, world, "descriptive")
    run = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    browser.login(people.analyst.email, PASSWORD)
    assert "[suppressed]" in browser.get(f"/analyses/{run.id}").get_data(as_text=True)
    agreements.terminate(
        fresh(db), agreement_id=world.agreement.id, reason="Ended.", by=people.privacy, now=utcnow()
    )
    db.commit()
    page = browser.get(f"/analyses/{run.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="figures-withheld"' in text
    assert "is terminated since" in text
    assert "[suppressed]" not in text
    assert "Supporting tables" not in text
    event = last(db, AuditType.ANALYSIS_DOWNLOAD)
    assert (event.outcome, event.rule, event.detail["part"]) == (
        "denied",
        "agreement-in-force",
        "figures",
    )
    for what in ("pdf", "csv"):
        assert browser.get(f"/analyses/{run.id}/download/{what}").status_code == 403
        assert last(db, AuditType.OUTPUT_DOWNLOAD).outcome == "denied"
    checker = Browser(app.test_client())
    checker.login(people.checker.email, PASSWORD)
    assert "[suppressed]" in checker.get(f"/analyses/{run.id}").get_data(as_text=True)


def test_once_released_the_run_page_links_the_outputs_files(
    app: Flask, browser: Browser, db: Session, people: People, world: World
) -> None:
    from governance.outputs import preview as output_preview
    from tests.analysis.conftest import submit
    from tests.outputs.builders import DAY, T0, check_twice, outputs_system

    grant_records(db, people, world, "descriptive")
    run = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    output = fresh(db).scalars(select(Output).where(Output.run_id == run.id)).one()
    check_twice(db, people, output)
    output_preview.close_due_previews(db, outputs_system(), T0 + 40 * DAY)
    db.commit()
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/analyses/{run.id}").get_data(as_text=True)
    assert f'href="/analyses/{run.id}/download/pdf"' in page
    for what in ("pdf", "csv"):
        by_run = browser.get(f"/analyses/{run.id}/download/{what}")
        by_output = browser.get(f"/outputs/{output.id}/files/{what}")
        assert (by_run.status_code, by_output.status_code) == (200, 200)
        assert by_run.data == by_output.data
