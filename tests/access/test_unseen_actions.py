"""An action on someone else's access request or grant, by page or API: someone who may not see
it is answered exactly as for an id that names nothing (404, the same words), and either way
the attempt is recorded as a denied event of the action, the trail telling the two apart. Who
sees it but may not act is told so (403); a state that forbids the action is a 409."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from governance.access import grants as grant_service
from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity.models import User
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask, ask_and_grant
from tests.access.test_unseen_lookups import MISSING, same_answer
from tests.agreements.builders import Datasets
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.outputs.builders import denied
from tests.support import PASSWORD, People

RESUBMISSION = {
    "columns": ["sex"],
    "purpose": "descriptive",
    "justification": "Describe the cohort by sex.",
    "end_date": "2099-01-01",
}


@dataclass(frozen=True)
class Way:
    """An action as the page and the API take it: the address by the object's id, a valid
    form or body (so that only who may see the object decides the answer), the event a
    refusal records, and whether it acts on a grant (else on a request)."""

    page: str
    page_form: dict[str, Any]
    api: str
    api_body: dict[str, Any] | None
    event: AuditType
    on_grant: bool = False


ACTIONS = {
    "approve": Way(
        "/access/requests/{}/approve",
        {"approve-columns": ["sex"], "approve-comment": ""},
        "/api/v1/access-requests/{}/approve",
        {"columns": ["sex"]},
        AuditType.ACCESS_REQUEST_APPROVE,
    ),
    "approve identifiers": Way(
        "/access/requests/{}/approve-identifiers",
        {"second-comment": "Needed to link."},
        "/api/v1/access-requests/{}/approve-identifiers",
        {"comment": "Needed to link."},
        AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS,
    ),
    "deny": Way(
        "/access/requests/{}/deny",
        {"deny-reason": "Not necessary."},
        "/api/v1/access-requests/{}/deny",
        {"reason": "Not necessary."},
        AuditType.ACCESS_REQUEST_DENY,
    ),
    "return": Way(
        "/access/requests/{}/return",
        {"return-comment": "Fewer columns."},
        "/api/v1/access-requests/{}/return",
        {"comment": "Fewer columns."},
        AuditType.ACCESS_REQUEST_RETURN,
    ),
    "recount risk": Way(
        "/access/requests/{}/risk",
        {},
        "/api/v1/access-requests/{}/risk",
        None,
        AuditType.ACCESS_REQUEST_RISK_RECOMPUTE,
    ),
    "withdraw": Way(
        "/access/requests/{}/withdraw",
        {},
        "/api/v1/access-requests/{}/withdraw",
        None,
        AuditType.ACCESS_REQUEST_WITHDRAW,
    ),
    "nudge": Way(
        "/access/requests/{}/nudge",
        {},
        "/api/v1/access-requests/{}/nudge",
        None,
        AuditType.ACCESS_REQUEST_NUDGE,
    ),
    "resubmit": Way(
        "/access/requests/{}/resubmit",
        {**RESUBMISSION, "download": ""},
        "/api/v1/access-requests/{}/resubmit",
        RESUBMISSION,
        AuditType.ACCESS_REQUEST_SUBMIT,
    ),
    "revoke": Way(
        "/access/grants/{}/revoke",
        {"revoke-reason": "No longer needed."},
        "/api/v1/grants/{}/revoke",
        {"reason": "No longer needed."},
        AuditType.GRANT_REVOKE,
        on_grant=True,
    ),
    "review (narrow)": Way(
        "/access/grants/{}/review",
        {"review-keep": ["sex"], "review-comment": "Only sex."},
        "/api/v1/grants/{}/review",
        {"keep": ["sex"], "comment": "Only sex."},
        AuditType.GRANT_REVIEW,
        on_grant=True,
    ),
}
# The resubmit page already looked the request up as its reader sees it (its GET did):
# the API's action is the one that answered 403.
ALREADY_HIDDEN = {("resubmit", "page")}


def poster(
    app: Flask, db: Session, person: User, way: Way, via: str
) -> Callable[[int], TestResponse]:
    """`person` taking the action on an id, by page or API."""
    if via == "page":
        browser = Browser(app.test_client())
        browser.login(person.email, PASSWORD)
        return lambda object_id: browser.post(way.page.format(object_id), data=way.page_form)
    client, headers = app.test_client(), token_of(db, person)
    return lambda object_id: client.post(
        way.api.format(object_id), json=way.api_body, headers=headers
    )


def analysts_objects(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> tuple[int, int]:
    """The analyst's granted request's grant, and a request of theirs still waiting."""
    ask_and_grant(db, people, agreement, datasets)
    grant = fresh(db).scalars(select(Grant).where(Grant.user_id == people.analyst.id)).one()
    waiting = ask(db, people, agreement, datasets, ("sex",))
    return grant.id, waiting.id


@pytest.mark.parametrize("via", ["page", "api"])
@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_an_action_on_someone_elses_object_answers_as_a_missing_id_and_is_recorded(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    name: str,
    via: str,
) -> None:
    way = ACTIONS[name]
    grant_id, request_id = analysts_objects(db, people, agreement, datasets)
    object_id = grant_id if way.on_grant else request_id
    post = poster(app, db, people.analyst2, way, via)  # same agreement, not a steward

    hidden = post(object_id)
    missing = post(MISSING)
    noun = "grant" if way.on_grant else "access request"
    same_answer(hidden, object_id, missing, f"{noun} {{}} that you can see")

    event = AuditType.ACCESS_REQUEST_READ if (name, via) in ALREADY_HIDDEN else way.event
    probe, guess = denied(db, event)
    assert (probe.actor_email, guess.actor_email) == (people.analyst2.email,) * 2
    assert (probe.target_id, guess.target_id) == (str(object_id), str(MISSING))
    assert probe.rule == "own-or-stewarded-or-overseen"
    assert "stewards of its dataset" in probe.detail["reason"]
    assert probe.dataset_id == datasets.arrests.id
    assert guess.rule == audit.NO_SUCH_ID
    assert (guess.agreement_id, guess.dataset_id) == (None, None)


@pytest.mark.parametrize("via", ["page", "api"])
def test_who_sees_the_request_but_may_not_act_is_still_refused_403_and_recorded(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    via: str,
) -> None:
    """The requester sees their own request but does not approve it; a privacy officer sees
    every request but returns none (the steward does)."""
    request_id = ask(db, people, agreement, datasets).id
    for person, name in ((people.analyst, "approve"), (people.privacy, "return")):
        answer = poster(app, db, person, ACTIONS[name], via)(request_id)
        assert answer.status_code == 403, (person.email, name)
        [refused] = denied(db, ACTIONS[name].event)
        assert refused.actor_email == person.email
        assert refused.rule != audit.NO_SUCH_ID


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_state_that_forbids_the_action_is_a_409_for_who_may_take_it(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    via: str,
) -> None:
    request_id = ask_and_grant(db, people, agreement, datasets).id
    assert poster(app, db, people.steward, ACTIONS["deny"], via)(request_id).status_code == 409


# Who sees the object but may not take the action, and who may take it (in a state that
# forbids it: the request granted, the grant revoked), by the People attribute.
WHO = {
    "approve": ("analyst", "steward"),
    "approve identifiers": ("analyst", "privacy2"),
    "deny": ("analyst", "steward"),
    "return": ("analyst", "steward"),
    "recount risk": ("analyst", None),  # any state but withdrawn may be counted again
    "withdraw": ("steward", "analyst"),
    "nudge": ("steward", "analyst"),
    "resubmit": ("steward", "analyst"),
    "revoke": ("analyst", "steward"),
    "review (narrow)": ("analyst", "steward"),
}
INVALID = {"not_a_field": ["?"]}  # an unknown field: every action refuses it (422)


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_the_api_refuses_who_and_when_before_reading_the_body(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    name: str,
) -> None:
    way = ACTIONS[name]
    request_id = ask_and_grant(db, people, agreement, datasets).id
    grant = fresh(db).scalars(select(Grant).where(Grant.user_id == people.analyst.id)).one()
    object_id = grant.id if way.on_grant else request_id
    onlooker, actor = WHO[name]
    client = app.test_client()

    def post(person: User) -> TestResponse:
        url = way.api.format(object_id)
        return client.post(url, json=INVALID, headers=token_of(db, person))

    refused = post(getattr(people, onlooker))
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert [e.actor_email for e in denied(db, way.event)] == [getattr(people, onlooker).email]
    if actor is None:
        return
    if way.on_grant:
        grant_service.revoke_grant(
            db, grant_id=grant.id, reason="Ended.", by=people.steward, now=utcnow()
        )
        db.commit()
    late = post(getattr(people, actor))
    assert late.status_code == 409, late.get_data(as_text=True)
