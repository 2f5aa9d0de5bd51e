"""The OpenAPI description: valid, complete, and true of real answers."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable

from flask import Flask
from openapi_spec_validator import validate

from governance.kernel.types import utcnow
from governance.openapi import document
from governance.outputs.released_csv import csv_of
from tests.api.conformance import assert_conforms
from tests.api.scenario import Api, World
from tests.outputs.builders import report_pdf


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_every_api_route_is_described_and_every_description_is_a_route(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                routes.add((method.lower(), path))
    described = {(method, path) for path, item in document()["paths"].items() for method in item}
    assert routes == described
    assert len(routes) >= 30


def test_the_description_is_served_without_a_token(app: Flask) -> None:
    answer = app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.get_json() == document()


class Recorder:
    """Sends requests as one person and checks every answer against the document."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.checked = 0

    def __call__(self, method: str, path: str, status: int, json: object = None) -> dict:
        call = getattr(self.api, method.lower())
        answer = call(path, json=json) if method in {"POST", "PATCH"} else call(path)
        assert answer.status_code == status, (method, path, answer.get_data(as_text=True))
        assert_conforms(method, path, answer)
        self.checked += 1
        return answer.get_json() if answer.mimetype == "application/json" else {}


def test_real_answers_match_their_declared_schemas(api: Callable[[str], Api], world: World) -> None:
    analyst, steward = Recorder(api("analyst")), Recorder(api("steward"))
    privacy, privacy2 = Recorder(api("privacy")), Recorder(api("privacy2"))
    compliance = Recorder(api("compliance"))
    people, mine, theirs = world.people, world.mine, world.theirs
    today = utcnow().date()

    # who, agreements
    analyst("GET", "/api/v1/me", 200)
    analyst("GET", "/api/v1/tokens", 200)
    analyst("GET", "/api/v1/agreements?sort=expiry&dir=desc", 200)
    analyst("GET", f"/api/v1/agreements/{mine.id}", 200)
    analyst("GET", f"/api/v1/agreements/{theirs.id}", 403)
    analyst("GET", "/api/v1/agreements/999999", 404)
    analyst("GET", "/api/v1/agreements?status=nonsense", 422)
    draft = privacy(
        "POST",
        "/api/v1/agreements",
        201,
        json={
            "provider_id": people.police.id,
            "recipient_id": people.lab.id,
            "title": "Second study",
            "purpose": "Count arrests by district.",
            "effective_date": today.isoformat(),
            "expiry_date": (today + dt.timedelta(days=200)).isoformat(),
            "permitted_uses": ["descriptive"],
            "laws": ["cjis"],
            "columns": [{"dataset_id": world.datasets.arrests.id, "columns": ["district"]}],
            "personnel": [{"user_id": people.analyst.id, "role": "principal_investigator"}],
            "signatories": [
                {"party": "provider", "name": "Chief Reyes"},
                {"party": "recipient", "name": "Dr Park", "title": "Director"},
            ],
        },
    )
    path = f"/api/v1/agreements/{draft['id']}"
    privacy("PATCH", path, 200, json={"min_cell_size": 11})
    privacy("PATCH", path, 422, json={"min_cell_size": "eleven"})
    privacy("POST", f"{path}/approve", 409)
    privacy("POST", f"{path}/submit", 200)
    privacy("POST", f"{path}/approve", 403)  # separation of duties
    privacy2("POST", f"{path}/return", 200, json={"comment": "Add the arrest date."})
    privacy("POST", f"{path}/submit", 200)
    approved = privacy2("POST", f"{path}/approve", 200, json={"comment": "Fine."})
    assert approved["status"] == "approved"  # in force only once the provider countersigns
    countersignature = {
        "name": "Chief Reyes",
        "title": "Chief of Police",
        "organisation": "Test Police",
        "signed_on": utcnow().date().isoformat(),
        "signed_copy_reference": "TPD-9",
    }
    analyst("POST", f"{path}/execute", 403, json=countersignature)
    privacy("POST", f"{path}/execute", 422, json={**countersignature, "signed_on": "2001-01-01"})
    executed = privacy("POST", f"{path}/execute", 200, json=countersignature)
    assert executed["status"] == "active"
    assert executed["versions"][0]["execution"]["signed_copy_reference"] == "TPD-9"
    privacy("POST", f"{path}/execute", 409, json=countersignature)
    privacy("POST", f"{path}/amend", 200, json={"reason": "Add a co-investigator."})
    privacy("POST", f"{path}/discard-amendment", 200)
    privacy("POST", f"{path}/terminate", 200, json={"reason": "Study cancelled."})
    privacy("POST", f"{path}/certify-destruction", 200, json={"statement": "Deleted."})
    analyst("POST", f"{path}/terminate", 403, json={"reason": "x"})

    # access requests and grants
    analyst("GET", "/api/v1/access-requests", 200)
    analyst("GET", f"/api/v1/access-requests/{world.my_request.id}", 200)
    analyst("GET", f"/api/v1/access-requests/{world.their_request.id}", 404)
    asked = analyst(
        "POST",
        "/api/v1/access-requests",
        201,
        json={
            "agreement_id": mine.id,
            "dataset_id": world.datasets.arrests.id,
            "columns": ["person_id"],
            "purpose": "descriptive",
            "justification": "Link to later arrests.",
            "end_date": (today + dt.timedelta(days=30)).isoformat(),
        },
    )
    analyst("POST", "/api/v1/access-requests", 422, json={"agreement_id": mine.id, "surprise": 1})
    steward(
        "POST",
        f"/api/v1/access-requests/{asked['id']}/approve",
        200,
        json={"columns": ["person_id"]},
    )
    privacy(
        "POST",
        f"/api/v1/access-requests/{asked['id']}/approve-identifiers",
        200,
        json={"comment": "Linkage needs the identifiers; they never leave the environment."},
    )
    steward(
        "POST",
        f"/api/v1/access-requests/{world.my_pending.id}/return",
        200,
        json={"comment": "Say why."},
    )
    analyst("POST", f"/api/v1/access-requests/{world.my_pending.id}/withdraw", 200)
    analyst(
        "POST", f"/api/v1/access-requests/{world.my_pending.id}/deny", 403, json={"reason": "no"}
    )
    analyst("GET", "/api/v1/grants?status=all", 200)
    analyst("GET", f"/api/v1/grants/{world.my_grant.id}", 200)
    steward(
        "POST",
        f"/api/v1/grants/{world.my_grant.id}/review",
        200,
        json={"keep": ["sex", "age_at_arrest"], "comment": "Still needed."},
    )
    analyst("POST", f"/api/v1/grants/{world.my_grant.id}/revoke", 403, json={"reason": "x"})

    # datasets and rows
    arrests = world.datasets.arrests.id
    analyst("GET", "/api/v1/datasets", 200)
    analyst("GET", f"/api/v1/datasets/{arrests}", 200)
    rows = analyst(
        "GET",
        f"/api/v1/datasets/{arrests}/rows?agreement={mine.id}"
        "&purpose=descriptive&sort=sex&filter=sex:eq:F",
        200,
    )
    assert rows["total"] == 10
    analyst(
        "GET",
        f"/api/v1/datasets/{arrests}/rows?agreement={mine.id}"
        "&purpose=descriptive&columns=offence_category",
        403,
    )
    steward(
        "POST",
        f"/api/v1/grants/{world.my_grant.id}/revoke",
        200,
        json={"reason": "No longer needed."},
    )

    # audit
    compliance("GET", "/api/v1/audit/events?per_page=5", 200)
    page = compliance("GET", "/api/v1/audit/events?per_page=5&outcome=denied", 200)
    assert page["items"]
    compliance("GET", "/api/v1/audit/head", 200)
    compliance("GET", "/api/v1/audit/export?format=jsonl", 200)
    analyst("GET", "/api/v1/audit/events", 403)

    # no token
    anonymous = Recorder(Api(analyst.api.client, None))
    anonymous("GET", "/api/v1/me", 401)
    assert analyst.checked + privacy.checked + steward.checked >= 35


def test_analysis_and_output_answers_match_their_declared_schemas(
    api: Callable[[str], Api], world: World
) -> None:
    analyst, steward, checker = (
        Recorder(api("analyst")),
        Recorder(api("steward")),
        Recorder(api("checker")),
    )
    privacy, partner = Recorder(api("privacy")), Recorder(api("partner"))
    arrests, today = world.datasets.arrests.id, utcnow().date()

    # analyses: lists, one run, a submission through the scope gate
    analyst("GET", "/api/v1/analyses", 200)
    analyst("GET", "/api/v1/analyses?status=succeeded&sort=id&dir=desc&per_page=5", 200)
    analyst("GET", "/api/v1/analyses?status=nonsense", 422)
    run = analyst("GET", f"/api/v1/analyses/{world.my_run.id}", 200)
    assert run["result"] == {"kind": "descriptive", "tables": [], "summary": "Counts."}
    checker("GET", f"/api/v1/analyses/{world.their_run.id}", 200)
    analyst("GET", f"/api/v1/analyses/{world.their_run.id}", 404)
    analyst("GET", "/api/v1/analyses/999999", 404)
    for kind in ("pdf", "csv"):  # its output is not released yet: the output's rule
        analyst("GET", f"/api/v1/analyses/{world.my_run.id}/file?kind={kind}", 403)
        answer = checker.api.get(f"/api/v1/analyses/{world.my_run.id}/file?kind={kind}")
        assert answer.status_code == 200
        assert_conforms("GET", f"/api/v1/analyses/{world.my_run.id}/file", answer)
    analyst("GET", f"/api/v1/analyses/{world.their_run.id}/file", 404)
    asked = analyst(
        "POST",
        "/api/v1/access-requests",
        201,
        json={
            "agreement_id": world.mine.id,
            "dataset_id": arrests,
            "columns": ["person_id", "sex"],
            "purpose": "descriptive",
            "justification": "Count people, not arrests.",
            "end_date": (today + dt.timedelta(days=30)).isoformat(),
        },
    )
    steward(
        "POST",
        f"/api/v1/access-requests/{asked['id']}/approve",
        200,
        json={"columns": ["person_id", "sex"]},
    )
    privacy(
        "POST",
        f"/api/v1/access-requests/{asked['id']}/approve-identifiers",
        200,
        json={"comment": "Linkage needs the identifiers; they never leave the environment."},
    )
    body = {
        "agreement_id": world.mine.id,
        "kind": "descriptive",
        "datasets": {"records": arrests},
        "parameters": {"group_by": ["sex"]},
        "title": "Arrests by sex",
    }
    queued = analyst("POST", "/api/v1/analyses", 201, json=body)
    assert (queued["status"], queued["result"]) == ("queued", None)
    analyst("GET", f"/api/v1/analyses/{queued['id']}/file", 404)  # no report yet
    analyst("POST", "/api/v1/analyses", 422, json={**body, "parameters": {"group_by": []}})
    analyst("POST", "/api/v1/analyses", 422, json={**body, "colour": "red"})
    analyst(
        "POST",
        "/api/v1/analyses",
        403,
        json={
            **body,
            "agreement_id": world.theirs.id,
            "datasets": {"records": world.datasets.probation.id},
        },
    )
    analyst("POST", "/api/v1/analyses", 404, json={**body, "agreement_id": 999999})
    checker("POST", "/api/v1/analyses", 403, json=body)

    # outputs: correction, two checks, the provider's preview, release, publication
    out = f"/api/v1/outputs/{world.my_output.id}"
    analyst("GET", "/api/v1/outputs?sort=title&dir=asc", 200)
    analyst("GET", "/api/v1/outputs?status=nonsense", 422)
    analyst("GET", out, 200)
    analyst("GET", f"/api/v1/outputs/{world.their_output.id}", 404)
    analyst("GET", "/api/v1/outputs/999999", 404)
    analyst("GET", f"{out}/file", 403)  # not released yet
    corrected = analyst.api.client.post(
        f"{out}/correct",
        headers=analyst.api._headers(),
        data={
            "pdf": (io.BytesIO(report_pdf()), "report.pdf"),
            "csv": (io.BytesIO(csv_of(world.my_output.result)), "figures.csv"),
            "summary": "Arrests by sex, corrected wording.",
        },
        content_type="multipart/form-data",
    )
    assert corrected.status_code == 200, corrected.get_json()
    assert_conforms("POST", f"{out}/correct", corrected)
    assert corrected.get_json()["revision"] == 2
    refused = checker.api.client.post(
        f"{out}/correct",
        headers=checker.api._headers(),
        data={"summary": "x"},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    assert_conforms("POST", f"{out}/correct", refused)
    analyst("POST", f"{out}/check", 403, json={"decision": "approve"})
    checker("POST", f"{out}/check", 422, json={"decision": "maybe"})
    checker("POST", f"{out}/check", 422, json={"decision": "return"})  # reasons required
    checker("POST", f"{out}/check", 200, json={"decision": "approve"})
    checker("POST", f"{out}/check", 403, json={"decision": "approve"})  # not twice
    previewed = privacy(
        "POST",
        f"{out}/check",
        200,
        json={"decision": "approve", "reasons": "Counts of 10 or more."},
    )
    assert previewed["status"] == "in_preview"
    partner("GET", "/api/v1/outputs", 200)
    seen = partner("GET", out, 200)
    assert (seen["disclosure"], seen["checks"], seen["actions"]) == (None, None, ["flag", "file"])
    partner(
        "POST",
        f"{out}/flags",
        422,
        json={"kind": "opinion", "part": "headline", "comment": "We would rather not."},
    )
    analyst(
        "POST",
        f"{out}/flags",
        403,
        json={"kind": "factual_error", "part": "headline", "comment": "x"},
    )
    flagged = partner(
        "POST",
        f"{out}/flags",
        201,
        json={"kind": "factual_error", "part": "headline", "comment": "The total is 121."},
    )
    flag = flagged["flags"][0]["id"]
    analyst("POST", f"{out}/flags/999999/answer", 404, json={"answer": "explained", "text": "x"})
    analyst(
        "POST", f"{out}/flags/{flag}/answer", 422, json={"answer": "corrected", "text": "Fixed."}
    )
    answered = analyst(
        "POST",
        f"{out}/flags/{flag}/answer",
        200,
        json={"answer": "explained", "text": "One person was counted twice in the source."},
    )
    assert answered["flags"][0]["answer"] == "explained"
    analyst(
        "POST", f"{out}/flags/{flag}/answer", 409, json={"answer": "explained", "text": "Again."}
    )
    privacy("POST", f"{out}/flags/{flag}/resolve", 409, json={"note": "It suffices."})
    analyst("POST", f"{out}/flags/{flag}/accept", 403)
    released = partner("POST", f"{out}/flags/{flag}/accept", 200)
    assert released["status"] == "released"
    for kind in ("pdf", "csv"):
        answer = analyst.api.get(f"{out}/file?kind={kind}")
        assert answer.status_code == 200
        assert_conforms("GET", f"{out}/file", answer)
        same = analyst.api.get(f"/api/v1/analyses/{world.my_run.id}/file?kind={kind}")
        assert (same.status_code, same.data) == (200, answer.data)
    analyst("GET", f"{out}/file?kind=docx", 422)
    analyst("POST", f"{out}/publish", 403)
    published = privacy("POST", f"{out}/publish", 200)
    assert published["status"] == "published"
    privacy("POST", f"{out}/publish", 409)
    partner(
        "POST",
        f"{out}/flags",
        409,
        json={"kind": "factual_error", "part": "headline", "comment": "Late."},
    )
    assert analyst.checked + checker.checked + privacy.checked + partner.checked >= 40
