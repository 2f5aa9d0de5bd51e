"""A matched comparison linked probabilistically, through the worker: the agreement bounds the
acceptance threshold, the report and the clerical review queue are kept with the run, the
queue is shown only to people granted the identifiers (refusals recorded), decisions are
recorded once, and no identifier reaches an output."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.linkage_model import LinkageReport, LinkageReviewPair
from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.kernel.errors import ValidationFailed
from governance.outputs.models import Output
from tests.analysis.conftest import (
    MATCHED_PARAMS,
    World,
    execute,
    grant_matched,
    submit,
    upload,
)
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

PROBABILISTIC: dict[str, Any] = {
    **MATCHED_PARAMS,
    "linkage": {"method": "probabilistic", "accept_probability": 0.97},
}


def linked_run(app: Flask, db: Session, people: People, world: World) -> AnalysisRun:
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    run = submit(db, people, world, "matched_comparison", PROBABILISTIC, cohort_id=cohort_id)
    return execute(app, db, run.id)


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(fresh(db).scalars(select(AuditEvent).where(AuditEvent.event_type == kind)))


def identifiers(world: World) -> set[str]:
    cohort = world.data.cohort
    names = {n.strip() for n in cohort["name"]} | set(world.data.index_events["name"])
    return {v for v in names | set(cohort["date_of_birth"]) if len(v) > 5}


@pytest.mark.slow
def test_a_probabilistic_run_keeps_its_report_and_queue_and_releases_no_identifier(
    app: Flask, browser: Browser, db: Session, people: People, world: World
) -> None:
    """One Splink run (tens of seconds) serves every check of the stored run."""
    run = linked_run(app, db, people, world)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.parameters["linkage"]["method"] == "probabilistic"
    report = db.scalars(select(LinkageReport).where(LinkageReport.run_id == run.id)).one().report
    assert report["thresholds"]["accept_probability"] == 0.97
    assert report["linked_and_kept"] > 200
    assert 0.8 < report["match_rate"] <= 1
    assert report["estimated_precision"] > 0.95
    assert report["weight_distribution"]
    assert "not_found" in report["dropped"]
    assert report["dropped_explained"]["not_found"]
    output = db.scalars(select(Output).where(Output.run_id == run.id)).one()
    released = [
        json.dumps(run.result, default=str),
        json.dumps(report, default=str),
        (run.report_csv or b"").decode(),
        (output.csv or b"").decode(),
        json.dumps(output.result, default=str),
    ]
    leaked = [v for v in identifiers(world) if any(v in text for text in released)]
    assert not leaked
    pair = with_a_pair(db, run)
    the_queue_is_refused_and_recorded_without_the_identifier_grant(browser, db, people, run, pair)
    a_granted_reviewer_sees_both_sides_and_decides_once(browser, db, people, world, run, pair)


def test_an_acceptance_threshold_below_the_agreements_floor_is_refused(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    lax = {**MATCHED_PARAMS, "linkage": {"method": "probabilistic", "accept_probability": 0.8}}
    with pytest.raises(ValidationFailed) as refused:
        submit(db, people, world, "matched_comparison", lax, cohort_id=cohort_id)
    assert refused.value.status == 422
    assert "analysis.linkage.min_match_probability" in refused.value.message
    assert "0.95" in refused.value.message
    assert refused.value.fields == {
        "linkage.accept_probability": "At least 0.95 under this agreement "
        "(analysis.linkage.min_match_probability)."
    }


def with_a_pair(db: Session, run: AnalysisRun) -> LinkageReviewPair:
    """A pair between the thresholds (the synthetic cohort may leave none there)."""
    taken = {p.cohort_row for p in db.scalars(select(LinkageReviewPair))}
    pair = LinkageReviewPair(
        run_id=run.id,
        agreement_id=run.agreement_id,
        cohort_row=next(i for i in range(1000) if i not in taken),
        person_key="1",
        match_weight=1.5,
        match_probability=0.7,
        why="between the thresholds",
    )
    db.add(pair)
    db.commit()
    return pair


def the_queue_is_refused_and_recorded_without_the_identifier_grant(
    browser: Browser, db: Session, people: People, run: AnalysisRun, pair: LinkageReviewPair
) -> None:
    """A checker sees every run but holds no grant of the identifiers (403); another analyst
    does not see the run at all, answered as for a missing one (404). Both recorded."""
    browser.login(people.checker.email, PASSWORD)
    page = browser.get(f"/analyses/{run.id}/linkage/review")
    assert page.status_code == 403
    denied = [e for e in events(db, AuditType.LINKAGE_REVIEW_OPEN) if e.outcome == Outcome.DENIED]
    assert denied
    assert denied[-1].actor_id == people.checker.id
    posted = browser.post(f"/analyses/{run.id}/linkage/review/{pair.id}", {"decision": "match"})
    assert posted.status_code == 403
    browser.post("/logout")
    browser.login(people.analyst2.email, PASSWORD)
    assert browser.get(f"/analyses/{run.id}/linkage/review").status_code == 404
    unseen = events(db, AuditType.LINKAGE_REVIEW_OPEN)[-1]
    assert (unseen.actor_id, unseen.outcome, unseen.rule) == (
        people.analyst2.id,
        Outcome.DENIED,
        "run-requester",
    )
    posted = browser.post(f"/analyses/{run.id}/linkage/review/{pair.id}", {"decision": "match"})
    assert posted.status_code == 404
    assert fresh(db).get(LinkageReviewPair, pair.id).decision is None  # type: ignore[union-attr]
    assert [e for e in events(db, AuditType.LINKAGE_REVIEW_DECIDE) if e.outcome == Outcome.DENIED]


def a_granted_reviewer_sees_both_sides_and_decides_once(
    browser: Browser,
    db: Session,
    people: People,
    world: World,
    run: AnalysisRun,
    pair: LinkageReviewPair,
) -> None:
    browser.post("/logout")
    browser.login(people.analyst.email, PASSWORD)
    report = browser.get(f"/analyses/{run.id}/linkage")
    assert report.status_code == 200
    assert "Estimated precision" in report.get_data(as_text=True)
    page = browser.get(f"/analyses/{run.id}/linkage/review")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    cohort_name = world.data.cohort["name"].iloc[pair.cohort_row].strip()
    assert " ".join(cohort_name.split()) in " ".join(text.split())
    assert events(db, AuditType.LINKAGE_REVIEW_OPEN)[-1].outcome == Outcome.ALLOWED
    reads = events(db, AuditType.DATASET_READ)
    assert reads[-1].detail["clerical_review"] is True
    path = f"/analyses/{run.id}/linkage/review/{pair.id}"
    assert browser.post(path, {"decision": "match"}).status_code == 302
    decided = fresh(db).get(LinkageReviewPair, pair.id)
    assert decided is not None
    assert decided.decision == "match"
    assert decided.decided_by_id == people.analyst.id
    assert browser.post(path, {"decision": "non_match"}).status_code == 409
    assert fresh(db).get(LinkageReviewPair, pair.id).decision == "match"  # type: ignore[union-attr]
    decisions = events(db, AuditType.LINKAGE_REVIEW_DECIDE)
    assert [e.actor_id for e in decisions if e.outcome == Outcome.ALLOWED] == [people.analyst.id]
