"""Every analysis kind can be started from its page (the matched comparison's journey is in
test_journeys.py): each form is filled with the keyboard, submitted, and the run it queues
then succeeds with the parameters typed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import AnalysisRun, RunStatus
from tests.analysis.conftest import World, build_world, execute, grant_records
from tests.browser.keyboard import choose, log_in, press, type_into
from tests.conftest import fresh
from tests.support import PASSWORD, People


@pytest.fixture
def analysis_world(db: Session, people: People) -> World:
    world = build_world(db, people)
    grant_records(db, people, world, "descriptive")
    grant_records(
        db, people, world, "rate_comparison", columns=["person_id", "employed", "index_date"]
    )
    return world


def _open_form(page: Any, base: str, world: World, kind: str) -> None:
    page.goto(f"{base}/analyses/new?agreement_id={world.agreement.id}&kind={kind}")
    choose(page, "#records_dataset", world.events.name)
    choose(page, "#offences_dataset", world.offences.name)


def _submitted_run(page: Any, db: Session) -> AnalysisRun:
    press(page, "main form button.primary")
    found = re.search(r"/analyses/(\d+)$", page.url)
    assert found, page.content()[:3000]
    run = fresh(db).get(AnalysisRun, int(found.group(1)))
    assert run is not None
    return run


def test_descriptive_and_rate_comparison_start_from_their_pages(
    app: Flask, db: Session, people: People, analysis_world: World, live_server: Any, new_page: Any
) -> None:
    base = live_server.url
    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)

    _open_form(analyst, base, analysis_world, "descriptive")
    type_into(analyst, "#group_by", "sex, region")
    type_into(analyst, "#rate_of", "reoffended")
    descriptive = _submitted_run(analyst, db)
    assert descriptive.kind == "descriptive"
    assert descriptive.parameters["group_by"] == ["sex", "region"]

    _open_form(analyst, base, analysis_world, "rate_comparison")
    type_into(analyst, "#group_column", "employed")
    type_into(analyst, "#group_a", "1")
    type_into(analyst, "#group_b", "0")
    type_into(analyst, "#outcome", "reoffended")
    rates = _submitted_run(analyst, db)
    assert rates.kind == "rate_comparison"
    assert rates.parameters["group_column"] == "employed"

    for run in (descriptive, rates):
        finished = execute(app, db, run.id)
        assert finished.status == RunStatus.SUCCEEDED, finished.reason
    assert len(fresh(db).scalars(select(AnalysisRun)).all()) == 2
