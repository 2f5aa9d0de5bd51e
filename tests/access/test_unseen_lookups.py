"""Someone else's access request or grant, looked up by id on its page or through the API: a
404 worded exactly as for an id that names nothing (no oracle of which ids exist), and either
way a denied event in the audit trail naming who looked, the id and why."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.directory import Names
from governance.audit.models import AuditType
from governance.audit.sentences import sentence
from tests.access.test_requests_and_grants import ask, ask_and_grant
from tests.agreements.builders import Datasets
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.outputs.builders import denied
from tests.support import PASSWORD, People

MISSING = 987_654  # an id no test makes so many of

# (the page's address, the API's address, the event) of each kind, by the object's id.
KINDS = {
    "request": ("/access/requests/{}", "/api/v1/access-requests/{}", AuditType.ACCESS_REQUEST_READ),
    "grant": ("/access/grants/{}", "/api/v1/grants/{}", AuditType.GRANT_READ),
}


def others_object(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> dict[str, tuple[int, int, int]]:
    """The analyst's request and grant, as (id, agreement id, dataset id) by kind."""
    request = ask_and_grant(db, people, agreement, datasets)
    grant = fresh(db).scalars(select(Grant).where(Grant.user_id == people.analyst.id)).one()
    return {
        "request": (request.id, request.agreement_id, request.dataset_id),
        "grant": (grant.id, grant.agreement_id, grant.dataset_id),
    }


def prober(app: Flask, db: Session, people: People, via: str) -> Callable[[str], TestResponse]:
    """analyst2 (on the same agreement, not a steward) asking for an address by page or API."""
    if via == "page":
        browser = Browser(app.test_client())
        browser.login(people.analyst2.email, PASSWORD)
        return browser.get
    client, headers = app.test_client(), token_of(db, people.analyst2)
    return lambda url: client.get(url, headers=headers)


def same_answer(hidden: TestResponse, hidden_id: int, missing: TestResponse, echo: str) -> None:
    """The two answers are the same but for the id each echoes, in the words `echo`."""
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content_type == missing.content_type
    shown = _unsigned(hidden.get_data(as_text=True))
    assert echo.format(hidden_id) in shown
    assert shown.replace(echo.format(hidden_id), echo.format("#")) == _unsigned(
        missing.get_data(as_text=True)
    ).replace(echo.format(MISSING), echo.format("#"))


def _unsigned(page: str) -> str:
    """The page without its CSRF token (in its head and its forms), which is signed with the
    second it was made in."""
    token = re.search(r'name="csrf-token" content="([^"]*)"', page)
    return page.replace(token.group(1), "#") if token else page


@pytest.mark.parametrize("via", ["page", "api"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_someone_elses_request_or_grant_is_a_recorded_404_like_a_missing_id(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    kind: str,
    via: str,
) -> None:
    object_id, agreement_id, dataset_id = others_object(db, people, agreement, datasets)[kind]
    page, api, event_type = KINDS[kind]
    address = page if via == "page" else api
    kind_noun = "access request" if kind == "request" else "grant"
    get = prober(app, db, people, via)

    hidden = get(address.format(object_id))
    [probe] = denied(db, event_type)
    missing = get(address.format(MISSING))
    same_answer(hidden, object_id, missing, f"{kind_noun} {{}} that you can see")

    assert probe.actor_email == people.analyst2.email
    assert probe.actor_id == people.analyst2.id
    assert probe.target_id == str(object_id)
    assert probe.rule == "own-or-stewarded-or-overseen"
    assert "stewards of its dataset" in probe.detail["reason"]
    assert (probe.agreement_id, probe.dataset_id) == (agreement_id, dataset_id)
    # A missing id is a probe too: recorded, told apart in the trail, naming nothing else.
    [_, guess] = denied(db, event_type)
    assert guess.actor_email == people.analyst2.email
    assert guess.target_id == str(MISSING)
    assert guess.rule == audit.NO_SUCH_ID
    assert guess.detail["reason"] == "Nothing has this id."
    assert (guess.agreement_id, guess.dataset_id) == (None, None)


def test_the_owner_still_sees_their_request_and_nothing_is_recorded(
    browser: Browser, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets)
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(f"/access/requests/{request.id}").status_code == 200
    assert denied(db, AuditType.ACCESS_REQUEST_READ) == []


def test_the_probe_reads_as_a_sentence(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets)
    get = prober(app, db, people, "page")
    get(f"/access/requests/{request.id}")
    get(f"/access/requests/{MISSING}")
    hidden, missing = denied(db, AuditType.ACCESS_REQUEST_READ)
    names = Names(people={people.analyst2.email: "Analyst Two"}, agreements={}, datasets={})
    assert sentence(hidden, names) == (
        f"Refused: Analyst Two tried to open dataset {request.dataset_id} (access request "
        f"{request.id}) under agreement {request.agreement_id} — Only the person who asked, the "
        "stewards of its dataset, privacy officers and compliance managers see an access request."
    )
    assert sentence(missing, names) == (
        f"Refused: Analyst Two tried to open access request {MISSING} — Nothing has this id."
    )


@pytest.mark.parametrize("via", ["page", "api"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_no_answer_without_the_probes_audit_event(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    via: str,
) -> None:
    """As every refusal: if the trail cannot record the look-up, the request fails rather than
    answer unrecorded (tests/audit/test_audit_writer.py)."""
    object_id = others_object(db, people, agreement, datasets)[kind][0]
    page, api, event_type = KINDS[kind]
    get = prober(app, db, people, via)
    before = audit.chain_head(fresh(db))

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr(audit, "record", broken)
    for object_id_tried in (object_id, MISSING):
        with pytest.raises(RuntimeError, match="audit storage unavailable"):
            get((page if via == "page" else api).format(object_id_tried))
    assert audit.chain_head(fresh(db)) == before
    assert denied(db, event_type) == []
