"""Analyses and outputs through the API, as a client would notice: the same services as the
pages decide (scope gate, separation of duties, the provider's preview, the lifecycle), every
refusal is recorded with the token's holder, and downloads are recorded before they leave."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests as access_requests
from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.runner import execute_run
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.outputs.models import Output
from governance.outputs.released_csv import csv_of
from tests.agreements.builders import make_probation_partner
from tests.api.scenario import Api, World
from tests.conftest import fresh
from tests.outputs.builders import check_twice, released, report_pdf

Clients = Callable[[str], Api]


def last_event(db: Session, event_type: AuditType | None = None) -> AuditEvent:
    statement = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if event_type is not None:
        statement = statement.where(AuditEvent.event_type == event_type)
    event = fresh(db).scalars(statement).first()
    assert event is not None
    return event


def grant_people_by_sex(db: Session, world: World) -> None:
    """The analyst may read person_id and sex of the arrests for descriptive analyses."""
    people = world.people
    request = access_requests.submit_request(
        db,
        agreement_id=world.mine.id,
        dataset_id=world.datasets.arrests.id,
        columns=["person_id", "sex"],
        purpose="descriptive",
        justification="Count people.",
        end_date=utcnow().date() + dt.timedelta(days=30),
        download=False,
        by=people.analyst,
        now=utcnow(),
    )
    access_requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    access_requests.privacy_approve(
        db,
        request_id=request.id,
        comment="Linkage needs the identifiers; they never leave the environment.",
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()


def submission(world: World, **changes: object) -> dict[str, object]:
    return {
        "agreement_id": world.mine.id,
        "kind": "descriptive",
        "datasets": {"records": world.datasets.arrests.id},
        "parameters": {"group_by": ["sex"]},
        **changes,
    }


def test_an_analyst_submits_an_analysis_and_sees_it_queued_then_its_result(
    app: Flask, api: Clients, world: World, db: Session
) -> None:
    grant_people_by_sex(db, world)
    analyst = api("analyst")
    answer = analyst.post("/api/v1/analyses", json=submission(world, title="By sex"))
    assert answer.status_code == 201, answer.get_json()
    run = answer.get_json()
    assert (run["status"], run["title"], run["kind"]) == ("queued", "By sex", "descriptive")
    assert run["requested_by_id"] == world.people.analyst.id
    assert run["result"] is None
    event = last_event(db, AuditType.ANALYSIS_SUBMIT)
    assert (event.actor_email, event.target_id) == (world.people.analyst.email, str(run["id"]))
    listed = analyst.get("/api/v1/analyses?status=queued").get_json()
    assert [r["id"] for r in listed["items"]] == [run["id"]]
    assert {r["id"] for r in api("checker").get("/api/v1/analyses").get_json()["items"]} >= {
        run["id"],
        world.their_run.id,
    }
    assert api("analyst2").get("/api/v1/analyses").get_json()["total"] == 0

    status = execute_run(database(app), run["id"], worker_id="test-worker")
    assert status == RunStatus.SUCCEEDED
    done = analyst.get(f"/api/v1/analyses/{run['id']}").get_json()
    assert done["status"] == "succeeded"
    assert done["result"]["tables"]
    assert done["provenance"]["sources"]["records"]["rows"] == 30
    assert done["report_sha256"] == fresh(db).get(AnalysisRun, run["id"]).report_sha256
    text = json.dumps(done)
    assert "P0001" not in text  # released figures, never rows
    assert "Person 1" not in text
    assert done["output_id"] is not None
    # The report leaves as the output's file: not before two checks and the preview.
    refused = analyst.get(f"/api/v1/analyses/{run['id']}/file")
    assert refused.status_code == 403
    event = last_event(db)
    assert (event.event_type, event.outcome, event.rule, event.actor_email) == (
        AuditType.OUTPUT_DOWNLOAD,
        "denied",
        "released-only",
        world.people.analyst.email,
    )
    report = api("checker").get(f"/api/v1/analyses/{run['id']}/file")
    assert (report.status_code, report.mimetype) == (200, "application/pdf")
    event = last_event(db)
    assert (event.event_type, event.actor_email, event.target_id) == (
        AuditType.OUTPUT_DOWNLOAD,
        world.people.checker.email,
        str(done["output_id"]),
    )
    assert event.detail["sha256"] == done["report_sha256"]  # revision 1 is the run's report


def test_a_submission_outside_the_grants_is_refused_and_recorded(
    api: Clients, world: World, db: Session
) -> None:
    # my_grant covers sex and age_at_arrest, not person_id, which a descriptive run reads
    refused = api("analyst").post("/api/v1/analyses", json=submission(world))
    assert refused.status_code == 403
    event = last_event(db)
    assert (event.event_type, event.outcome) == (AuditType.ANALYSIS_REFUSE, "denied")
    assert event.actor_email == world.people.analyst.email
    assert "person_id" in event.detail["denied_columns"]
    invalid = api("analyst").post(
        "/api/v1/analyses",
        json=submission(
            world, parameters={"group_by": ["sex"], "matching": {"neighbours": "three"}}
        ),
    )
    assert invalid.status_code == 422
    assert invalid.get_json()["fields"] == {"parameters.matching.neighbours": "expected integer"}
    assert (
        fresh(db).scalars(select(AnalysisRun).where(AnalysisRun.status == RunStatus.QUEUED)).first()
        is None
    )


def test_a_checkers_actions_and_what_each_person_sees(
    api: Clients, world: World, db: Session
) -> None:
    path = f"/api/v1/outputs/{world.my_output.id}"
    checker = api("checker")
    before = checker.get(path).get_json()
    assert before["actions"] == ["check", "file"]
    assert before["disclosure"]["policy"]["min_cell_size"] == 10
    first = checker.post(f"{path}/check", json={"decision": "approve"})
    assert first.status_code == 200
    assert first.get_json()["state"] == "produced: awaiting a second check"
    assert first.get_json()["actions"] == ["file"]  # one checker, one approval per revision
    event = last_event(db)
    assert (event.event_type, event.actor_email) == (
        AuditType.OUTPUT_CHECK_APPROVE,
        world.people.checker.email,
    )
    second = api("privacy").post(
        f"{path}/check", json={"decision": "approve", "reasons": "All counts >= 10."}
    )
    assert second.get_json()["status"] == "in_preview"
    assert second.get_json()["preview_closes_at"] is not None
    team = api("analyst").get(path).get_json()
    assert team["disclosure"] is None
    assert [c["checker"] for c in team["checks"]] == [
        world.people.checker.email,
        world.people.privacy.email,
    ]
    partner = api("partner").get(path).get_json()
    assert (partner["disclosure"], partner["checks"]) == (None, None)
    assert "populations" not in json.dumps(partner)


def test_a_partners_flag_the_answer_and_the_acceptance(
    app: Flask, api: Clients, world: World, db: Session
) -> None:
    check_twice(db, world.people, world.my_output, now=utcnow())
    path = f"/api/v1/outputs/{world.my_output.id}"
    flag = {
        "kind": "identifiable_information",
        "part": "by_sex/female",
        "comment": "A cell of two people.",
    }
    other = make_probation_partner(db, app, world.people)
    stranger = Api(app.test_client(), _token_for(db, other.id))
    assert api("partner").get("/api/v1/outputs").get_json()["total"] == 1
    raised = api("partner").post(f"{path}/flags", json=flag)
    assert raised.status_code == 201, raised.get_json()
    flags = raised.get_json()["flags"]
    assert [(f["kind"], f["part"], f["raised_by"]) for f in flags] == [
        ("identifiable_information", "by_sex/female", world.people.partner.email)
    ]
    assert last_event(db).event_type == AuditType.OUTPUT_FLAG
    team = api("analyst").get(path).get_json()
    assert team["flags"][0]["actions"] == ["answer"]
    answered = api("analyst").post(
        f"{path}/flags/{flags[0]['id']}/answer",
        json={"answer": "explained", "text": "The cell is suppressed: no value is released."},
    )
    assert answered.status_code == 200
    assert api("partner").get(path).get_json()["flags"][0]["actions"] == ["accept"]

    # a partner reviewer of another agency neither sees nor touches it: answered as for a
    # missing output (404), recorded
    assert stranger.get(path).status_code == 404
    assert stranger.post(f"{path}/flags/{flags[0]['id']}/accept").status_code == 404
    event = last_event(db)
    assert (event.event_type, event.outcome, event.actor_email) == (
        AuditType.OUTPUT_FLAG_ACCEPT,
        "denied",
        other.email,
    )

    accepted = api("partner").post(f"{path}/flags/{flags[0]['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.get_json()["status"] == "released"
    assert accepted.get_json()["flags"][0]["resolution"] == "accepted_by_partner"


def _token_for(db: Session, user_id: int) -> str:
    from governance.identity import tokens
    from tests.support import SETUP

    created = tokens.create_token(
        db, user_id=user_id, name="test", days=None, by=SETUP, now=utcnow()
    )
    db.commit()
    return created.secret


def test_a_refused_action_is_403_and_recorded_with_the_tokens_holder(
    api: Clients, world: World, db: Session
) -> None:
    path = f"/api/v1/outputs/{world.my_output.id}"
    refused = api("analyst").post(f"{path}/check", json={"decision": "approve"})
    assert refused.status_code == 403
    event = last_event(db)
    assert (event.event_type, event.outcome, event.actor_email) == (
        AuditType.OUTPUT_CHECK_APPROVE,
        "denied",
        world.people.analyst.email,
    )
    assert event.target_id == str(world.my_output.id)
    assert api("analyst").post(f"{path}/publish").status_code == 403
    assert last_event(db).event_type == AuditType.OUTPUT_PUBLISH


def test_a_transition_the_state_forbids_is_409(api: Clients, world: World, db: Session) -> None:
    path = f"/api/v1/outputs/{world.my_output.id}"
    answer = api("privacy").post(f"{path}/publish")
    assert answer.status_code == 409
    body = answer.get_json()
    assert "produced" in body["message"]
    assert set(body["allowed"]) >= {"check_approve", "check_return"}
    assert api("privacy").get(path).get_json()["status"] == "produced"
    # Before the preview the provider's partner does not see the output at all.
    early = api("partner").post(
        f"{path}/flags", json={"kind": "factual_error", "part": "headline", "comment": "x"}
    )
    assert early.status_code == 404


def test_the_file_of_a_cleared_output_is_downloaded_and_recorded(
    api: Clients, world: World, db: Session
) -> None:
    output = released(db, world.people, world.mine, kind="descriptive")
    path = f"/api/v1/outputs/{output.id}/file"
    assert api("analyst").get(f"/api/v1/outputs/{output.id}").get_json()["actions"] == [
        "correct",
        "file",
    ]
    pdf = api("analyst").get(path)
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert pdf.headers["X-Content-SHA256"] == output.pdf_sha256
    assert pdf.headers["Cache-Control"] == "no-store"
    event = last_event(db)
    assert (event.event_type, event.outcome, event.actor_email) == (
        AuditType.OUTPUT_DOWNLOAD,
        "success",
        world.people.analyst.email,
    )
    assert event.detail["file"] == "pdf"
    assert event.detail["sha256"] == output.pdf_sha256
    csv = api("analyst").get(f"{path}?kind=csv")
    assert (csv.status_code, csv.mimetype) == (200, "text/csv")
    refused = api("analyst").get(f"/api/v1/outputs/{world.my_output.id}/file")
    assert refused.status_code == 403  # not released yet
    assert last_event(db).outcome == "denied"


def test_an_analyst_of_another_organisation_is_refused_and_lists_nothing(
    api: Clients, world: World, db: Session
) -> None:
    """Answered as for a missing id (404), and recorded
    (tests/api/test_unseen_runs_and_outputs.py)."""
    outsider = api("outsider")
    assert outsider.get(f"/api/v1/outputs/{world.my_output.id}").status_code == 404
    event = last_event(db)
    assert (event.event_type, event.outcome, event.actor_email) == (
        AuditType.OUTPUT_READ,
        "denied",
        world.outsider.email,
    )
    assert outsider.get(f"/api/v1/analyses/{world.my_run.id}").status_code == 404
    assert last_event(db).event_type == AuditType.ANALYSIS_DOWNLOAD
    assert outsider.get(f"/api/v1/outputs/{world.my_output.id}/file").status_code == 404
    assert [o["id"] for o in outsider.get("/api/v1/outputs").get_json()["items"]] == [
        world.their_output.id
    ]
    assert [r["id"] for r in outsider.get("/api/v1/analyses").get_json()["items"]] == [
        world.their_run.id
    ]
    assert outsider.get("/api/v1/outputs/999999").status_code == 404
    assert outsider.get("/api/v1/analyses/999999").status_code == 404


def test_a_checker_asking_to_correct_is_refused_before_the_body_is_read(
    api: Clients, world: World, db: Session
) -> None:
    """Permission (403, recorded) before the media type (415) and the files (422), for a
    checker who sees the output but does not correct it."""
    path = f"/api/v1/outputs/{world.my_output.id}/correct"
    for answer in (
        api("checker").post(path, json={"summary": "Corrected."}),
        api("checker").post(path, data={}, content_type="multipart/form-data"),
    ):
        assert answer.status_code == 403, answer.get_json()
        event = last_event(db)
        assert (event.event_type, event.outcome) == (AuditType.OUTPUT_CORRECT, "denied")
    assert fresh(db).get(Output, world.my_output.id).revision == 1  # type: ignore[union-attr]


def test_a_correction_is_checked_like_the_pages_one(
    api: Clients, world: World, db: Session
) -> None:
    path = f"/api/v1/outputs/{world.my_output.id}/correct"
    analyst = api("analyst")

    def send(result: bytes) -> Any:
        return analyst.client.post(
            path,
            headers=analyst._headers(),
            data={
                "pdf": (io.BytesIO(report_pdf()), "report.pdf"),
                "csv": (io.BytesIO(csv_of(world.my_output.result)), "figures.csv"),
                "result": (io.BytesIO(result), "result.json"),
                "summary": "Corrected.",
            },
            content_type="multipart/form-data",
        )

    assert send(b'{"tables": [}').status_code == 422
    assert send(b'{"tables": "\\ud800"}').get_json()["fields"] == {
        "result": "Upload the result as UTF-8 JSON."
    }
    unreleasable = send(
        json.dumps(
            {
                "tables": [
                    {
                        "id": "t",
                        "title": "Raw rows",
                        "dimensions": ["name"],
                        "cells": [
                            {
                                "id": "t/1",
                                "labels": {"name": "Ann"},
                                "suppressed": False,
                                "values": {"count": 2},
                            }
                        ],
                    }
                ]
            }
        ).encode()
    )
    assert unreleasable.status_code == 422
    assert fresh(db).get(Output, world.my_output.id).revision == 1  # type: ignore[union-attr]
    wrong_file = analyst.client.post(
        path,
        headers=analyst._headers(),
        data={
            "pdf": (io.BytesIO(b"not a pdf"), "report.pdf"),
            "csv": (io.BytesIO(b"a\n1\n"), "figures.csv"),
            "summary": "x",
        },
        content_type="multipart/form-data",
    )
    assert wrong_file.status_code == 422
