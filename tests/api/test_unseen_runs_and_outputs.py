"""Someone else's analysis run or output, looked up or acted on by id, by page or API: someone
who may not see it is answered exactly as for an id that names nothing (404, the same words),
and either way the attempt is recorded as a denied event of what they tried, the trail telling
the two apart. Who sees it but may not act is told so (403, recorded); a state that forbids
the action is a 409."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity.models import User
from tests.access.test_unseen_lookups import MISSING, same_answer
from tests.analysis.test_probabilistic_linkage_runs import with_a_pair
from tests.api.scenario import World
from tests.compliance.test_api import token_of
from tests.conftest import Browser
from tests.outputs.builders import denied, report_pdf
from tests.support import PASSWORD

A = "/api/v1"
FLAG = {"kind": "factual_error", "part": "headline/treatment", "comment": "The year is wrong."}


@dataclass(frozen=True)
class Way:
    """A look-up or an action as the page or the API takes it: the address by the object's
    id, a valid form or body (so that only who may see the object decides the answer), the
    event a refusal records, and what the id names (`run`, `output` or `pair`: a linkage
    pair of the run)."""

    path: str
    event: AuditType
    names: str
    method: str = "get"
    body: dict[str, Any] | None = None
    upload: bool = False


WAYS = {
    # runs, by page
    "run page": Way("/analyses/{}", AuditType.ANALYSIS_DOWNLOAD, "run"),
    "run report": Way("/analyses/{}/download/pdf", AuditType.ANALYSIS_DOWNLOAD, "run"),
    "run csv": Way("/analyses/{}/download/csv", AuditType.ANALYSIS_DOWNLOAD, "run"),
    "run linkage": Way("/analyses/{}/linkage", AuditType.ANALYSIS_DOWNLOAD, "run"),
    "run linkage review": Way("/analyses/{}/linkage/review", AuditType.LINKAGE_REVIEW_OPEN, "run"),
    "linkage pair decision": Way(
        "/analyses/0/linkage/review/{}",
        AuditType.LINKAGE_REVIEW_DECIDE,
        "pair",
        "post",
        {"decision": "match"},
    ),
    # runs, by API
    "api run": Way(A + "/analyses/{}", AuditType.ANALYSIS_DOWNLOAD, "run"),
    "api run file": Way(A + "/analyses/{}/file?kind=csv", AuditType.ANALYSIS_DOWNLOAD, "run"),
    # outputs, by page
    "output page": Way("/outputs/{}", AuditType.OUTPUT_READ, "output"),
    "output file": Way("/outputs/{}/files/pdf", AuditType.OUTPUT_DOWNLOAD, "output"),
    "check": Way(
        "/outputs/{}/check",
        AuditType.OUTPUT_CHECK_APPROVE,
        "output",
        "post",
        {"decision": "approve"},
    ),
    "flag": Way("/outputs/{}/flags", AuditType.OUTPUT_FLAG, "output", "post", FLAG),
    "answer": Way(
        "/outputs/{}/flags/1/answer",
        AuditType.OUTPUT_FLAG_ANSWER,
        "output",
        "post",
        {"answer": "explained", "text": "It is right."},
    ),
    "accept": Way("/outputs/{}/flags/1/accept", AuditType.OUTPUT_FLAG_ACCEPT, "output", "post"),
    "resolve": Way(
        "/outputs/{}/flags/1/resolve",
        AuditType.OUTPUT_FLAG_RESOLVE,
        "output",
        "post",
        {"note": "The answer suffices."},
    ),
    "no concerns": Way("/outputs/{}/no-concerns", AuditType.OUTPUT_NO_CONCERNS, "output", "post"),
    "publish form": Way("/outputs/{}/publish", AuditType.OUTPUT_PUBLISH, "output"),
    "publish": Way("/outputs/{}/publish", AuditType.OUTPUT_PUBLISH, "output", "post"),
    "correction form": Way("/outputs/{}/correct", AuditType.OUTPUT_CORRECT, "output"),
    "correct": Way(
        "/outputs/{}/correct",
        AuditType.OUTPUT_CORRECT,
        "output",
        "post",
        {"summary": "Corrected."},
        upload=True,
    ),
    # outputs, by API
    "api output": Way(A + "/outputs/{}", AuditType.OUTPUT_READ, "output"),
    "api output file": Way(A + "/outputs/{}/file", AuditType.OUTPUT_DOWNLOAD, "output"),
    "api check": Way(
        A + "/outputs/{}/check",
        AuditType.OUTPUT_CHECK_RETURN,
        "output",
        "post",
        {"decision": "return", "reasons": "Small cells."},
    ),
    "api flag": Way(A + "/outputs/{}/flags", AuditType.OUTPUT_FLAG, "output", "post", FLAG),
    "api answer": Way(
        A + "/outputs/{}/flags/1/answer",
        AuditType.OUTPUT_FLAG_ANSWER,
        "output",
        "post",
        {"answer": "explained", "text": "It is right."},
    ),
    "api accept": Way(
        A + "/outputs/{}/flags/1/accept", AuditType.OUTPUT_FLAG_ACCEPT, "output", "post"
    ),
    "api resolve": Way(
        A + "/outputs/{}/flags/1/resolve",
        AuditType.OUTPUT_FLAG_RESOLVE,
        "output",
        "post",
        {"note": "The answer suffices."},
    ),
    "api no concerns": Way(
        A + "/outputs/{}/no-concerns", AuditType.OUTPUT_NO_CONCERNS, "output", "post", {}
    ),
    "api publish": Way(A + "/outputs/{}/publish", AuditType.OUTPUT_PUBLISH, "output", "post"),
    "api correct": Way(
        A + "/outputs/{}/correct",
        AuditType.OUTPUT_CORRECT,
        "output",
        "post",
        {"summary": "Corrected."},
        upload=True,
    ),
}
# How each kind of id is named in the answer, the rule that hides it and who sees it.
NAMED = {
    "run": ("analysis run {} that you can see", "run-requester", "analyst who asked"),
    "pair": ("linkage pair {} that you can see", "run-requester", "analyst who asked"),
    "output": ("output {} that you can see", "output-visibility", "the project team"),
}


def caller(app: Flask, db: Session, person: User, way: Way) -> Callable[[int], TestResponse]:
    """`person` taking the way on an id, by page (logged in) or API (a token)."""
    api = way.path.startswith(A)
    if api:
        client, headers = app.test_client(), token_of(db, person)
    else:
        browser = Browser(app.test_client())
        browser.login(person.email, PASSWORD)

    def call(object_id: int) -> TestResponse:
        url = way.path.format(object_id)
        if way.method == "get":
            return client.get(url, headers=headers) if api else browser.get(url)
        if way.upload:
            files = {**(way.body or {}), "pdf": (io.BytesIO(report_pdf()), "report.pdf")}
            if api:
                return client.post(
                    url, data=files, headers=headers, content_type="multipart/form-data"
                )
            return browser.post(url, files, content_type="multipart/form-data")
        if api:
            return client.post(url, json=way.body, headers=headers)
        return browser.post(url, way.body)

    return call


@pytest.mark.parametrize("name", sorted(WAYS))
def test_someone_elses_run_or_output_answers_as_a_missing_id_and_is_recorded(
    app: Flask, db: Session, world: World, name: str
) -> None:
    way = WAYS[name]
    object_id = {
        "run": world.their_run.id,
        "output": world.their_output.id,
        "pair": with_a_pair(db, world.their_run).id if way.names == "pair" else 0,
    }[way.names]
    prober = world.people.analyst  # of Test Lab: neither the outsider's run nor its output
    call = caller(app, db, prober, way)

    hidden = call(object_id)
    missing = call(MISSING)
    echo, rule, who_sees = NAMED[way.names]
    same_answer(hidden, object_id, missing, echo)

    probe, guess = (e for e in denied(db, way.event) if e.actor_email == prober.email)
    assert (probe.target_id, guess.target_id) == (str(object_id), str(MISSING))
    assert probe.rule == rule
    assert who_sees in probe.detail["reason"]
    assert probe.agreement_id == world.theirs.id
    assert guess.rule == audit.NO_SUCH_ID
    assert guess.agreement_id is None


# Who sees the object but may not take the action (403), by page and API, and the action.
SEES_BUT_MAY_NOT = [
    ("checker", "flag"),
    ("checker", "api flag"),
    ("checker", "correct"),
    ("checker", "api correct"),
    ("checker", "correction form"),
    ("checker", "publish form"),
    ("checker", "api publish"),
    ("checker", "api answer"),
]


@pytest.mark.parametrize(("who", "name"), SEES_BUT_MAY_NOT)
def test_who_sees_the_output_but_may_not_act_is_still_refused_403_and_recorded(
    app: Flask, db: Session, world: World, who: str, name: str
) -> None:
    way = WAYS[name]
    person = getattr(world.people, who)
    answer = caller(app, db, person, way)(world.their_output.id)
    assert answer.status_code == 403, answer.get_data(as_text=True)
    [refused] = denied(db, way.event)
    assert refused.actor_email == person.email
    assert refused.rule != audit.NO_SUCH_ID


def test_the_requester_is_refused_the_files_of_their_run_before_release_403_and_recorded(
    app: Flask, db: Session, world: World
) -> None:
    run_id = world.my_run.id
    for way in (WAYS["run report"], WAYS["api run file"]):
        db.rollback()  # the test's session holds nothing while the app writes
        answer = caller(app, db, world.people.analyst, way)(run_id)
        assert answer.status_code == 403, answer.get_data(as_text=True)
    refused = denied(db, AuditType.OUTPUT_DOWNLOAD)
    assert [(e.actor_email, e.rule) for e in refused] == [
        (world.people.analyst.email, "released-only")
    ] * 2


@pytest.mark.parametrize("name", ["publish", "api publish"])
def test_a_state_that_forbids_the_action_is_a_409_for_who_may_take_it(
    app: Flask, db: Session, world: World, name: str
) -> None:
    """A privacy officer sees every output, but publishes only a released one."""
    answer = caller(app, db, world.people.privacy, WAYS[name])(world.their_output.id)
    assert answer.status_code == 409, answer.get_data(as_text=True)
