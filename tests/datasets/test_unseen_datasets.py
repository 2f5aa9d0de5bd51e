"""Another provider agency's dataset, looked up by id on its page, through the API, or by an
upload or a change of its data-use conditions: a 404 worded exactly as for an id that names no
dataset (no oracle of which datasets exist), and either way a denied event in the audit trail
naming who looked, the id and why."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from governance.audit import service as audit
from governance.audit.directory import Names
from governance.audit.models import AuditEvent, AuditType
from governance.audit.sentences import sentence
from governance.datasets.models import Dataset
from governance.identity.models import User
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.outputs.builders import denied
from tests.support import PASSWORD, People

MISSING = 987_654


def _page(app: Flask) -> Callable[[str], TestResponse]:
    browser = Browser(app.test_client())
    browser.login("prob@test.example", PASSWORD)
    return browser.get


def _api(app: Flask, db: Session, person: User) -> Callable[[str], TestResponse]:
    client, headers = app.test_client(), token_of(db, person)
    return lambda url: client.get(url, headers=headers)


def _page_upload(app: Flask) -> Callable[[str], TestResponse]:
    browser = Browser(app.test_client())
    browser.login("prob@test.example", PASSWORD)
    return lambda url: browser.post(url, content_type="multipart/form-data")


def _api_data_use(app: Flask, db: Session, person: User) -> Callable[[str], TestResponse]:
    client, headers = app.test_client(), token_of(db, person)
    return lambda url: client.put(url, json={"permission": "DUO:0000042"}, headers=headers)


def recorded(event: AuditEvent) -> dict[str, object]:
    """What the trail keeps of a refused look-up, beside its type, time and chain."""
    return {
        "actor_email": event.actor_email,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "agreement_id": event.agreement_id,
        "dataset_id": event.dataset_id,
        "rule": event.rule,
        "detail": event.detail,
    }


# How each way in reaches a dataset by id: the address and the event a refusal records.
WAYS = {
    "page": ("/datasets/{}", AuditType.DATASET_VIEW),
    "api": ("/api/v1/datasets/{}", AuditType.DATASET_VIEW),
    "page upload": ("/datasets/{}/versions", AuditType.DATASET_INGEST),
    "api data use": ("/api/v1/datasets/{}/data-use", AuditType.DATASET_SET_DATA_USE),
}


def prober(app: Flask, db: Session, person: User, way: str) -> Callable[[str], TestResponse]:
    if way == "page":
        return _page(app)
    if way == "api":
        return _api(app, db, person)
    if way == "page upload":
        return _page_upload(app)
    return _api_data_use(app, db, person)


@pytest.mark.parametrize("way", sorted(WAYS))
def test_another_agencys_dataset_is_a_recorded_404_like_a_missing_id(
    app: Flask, db: Session, people: People, arrests: Dataset, other_agency: User, way: str
) -> None:
    address, event_type = WAYS[way]
    get = prober(app, db, other_agency, way)

    hidden = get(address.format(arrests.id))
    [probe] = denied(db, event_type)
    missing = get(address.format(MISSING))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content_type == missing.content_type
    echo = "There is no dataset {} that you can see."
    shown = hidden.get_data(as_text=True)
    assert echo.format(arrests.id) in shown
    assert "Arrests" not in shown
    assert shown.replace(echo.format(arrests.id), echo.format("#")) == missing.get_data(
        as_text=True
    ).replace(echo.format(MISSING), echo.format("#"))

    assert probe.actor_email == other_agency.email
    assert probe.target_type == "dataset"
    assert probe.target_id == str(arrests.id)
    assert probe.dataset_id == arrests.id
    [_, guess] = denied(db, event_type)
    # The whole of what the trail keeps of each, so that a change of wording of the answer
    # changes nothing recorded.
    assert recorded(probe) == {
        "actor_email": other_agency.email,
        "target_type": "dataset",
        "target_id": str(arrests.id),
        "agreement_id": None,
        "dataset_id": arrests.id,
        "rule": "own-agency-or-research-staff",
        "detail": {"reason": "A provider agency's people see only their own agency's datasets."},
    }
    assert recorded(guess) == recorded(probe) | {
        "target_id": str(MISSING),
        "dataset_id": None,
        "rule": audit.NO_SUCH_ID,
        "detail": {"reason": "Nothing has this id."},
    }


def test_the_agencys_own_people_and_research_staff_see_it_unrecorded(
    app: Flask, db: Session, people: People, arrests: Dataset
) -> None:
    for person in (people.partner, people.analyst):  # the police's partner; a researcher
        assert _api(app, db, person)(f"/api/v1/datasets/{arrests.id}").status_code == 200
    assert denied(db, AuditType.DATASET_VIEW) == []


def test_a_probe_of_a_missing_dataset_reads_as_a_sentence(
    app: Flask, db: Session, other_agency: User
) -> None:
    _page(app)(f"/datasets/{MISSING}")
    [guess] = denied(db, AuditType.DATASET_VIEW)
    names = Names(people={other_agency.email: "Prob"})
    assert sentence(guess, names) == (
        f"Refused: Prob tried to look at the description of dataset {MISSING} — Nothing has "
        "this id."
    )


@pytest.mark.parametrize("way", ["page", "api"])
def test_no_answer_without_the_probes_audit_event(
    app: Flask,
    db: Session,
    arrests: Dataset,
    other_agency: User,
    monkeypatch: pytest.MonkeyPatch,
    way: str,
) -> None:
    """As every refusal: if the trail cannot record the look-up, the request fails rather than
    answer unrecorded (tests/audit/test_audit_writer.py)."""
    address, event_type = WAYS[way]
    get = prober(app, db, other_agency, way)
    before = audit.chain_head(fresh(db))

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr(audit, "record", broken)
    for dataset_id in (arrests.id, MISSING):
        with pytest.raises(RuntimeError, match="audit storage unavailable"):
            get(address.format(dataset_id))
    assert audit.chain_head(fresh(db)) == before
    assert denied(db, event_type) == []
