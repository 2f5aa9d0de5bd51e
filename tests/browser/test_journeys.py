"""The users' journeys end to end in a real browser, with the keyboard alone."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant
from governance.agreements.models import Agreement, AgreementStatus
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import DatasetSteward
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.browser.conftest import Console
from tests.browser.keyboard import (
    choose,
    log_in,
    log_out,
    press,
    set_checked,
    tab_to,
    toggle,
    type_date,
    type_into,
)
from tests.conftest import fresh
from tests.support import PASSWORD, SETUP, People


@pytest.fixture
def world(db: Session, people: People) -> Datasets:
    datasets = make_datasets(db, people)
    for dataset in (datasets.arrests, datasets.probation):
        db.add(DatasetSteward(dataset_id=dataset.id, user_id=people.steward.id))
    db.commit()
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    return datasets


def test_privacy_officer_drafts_another_approves_and_the_pdf_downloads(
    db: Session,
    people: People,
    world: Datasets,
    live_server: Any,
    new_page: Any,
    console: Console,
) -> None:
    base = live_server.url
    drafter = new_page()
    log_in(drafter, base, people.privacy.email, PASSWORD)
    drafter.goto(f"{base}/agreements/new")
    choose(drafter, "#provider_id", "Test Police")
    choose(drafter, "#recipient_id", "Test Lab")
    type_into(drafter, "#provider_signatories", "Chief Dana Reyes | Chief of Police")
    type_into(drafter, "#recipient_signatories", "Dr Lee Park | Director")
    type_into(drafter, "#title", "Diversion evaluation <b>2026</b>")
    type_into(drafter, "#purpose", "Estimate the effect of diversion on re-arrest.")
    toggle(drafter, "input[name=permitted_uses][value=descriptive]")
    for column in ("sex", "age_at_arrest"):
        toggle(drafter, f"input[name=columns][value='{world.arrests.id}:{column}']")
    toggle(drafter, "input[name=laws][value=cjis]")
    choose(drafter, f"#personnel-{people.analyst.id}", "Principal investigator")
    today = utcnow().date()
    type_date(drafter, "#effective_date", today.isoformat())
    type_date(drafter, "#expiry_date", (today + dt.timedelta(days=365)).isoformat())
    press(drafter, "form.agreement-form button[type=submit]")
    assert re.search(r"/agreements/\d+$", drafter.url), drafter.content()[:2000]
    agreement_url = drafter.url
    assert "Diversion evaluation &lt;b&gt;2026&lt;/b&gt;" in drafter.content()
    press(drafter, "form[action$='/submit'] button")
    log_out(drafter)

    reviewer = new_page()
    log_in(reviewer, base, people.privacy2.email, PASSWORD)
    reviewer.goto(agreement_url)
    press(reviewer, "form[action$='/approve'] button")
    agreement = fresh(db).scalars(select(Agreement)).one()
    # Approved internally; in force only once the provider has countersigned.
    assert agreement.status == AgreementStatus.APPROVED
    assert agreement.current_version is not None
    assert agreement.current_version.approved_by_id == people.privacy2.id

    # An incomplete countersignature comes back on the form, with what was typed kept.
    console.expect("the server responded with a status of 422")
    type_into(reviewer, "#execute-form #name", "Chief Dana Reyes")
    press(reviewer, "#execute-form button[type=submit]")
    assert "The countersignature was not recorded" in reviewer.content()
    assert reviewer.input_value("#execute-form #name") == "Chief Dana Reyes"
    assert fresh(db).scalars(select(Agreement)).one().status == AgreementStatus.APPROVED
    type_into(reviewer, "#execute-form #title", "Chief of Police")
    type_date(reviewer, "#execute-form #signed_on", today.isoformat())
    type_into(reviewer, "#execute-form #signed_copy_reference", "TPD-LEGAL-114")
    press(reviewer, "#execute-form button[type=submit]")
    assert "countersignature is recorded" in reviewer.content()
    agreement = fresh(db).scalars(select(Agreement)).one()
    assert agreement.status == AgreementStatus.ACTIVE
    assert agreement.current_version is not None
    assert agreement.current_version.provider_signatory_organisation == "Test Police"

    tab_to(reviewer, "a[href$='/pdf']")
    with reviewer.expect_download() as download:
        reviewer.keyboard.press("Enter")
    with open(download.value.path(), "rb") as handle:
        content = handle.read()
    assert content[:5] == b"%PDF-"
    text = " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages
    )
    assert "Signature: Signed (signed copy TPD-LEGAL-114)" in text
    assert f"Date: {today.isoformat()}" in text


def test_analyst_requests_steward_grants_fewer_and_analyst_sees_exactly_those(
    app: Flask,
    db: Session,
    people: People,
    world: Datasets,
    live_server: Any,
    new_page: Any,
    console: Any,
) -> None:
    console.expect("status of 403 (FORBIDDEN)")
    agreement = approved(db, people, world)
    base = live_server.url
    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(f"{base}/access/requests/new")
    choose(analyst, "#agreement_id", agreement.reference)
    press(analyst, "main form button[type=submit]")
    choose(analyst, "#dataset_id", "Arrests")
    press(analyst, "main form button[type=submit]")
    for column in ("sex", "age_at_arrest", "offence_category"):
        toggle(analyst, f"input[name=columns][value={column}]")
    type_into(analyst, "#justification", "Age and sex profile of the cohort; offence mix.")
    type_date(analyst, "#end_date", (utcnow().date() + dt.timedelta(days=30)).isoformat())
    press(analyst, "main form button.primary")
    assert re.search(r"/access/requests/\d+$", analyst.url)
    request_url = analyst.url

    steward = new_page()
    log_in(steward, base, people.steward.email, PASSWORD)
    steward.goto(request_url)
    set_checked(steward, "input[name=approve-columns][value=offence_category]", False)
    type_into(steward, "#approve-comment", "The offence mix is in the published tables.")
    press(steward, "form[action$='/approve'] button")
    grant = fresh(db).scalars(select(Grant)).one()
    assert grant.column_names == ["age_at_arrest", "sex"]

    analyst.goto(f"{base}/access/grants/{grant.id}")
    press(analyst, "a.button.primary")
    headers = analyst.locator("table.table thead th").all_inner_texts()
    assert headers == ["sex", "age_at_arrest"]
    assert "SECRET-OFFENCE" not in analyst.content()
    refused = analyst.goto(f"{analyst.url}&columns=sex&columns=offence_category")
    assert refused is not None
    assert refused.status == 403
    assert "not granted to you" in analyst.content()


def test_compliance_manager_searches_the_analysts_reads_and_exports_csv_and_pdf(
    db: Session, people: People, world: Datasets, live_server: Any, new_page: Any, console: Any
) -> None:
    from governance.access import requests

    console.expect("status of 403 (FORBIDDEN)")
    from tests.access.test_requests_and_grants import ask

    agreement = approved(db, people, world)
    request = ask(db, people, agreement, world, columns=("sex",))
    requests.steward_approve(
        db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()
    base = live_server.url
    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    query = f"agreement={agreement.id}&dataset={world.arrests.id}&purpose=descriptive"
    assert analyst.goto(f"{base}/data/view?{query}").status == 200
    assert analyst.goto(f"{base}/data/view?{query}&columns=name").status == 403

    manager = new_page()
    log_in(manager, base, people.compliance.email, PASSWORD)
    manager.goto(f"{base}/audit/")
    type_into(manager, "#user", people.analyst.email)
    choose(manager, "#event_type", "Dataset: read")
    press(manager, "form[role=search] button[type=submit]")
    rows = manager.locator("table.audit-table tbody tr")
    assert rows.count() == 2
    said = sorted(rows.locator("p.sentence").all_inner_texts())
    assert said[0].startswith(f"{people.analyst.name} read ")
    assert said[1].startswith(f"Refused: {people.analyst.name} tried to read Arrests: name")

    for fmt, magic in (("csv", b"# audit chain head"), ("pdf", b"%PDF-")):
        tab_to(manager, f"p.downloads a[href*='format={fmt}']")
        with manager.expect_download() as download:
            manager.keyboard.press("Enter")
        with open(download.value.path(), "rb") as handle:
            content = handle.read()
        assert content.startswith(magic) or magic in content[:200], fmt
        if fmt == "csv":
            assert people.analyst.email.encode() in content


def test_analyst_runs_a_matched_comparison_checked_flagged_answered_and_published(
    app: Flask, db: Session, people: People, tmp_path: Any, new_page: Any
) -> None:
    """Journey 3: run, check, partner preview with a factual-error flag, publication."""
    from governance.authz import Role
    from governance.demo.analysis_data import INDEX_EVENTS, OFFENCES, declare_analysis_datasets
    from tests.analysis.conftest import cohort_csv, grant_matched, make_agreement, synthetic
    from tests.live import LiveServer, Worker
    from tests.support import add_person

    made = declare_analysis_datasets(
        db, provider_id=people.probation.id, steward_id=people.steward.id
    )
    db.commit()
    data = synthetic()
    for key, frame in ((INDEX_EVENTS, data.index_events), (OFFENCES, data.offences)):
        ingest_frame(
            db,
            dataset_id=made[key].id,
            frame=frame[made[key].column_names],
            source_filename=f"{key}.csv",
            by=SETUP,
        )
    db.commit()
    agreement = make_agreement(
        db, people, [made[INDEX_EVENTS].id, made[OFFENCES].id], two_checkers_required=False
    )
    from tests.analysis.conftest import World as AnalysisWorld

    grant_matched(
        db,
        people,
        AnalysisWorld(
            agreement=agreement, events=made[INDEX_EVENTS], offences=made[OFFENCES], data=data
        ),
    )
    partner = add_person(
        db,
        app,
        email="reviewer@probation.example",
        name="Probation Reviewer",
        org=people.probation,
        roles=(Role.PARTNER_REVIEWER,),
        courses=(),
    )
    db.commit()
    cohort_file = tmp_path / "partner-cohort.csv"
    cohort_file.write_bytes(cohort_csv(data))

    instance = Path(os.environ["GOVERNANCE_INSTANCE_PATH"])
    server = LiveServer(app.config["DATABASE_URL"], instance, tmp_path / "server.log")
    worker = Worker(app.config["DATABASE_URL"], instance, tmp_path / "worker.log")
    try:
        base = server.url
        analyst = new_page()
        log_in(analyst, base, people.analyst.email, PASSWORD)
        analyst.goto(f"{base}/analyses/new?agreement_id={agreement.id}&kind=matched_comparison")
        type_into(analyst, "#label", "Mentoring programme 2016-2019")
        analyst.set_input_files("#file", str(cohort_file))
        press(analyst, "form[enctype='multipart/form-data'] button")
        choose(analyst, "#index_events_dataset", made[INDEX_EVENTS].name)
        choose(analyst, "#offences_dataset", made[OFFENCES].name)
        type_into(analyst, "#neighbours", "3")
        toggle(analyst, "#replace")
        type_into(analyst, "#data_complete_until", "2022-12-31")
        press(analyst, "main form button.primary")
        # The run page refreshes itself every few seconds until the worker has finished.
        analyst.wait_for_selector("main a[href^='/outputs/'], main .badge-danger", timeout=120_000)
        assert analyst.locator("main .badge-danger").count() == 0, analyst.content()[:3000]
        press(analyst, "main a[href^='/outputs/']")
        output_url = analyst.url

        checker = new_page()
        log_in(checker, base, people.checker.email, PASSWORD)
        checker.goto(output_url)
        press(checker, "#check-form button[value=approve]")

        reviewer = new_page()
        log_in(reviewer, base, partner.email, PASSWORD)
        reviewer.goto(output_url)
        choose(reviewer, "#flag-form #kind", "Objectively incorrect factual statement")
        type_into(reviewer, "#flag-form #comment", "The programme started in 2016, not 2015.")
        press(reviewer, "#flag-form button")

        analyst.goto(output_url)
        choose(analyst, "select[id^=answer-]", "Explained")
        type_into(
            analyst,
            "textarea[id^=answer-text-]",
            "The dates come from the partner's file; the report says 2016.",
        )
        press(analyst, "form[action*='/answer'] button")

        reviewer.goto(output_url)
        press(reviewer, "form[action*='/accept'] button")

        officer = new_page()
        log_in(officer, base, people.privacy.email, PASSWORD)
        officer.goto(output_url)
        press(officer, "main a[href$='/publish']")
        # Publishing cannot be undone: a page says what becomes public and asks to confirm.
        assert "cannot be undone" in officer.content()
        press(officer, "form[action$='/publish'] button")

        public = new_page()
        public.goto(f"{base}/published/")
        assert (
            "Reoffending after the mentoring programme" in public.content()
            or "re-offending" in public.content().lower()
        )
        press(public, "main a[href^='/published/']")
        assert "sha256" in public.content().lower()
    finally:
        worker.stop()
        server.stop()
