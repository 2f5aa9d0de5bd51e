"""DUO on requests: a purpose that cannot fit the dataset's conditions is refused, naming the
term, and the refusal is recorded; the steward's page, the API and the audit trail carry the
terms; attackers' inputs are refused before anything is written. Both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.data_use import months_of_use
from governance.access.models import AccessRequest, RequestStatus
from governance.agreements.models import Agreement
from governance.audit.directory import Names
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.sentences import sentence
from governance.datasets import data_use
from governance.datasets.models import DatasetSteward
from governance.kernel.errors import PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.committees.test_committee_api import bearer
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

GRU, HMB, DS, NRES = "DUO:0000042", "DUO:0000006", "DUO:0000007", "DUO:0000004"
IRB, NPU, TS, PUB = "DUO:0000021", "DUO:0000045", "DUO:0000025", "DUO:0000019"


def state(db: Session, people: People, datasets: Datasets, **values: Any) -> None:
    fields: dict[str, Any] = {"permission": GRU, "disease": "", "modifiers": {}, "reason": ""}
    fields.update(values)
    data_use.set_data_use(
        db, dataset_id=datasets.arrests.id, by=people.steward, now=utcnow(), **fields
    )
    db.commit()


def events(db: Session, event_type: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == event_type).order_by(AuditEvent.seq)
        )
    )


def test_a_fitting_purpose_is_kept_and_audited(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    state(db, people, datasets, permission=GRU, modifiers={IRB: "", NPU: ""})
    request = ask(
        db,
        people,
        agreement,
        datasets,
        data_use={"term": HMB, "ethics_approval": "REC 26/LO/0001"},
    )
    assert request.data_use is not None
    assert request.data_use["term"] == HMB
    submitted = events(db, AuditType.ACCESS_REQUEST_SUBMIT)[-1]
    assert submitted.detail["data_use"]["term"] == HMB


def test_a_purpose_that_cannot_fit_is_refused_naming_the_term_and_nothing_is_written(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    state(db, people, datasets, permission=HMB)
    with pytest.raises(ValidationFailed) as refused:
        ask(db, people, agreement, datasets, data_use={"term": GRU})
    db.rollback()
    message = refused.value.message
    assert "health or medical or biomedical research (DUO:0000006) failed" in message
    assert refused.value.audit is not None
    assert refused.value.audit["clause"] == "data_use"
    assert refused.value.audit["detail"]["failed_term"] == HMB
    assert fresh(db).scalar(select(func.count()).select_from(AccessRequest)) == 0


def test_a_modifier_that_fails_is_the_term_named(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    state(db, people, datasets, permission=GRU, modifiers={IRB: "", TS: "1"})
    with pytest.raises(ValidationFailed) as refused:
        ask(db, people, agreement, datasets, data_use={"term": HMB})  # no ethics approval
    assert "ethics approval required (DUO:0000021)" in refused.value.message
    db.rollback()
    with pytest.raises(ValidationFailed) as refused:  # 60 days is three started months
        ask(db, people, agreement, datasets, data_use={"term": HMB, "ethics_approval": "REC 1"})
    assert "time limit on use (DUO:0000025)" in refused.value.message


def test_conditions_require_a_purpose_and_without_conditions_it_is_optional(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    assert ask(db, people, agreement, datasets).data_use is None
    state(db, people, datasets, permission=GRU)
    with pytest.raises(ValidationFailed) as refused:
        ask(db, people, agreement, datasets)
    assert refused.value.fields == {"duo_purpose": "Required for this dataset."}


@pytest.mark.parametrize(
    ("statement", "field"),
    [
        ({"term": "DUO:9999999"}, "duo_purpose"),  # not in the ontology
        ({"term": "not a term"}, "duo_purpose"),
        ({"term": IRB}, "duo_purpose"),  # a modifier posted as a purpose: another branch
        ({"term": NRES}, "duo_purpose"),  # "no restriction" is not a purpose
        ({"term": "DUO:0000014"}, "duo_purpose"),  # obsolete ("research use only")
        ({"term": DS}, "duo_disease"),  # disease-specific without its disease
        ({"term": DS, "disease": "cancer"}, "duo_disease"),
        ({"term": HMB, "research": ["DUO:0000042"]}, "duo_research"),  # a permission as a kind
    ],
)
def test_an_attackers_purpose_is_refused_before_anything_is_written(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    statement: dict[str, Any],
    field: str,
) -> None:
    state(db, people, datasets, permission=GRU)
    with pytest.raises(ValidationFailed) as refused:
        ask(db, people, agreement, datasets, data_use=statement)
    assert field in refused.value.fields
    db.rollback()
    assert fresh(db).scalar(select(func.count()).select_from(AccessRequest)) == 0


def test_disease_specific_data_takes_its_disease_only(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    state(db, people, datasets, permission=DS, disease="MONDO:0005015")
    with pytest.raises(ValidationFailed):
        ask(db, people, agreement, datasets, data_use={"term": DS, "disease": "MONDO:0004992"})
    db.rollback()
    made = ask(db, people, agreement, datasets, data_use={"term": DS, "disease": "mondo:0005015"})
    assert made.data_use is not None
    assert made.data_use["disease"] == "MONDO:0005015"


def test_approval_checks_again_after_the_steward_narrowed_the_conditions(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    state(db, people, datasets, permission=GRU)
    request = ask(db, people, agreement, datasets, data_use={"term": HMB})
    state(db, people, datasets, permission=GRU, modifiers={PUB: ""})
    with pytest.raises(ValidationFailed) as refused:
        requests.steward_approve(
            db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
        )
    assert "publication required (DUO:0000019)" in refused.value.message
    assert refused.value.audit is not None
    assert refused.value.audit["event_type"] == AuditType.ACCESS_REQUEST_APPROVE
    db.rollback()
    assert fresh(db).get(AccessRequest, request.id).status == RequestStatus.SUBMITTED  # type: ignore[union-attr]


def test_only_the_datasets_steward_states_conditions_and_loosening_needs_a_reason(
    db: Session, people: People, datasets: Datasets
) -> None:
    db.execute(delete(DatasetSteward).where(DatasetSteward.dataset_id == datasets.probation.id))
    db.commit()
    attempts = [(outsider, datasets.arrests.id) for outsider in (people.analyst, people.admin)]
    # A privacy officer, and a steward of another dataset.
    attempts += [(people.privacy, datasets.arrests.id), (people.steward, datasets.probation.id)]
    for by, dataset_id in attempts:
        with pytest.raises(PermissionDenied):
            data_use.set_data_use(
                db,
                dataset_id=dataset_id,
                permission=NRES,
                disease="",
                modifiers={},
                reason="",
                by=by,
                now=utcnow(),
            )
        db.rollback()
    state(db, people, datasets, permission=HMB, modifiers={IRB: ""})
    for looser in ({"permission": GRU, "modifiers": {IRB: ""}}, {"permission": HMB}):
        with pytest.raises(ValidationFailed) as refused:
            state(db, people, datasets, **looser)
        assert refused.value.fields == {"reason": "Required when the conditions are loosened."}
        db.rollback()
    # Narrowing needs no reason; loosening with one is recorded with before, after and why.
    state(db, people, datasets, permission=DS, disease="MONDO:0005015", modifiers={IRB: ""})
    state(db, people, datasets, permission=GRU, reason="The consent was re-sought in 2026.")
    changes = events(db, AuditType.DATASET_SET_DATA_USE)
    assert [c.detail["loosened"] for c in changes] == [False, False, True]
    assert changes[-1].detail["before"]["permission"] == DS
    assert changes[-1].detail["after"] == {"permission": GRU, "disease": "", "modifiers": {}}
    assert changes[-1].detail["reason"] == "The consent was re-sought in 2026."
    assert changes[-1].detail["ontology"] == "DUO 2021-02-23"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"permission": "DUO:0000000"}, "permission"),
        ({"permission": IRB}, "permission"),  # a modifier as the permission
        ({"modifiers": {GRU: ""}}, "modifiers"),  # a permission as a modifier
        ({"modifiers": {TS: "soon"}}, "modifier_ts"),
        ({"modifiers": {"DUO:0000026": ""}}, "modifier_us"),  # user-specific names no user
        ({"permission": DS, "disease": ""}, "disease"),
    ],
)
def test_bad_conditions_are_refused_with_their_field(
    db: Session, people: People, datasets: Datasets, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        state(db, people, datasets, **values)
    assert field in refused.value.fields
    db.rollback()
    assert fresh(db).get(type(datasets.arrests), datasets.arrests.id).data_use is None  # type: ignore[union-attr]


def test_through_the_api_a_refusal_is_422_naming_the_term_and_recorded(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    state(db, people, datasets, permission=HMB, modifiers={IRB: ""})
    client = app.test_client()
    body = {
        "agreement_id": agreement.id,
        "dataset_id": datasets.arrests.id,
        "columns": ["sex"],
        "purpose": "descriptive",
        "justification": "Describe the cohort.",
        "end_date": (utcnow().date() + dt.timedelta(days=30)).isoformat(),
        "data_use": {"term": GRU},
    }
    headers = bearer(db, people.analyst)
    steward_headers = bearer(db, people.steward)
    answer = client.post("/api/v1/access-requests", json=body, headers=headers)
    assert answer.status_code == 422
    assert "DUO:0000006" in answer.get_json()["message"]
    refusal = events(db, AuditType.ACCESS_REQUEST_SUBMIT)[-1]
    db.rollback()
    assert refusal.outcome == Outcome.DENIED
    assert refusal.detail["failed_term"] == HMB
    read = sentence(refusal, Names())
    assert read.startswith("Refused:")
    assert "health or medical or biomedical research (DUO:0000006)" in read
    body["data_use"] = {"term": DS, "disease": "MONDO:0005015", "ethics_approval": "REC 1"}
    answer = client.post("/api/v1/access-requests", json=body, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    made = answer.get_json()
    assert made["data_use"]["purpose"] == {
        "id": DS,
        "label": "disease specific research",
        "shorthand": "DS",
    }
    assert made["data_use_match"]["matches"] is True
    assert [o["term"] for o in made["data_use_match"]["outcomes"]] == [HMB, IRB]
    shown = client.get(f"/api/v1/datasets/{datasets.arrests.id}", headers=steward_headers)
    assert shown.get_json()["data_use"]["permission"]["label"] == (
        "health or medical or biomedical research"
    )


def test_the_review_page_shows_the_match_table(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    state(db, people, datasets, permission=GRU)
    request = ask(db, people, agreement, datasets, data_use={"term": HMB})
    state(db, people, datasets, permission=GRU, modifiers={PUB: ""})
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    page = steward.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert 'id="duo-match"' in page
    assert "The purpose does not fit: publication required (DUO:0000019)" in page
    assert "health or medical or biomedical research" in page


def test_a_steward_sets_conditions_on_the_dataset_page_and_errors_show_beside_fields(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    path = f"/datasets/{datasets.arrests.id}"
    refused = steward.post(
        f"{path}/data-use",
        {"permission": GRU, "modifiers": [TS], "modifier_ts": "forever"},
        headers={"Referer": f"http://localhost{path}"},
    )
    assert refused.status_code == 422
    assert "needs a number of months" in refused.get_data(as_text=True)
    saved = steward.post(
        f"{path}/data-use", {"permission": GRU, "modifiers": [TS], "modifier_ts": "12"}
    )
    assert saved.status_code == 302
    page = steward.get(path).get_data(as_text=True)
    assert "time limit on use" in page
    assert "DUO release 2021-02-23" in page


def test_months_of_use_count_started_months() -> None:
    assert months_of_use(dt.date(2026, 1, 15), dt.date(2026, 1, 15)) == 0
    assert months_of_use(dt.date(2026, 1, 15), dt.date(2026, 2, 15)) == 1
    assert months_of_use(dt.date(2026, 1, 15), dt.date(2026, 2, 16)) == 2
    assert months_of_use(dt.date(2026, 1, 31), dt.date(2026, 1, 1)) == 0


def test_no_change_of_conditions_without_its_audit_event(
    db: Session, people: People, datasets: Datasets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A steward cannot loosen the conditions unrecorded: when the audit write fails, the
    conditions stay as they were."""
    from governance.audit import service as audit

    state(db, people, datasets, permission=HMB, modifiers={IRB: ""})

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        state(db, people, datasets, permission=NRES, reason="Open it up.")
    db.rollback()
    kept = fresh(db).get(type(datasets.arrests), datasets.arrests.id)
    assert kept is not None
    assert kept.data_use == {"permission": HMB, "disease": "", "modifiers": {IRB: ""}}
