"""What the API does, as a client would notice: the same permissions, refusals recorded with
the token's holder, only granted columns, and errors that name what is wrong."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.api.operations import MAX_JSON_BYTES
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.types import utcnow
from tests.api.scenario import Api, World
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

Clients = Callable[[str], Api]


def last_event(db: Session) -> AuditEvent:
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    return event


def test_lists_hold_only_what_the_pages_show(api: Clients, world: World) -> None:
    analyst = api("analyst").get("/api/v1/agreements").get_json()
    assert [a["id"] for a in analyst["items"]] == [world.mine.id]
    assert analyst["total"] == 1
    privacy = api("privacy").get("/api/v1/agreements?per_page=1").get_json()
    assert privacy["total"] == 2
    assert privacy["pages"] == 2
    assert len(privacy["items"]) == 1
    partner = api("partner").get("/api/v1/datasets").get_json()
    assert [d["name"] for d in partner["items"]] == ["Arrests"]
    requests = api("analyst").get("/api/v1/access-requests").get_json()
    assert {r["requester_id"] for r in requests["items"]} == {world.people.analyst.id}
    assert api("steward2").get(f"/api/v1/grants/{world.my_grant.id}").status_code == 404
    assert api("outsider").get(f"/api/v1/grants/{world.their_grant.id}").status_code == 200


def test_a_refusal_is_recorded_with_the_tokens_holder(
    api: Clients, world: World, db: Session
) -> None:
    answer = api("analyst").get(f"/api/v1/agreements/{world.theirs.id}")
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "Not allowed"
    event = last_event(db)
    assert event.event_type == AuditType.AGREEMENT_READ
    assert event.outcome == "denied"
    assert event.actor_email == world.people.analyst.email
    assert event.agreement_id == world.theirs.id


def test_rows_hold_only_the_granted_columns_and_each_read_is_recorded(
    api: Clients, world: World, db: Session
) -> None:
    arrests, mine = world.datasets.arrests.id, world.mine.id
    rows = (
        api("analyst")
        .get(
            f"/api/v1/datasets/{arrests}/rows?agreement={mine}"
            "&purpose=descriptive&per_page=5&page=2"
        )
        .get_json()
    )
    assert rows["columns"] == ["age_at_arrest", "sex"]
    assert rows["total"] == 30
    assert rows["page"] == 2
    assert len(rows["items"]) == 5
    assert set(rows["items"][0]) == {"age_at_arrest", "sex"}
    assert "SECRET-OFFENCE" not in json.dumps(rows)
    event = last_event(db)
    assert (event.event_type, event.outcome) == (AuditType.DATASET_READ, "allowed")
    assert event.detail["row_count"] == 5
    assert event.actor_email == world.people.analyst.email

    refused = api("analyst").get(
        f"/api/v1/datasets/{arrests}/rows?agreement={mine}"
        "&purpose=descriptive&filter=offence_category:eq:theft"
    )
    assert refused.status_code == 403
    assert "SECRET" not in refused.get_data(as_text=True)
    event = last_event(db)
    assert (event.event_type, event.outcome) == (AuditType.DATASET_READ, "denied")
    nothing = api("analyst2").get(
        f"/api/v1/datasets/{arrests}/rows?agreement={mine}&purpose=descriptive"
    )
    assert nothing.status_code == 403


def test_requests_and_grants_follow_the_same_rules(api: Clients, world: World, db: Session) -> None:
    pending = f"/api/v1/access-requests/{world.my_pending.id}"
    assert (
        api("analyst")
        .post(f"{pending}/approve", json={"columns": ["offence_category"]})
        .status_code
        == 403
    )  # nobody reviews their own
    assert (
        api("steward2")
        .post(f"{pending}/approve", json={"columns": ["offence_category"]})
        .status_code
        == 404
    )  # not this dataset's steward: it is not theirs to see (as a missing id)
    approved = api("steward").post(
        f"{pending}/approve",
        json={"columns": ["offence_category"], "comment": "Needed for the outcome measure."},
    )
    assert approved.status_code == 200
    body = approved.get_json()
    assert body["status"] == "approved"
    assert body["grant_id"] is not None
    again = api("steward").post(f"{pending}/approve", json={"columns": ["offence_category"]})
    assert again.status_code == 409
    assert again.get_json()["allowed"] == []
    grant = api("analyst").get(f"/api/v1/grants/{body['grant_id']}").get_json()
    assert grant["columns"] == ["offence_category"]
    assert grant["actions"] == []
    assert api("steward").get(f"/api/v1/grants/{body['grant_id']}").get_json()["actions"] == [
        "revoke",
        "review",
    ]


def new_draft(privacy: Api, world: World) -> dict[str, Any]:
    draft = privacy.post(
        "/api/v1/agreements",
        json={
            "provider_id": world.people.police.id,
            "recipient_id": world.people.lab.id,
            "title": "Draft",
            "purpose": "To be written.",
            "effective_date": "2030-01-01",
            "expiry_date": "2030-12-31",
        },
    )
    assert draft.status_code == 201
    created: dict[str, Any] = draft.get_json()
    return created


def test_agreement_drafts_through_the_api_are_recorded_like_the_pages(
    api: Clients, world: World, db: Session
) -> None:
    privacy = api("privacy")
    created = new_draft(privacy, world)
    assert created["status"] == "draft"
    assert created["actions"] == ["edit", "submit"]
    assert created["terms"]["min_cell_size"] == 10
    assert {c["id"] for c in created["clauses"]} >= {"publication.min_cell_size", "scope.datasets"}
    edited = privacy.patch(f"/api/v1/agreements/{created['id']}", json={"title": "Renamed"})
    assert edited.get_json()["title"] == "Renamed"
    assert edited.get_json()["terms"]["purpose"] == "To be written."
    event = last_event(db)
    assert event.event_type == AuditType.AGREEMENT_UPDATE
    assert [c["clause"] for c in event.detail["changes"]] == ["scope.title"]
    incomplete = privacy.post(f"/api/v1/agreements/{created['id']}/submit")
    assert incomplete.status_code == 422
    assert "permitted_uses" in incomplete.get_json()["fields"]
    assert fresh(db).get(Agreement, created["id"]).status == "draft"  # type: ignore[union-attr]


def test_an_agreement_in_force_refuses_edits_before_their_terms_are_read(
    api: Clients, world: World, db: Session
) -> None:
    """409 with the actions allowed, whatever the body: a client is not told to correct
    terms it may not send at all; without the permission, 403 (recorded) comes first."""
    path = f"/api/v1/agreements/{world.mine.id}"
    for body in ({"destruction_days": 100000}, {"title": "Renamed"}):
        answer = api("privacy").patch(path, json=body)
        assert answer.status_code == 409, answer.get_json()
        assert "amend" in answer.get_json()["allowed"]
    refused = api("analyst").patch(path, json={"destruction_days": 100000})
    assert refused.status_code == 403
    event = last_event(db)
    assert (event.event_type, event.outcome) == (AuditType.AGREEMENT_UPDATE, "denied")


def test_bodies_are_checked_field_by_field(api: Clients, world: World) -> None:
    privacy = api("privacy")
    path = f"/api/v1/agreements/{world.mine.id}/terminate"
    unknown = privacy.post(path, json={"reason": "x", "because": "y"})
    assert unknown.status_code == 422
    assert unknown.get_json()["fields"] == {"because": "unknown field"}
    wrong = privacy.post(path, json={"reason": 5})
    assert wrong.get_json()["fields"] == {"reason": "expected string"}
    missing = privacy.post(path, json={})
    assert missing.get_json()["fields"] == {"reason": "required"}
    control = privacy.post(path, json={"reason": "a\x00b"})
    assert control.status_code == 422
    nested = privacy.patch(
        f"/api/v1/agreements/{new_draft(privacy, world)['id']}",
        json={"personnel": [{"user_id": "me", "role": "analyst"}]},
    )
    assert nested.get_json()["fields"] == {"personnel[0].user_id": "expected integer"}
    assert (
        privacy.post(
            path, data="{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        privacy.post(
            path, data="reason=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
        ).status_code
        == 415
    )
    assert (
        privacy.post(path, data="NaN", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    huge = privacy.post(
        path, data="x" * (MAX_JSON_BYTES + 1), headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 413
    assert huge.get_json()["status"] == 413
    # A draft may be submitted: its body is then read (none is taken).
    draft = new_draft(privacy, world)["id"]
    assert (
        privacy.post(f"/api/v1/agreements/{draft}/submit", json={"surprise": True}).status_code
        == 422
    )


def test_query_parameters_are_checked(api: Clients, world: World) -> None:
    analyst = api("analyst")
    assert analyst.get("/api/v1/agreements?colour=red").get_json()["fields"] == {
        "colour": "unknown query parameter"
    }
    assert analyst.get("/api/v1/agreements?page=0").status_code == 422
    assert analyst.get("/api/v1/agreements?page=99999999999999999999").status_code == 422
    assert analyst.get("/api/v1/me?x=1").status_code == 422
    assert analyst.get("/api/v1/agreements/99999999999").status_code == 404
    assert analyst.get("/agreements/99999999999").status_code in {302, 404}


def test_uploads_go_through_the_ingestion_service(
    app: Flask, api: Clients, world: World, db: Session
) -> None:
    path = f"/api/v1/datasets/{world.datasets.arrests.id}/versions"
    header = ",".join(c.name for c in world.datasets.arrests.columns)
    csv = f"{header}\nP9,Nine,1990-01-01,F,30,2025-02-01,theft,north\n".encode()
    steward = api("steward")
    stored = steward.client.post(
        path,
        headers=steward._headers(),
        data={"file": (io.BytesIO(csv), "arrests-v2.csv")},
        content_type="multipart/form-data",
    )
    assert stored.status_code == 201, stored.get_json()
    assert stored.get_json()["number"] == 2
    assert stored.get_json()["rows"] == 1
    analyst = api("analyst")
    refused = analyst.client.post(
        path,
        headers=analyst._headers(),
        data={"file": (io.BytesIO(csv), "arrests-v3.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    assert last_event(db).outcome == "denied"
    bad = steward.client.post(
        path,
        headers=steward._headers(),
        data={"file": (io.BytesIO(b"nope\n1\n"), "bad.csv")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert (last_event(db).event_type, last_event(db).outcome) == (
        AuditType.DATASET_INGEST,
        "failure",
    )
    assert steward.post(path, json={"file": "x"}).status_code == 415


def test_audit_search_export_and_head(api: Clients, world: World, db: Session) -> None:
    compliance = api("compliance")
    first = compliance.get("/api/v1/audit/events?per_page=3").get_json()
    assert len(first["items"]) == 3
    assert first["next"] == first["items"][-1]["seq"]
    second = compliance.get(f"/api/v1/audit/events?per_page=3&before={first['next']}")
    assert second.get_json()["items"][0]["seq"] < first["next"]
    assert last_event(db).event_type == AuditType.AUDIT_SEARCH
    head = compliance.get("/api/v1/audit/head").get_json()
    exported = compliance.get("/api/v1/audit/export?format=csv&event_type=grant:create")
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert text.startswith("# audit chain head")
    assert text.rstrip().endswith("# end of export: rows=2")
    export_event = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_EXPORT))
        .one()
    )
    assert export_event.detail["head_seq"] >= head["seq"]
    assert compliance.get("/api/v1/audit/events?event_type=nonsense").status_code == 422
    assert api("analyst").get("/api/v1/audit/export?format=csv").status_code == 403
    assert api("analyst").get("/api/v1/audit/head").status_code == 403


def test_answers_are_not_cached_and_carry_no_cookie(api: Clients) -> None:
    answer = api("analyst").get("/api/v1/agreements")
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers
    assert api("analyst").get("/api/v1/nowhere").get_json()["status"] == 404
    assert api("analyst").client.delete("/api/v1/me").get_json()["status"] == 405


def test_a_returned_request_is_sent_again_by_its_requester(
    api: Clients, world: World, db: Session
) -> None:
    pending = f"/api/v1/access-requests/{world.my_pending.id}"
    body = {
        "columns": ["offence_category"],
        "purpose": "descriptive",
        "justification": "The outcome measure, nothing else.",
        "end_date": (utcnow().date() + dt.timedelta(days=30)).isoformat(),
    }
    assert api("analyst").post(f"{pending}/resubmit", json=body).status_code == 409
    assert (
        api("steward")
        .post(f"{pending}/return", json={"comment": "Say why you need it."})
        .status_code
        == 200
    )
    assert "resubmit" in api("analyst").get(pending).get_json()["actions"]
    assert "resubmit" not in api("steward").get(pending).get_json()["actions"]
    assert api("steward").post(f"{pending}/resubmit", json=body).status_code == 403
    sent = api("analyst").post(f"{pending}/resubmit", json=body)
    assert sent.status_code == 200
    assert sent.get_json()["status"] == "submitted"
    assert sent.get_json()["columns"] == [
        {"name": "offence_category", "approved": None, "form": None}
    ]


def test_a_signed_in_browsers_cookie_is_neither_read_nor_answered_by_the_api(
    app: Flask, api: Callable[[str], Api], people: People
) -> None:
    """The API authenticates by bearer token alone: a browser signed in to the pages gets a
    401 from it without a token, and its answers (with a token) carry no cookie and do not
    vary by cookie; the same browser's pages still know who it is."""
    browser = Browser(app.test_client())
    assert browser.login(people.analyst.email, PASSWORD).status_code == 302
    assert browser.get("/api/v1/me").status_code == 401
    with_token = Api(browser.client, api("analyst").token)
    answer = with_token.get("/api/v1/me")
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert answer.headers["Vary"] == "Authorization"
    assert answer.headers["Cache-Control"] == "no-store"
    page = browser.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert page.request.path != "/login"
    assert "Cookie" in page.headers.get("Vary", "")


def test_public_answers_stay_public_and_vary_by_authorization(app: Flask) -> None:
    """The visa keys are declared cacheable: their Cache-Control is kept, and Authorization
    is added to whatever Vary the view set."""
    keys = app.test_client().get("/api/v1/passport/jwks.json")
    assert keys.status_code == 200
    assert keys.headers["Cache-Control"].startswith("public")
    assert "Authorization" in keys.headers["Vary"]


def test_nul_in_an_api_query_is_refused(api: Callable[[str], Api]) -> None:
    for query in ("purpose=%00", "x%00=1", "purpose=a\x00b"):
        answer = api("analyst").get(f"/api/v1/agreements?{query}")
        assert answer.status_code == 422, query
        assert "NUL" in answer.get_json()["message"]
    assert api("analyst").get("/api/v1/agreements?q=%2500").status_code != 500
