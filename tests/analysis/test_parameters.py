"""Every analysis kind refuses parameters it does not take (422 naming them, recorded), and the
API, its OpenAPI description and the run form agree on which parameters each kind takes.

The finding: the descriptive kind accepted and silently ignored parameters that the API
description said it refuses, so a run could differ from what its author asked for.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis import runs as analyses
from governance.analysis.engine import kind_parameters, list_kinds
from governance.analysis.models import AnalysisRun
from governance.analysis.web_forms import RunForm, parameters_from
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.identity import tokens
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from governance.openapi import document
from tests.analysis.conftest import MATCHED_PARAMS, World
from tests.conftest import fresh
from tests.support import SETUP, People

VALID: dict[str, dict[str, Any]] = {
    "descriptive": {"group_by": ["sex"], "rate_of": "reoffended"},
    "rate_comparison": {
        "group_column": "sex",
        "group_a": "F",
        "group_b": "M",
        "outcome": "reoffended",
    },
    "matched_comparison": dict(MATCHED_PARAMS),
}
# Each kind sent a parameter that another kind takes, and one that no kind takes.
EXTRA: dict[str, dict[str, Any]] = {
    "descriptive": {"covariates": ["age_at_index"], "outcome": "reoffended"},
    "rate_comparison": {"group_by": ["sex"], "colour": "blue"},
    "matched_comparison": {"rate_of": "reoffended"},
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_parameter_the_kind_does_not_take_is_refused_by_name_and_recorded(
    db: Session, people: People, world: World, kind: str
) -> None:
    datasets = (
        {"index_events": world.events.id, "offences": world.offences.id}
        if kind == "matched_comparison"
        else {"records": world.events.id, "offences": world.offences.id}
    )
    with pytest.raises(ValidationFailed) as refused:
        analyses.submit_run(
            db,
            agreement_id=world.agreement.id,
            kind=kind,
            parameters={**VALID[kind], **EXTRA[kind]},
            datasets=datasets,
            by=people.analyst,
            now=utcnow(),
        )
    assert set(refused.value.fields) == {f"parameters.{name}" for name in EXTRA[kind]}
    for name in EXTRA[kind]:
        assert name in refused.value.message
    assert kind in refused.value.message
    db.rollback()
    assert refused.value.audit is not None
    audit.record_refusal(db, refused.value.audit, by=people.analyst)
    db.commit()
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert (event.event_type, event.outcome) == (AuditType.ANALYSIS_REFUSE, "denied")
    assert event.detail["unknown"] == sorted(EXTRA[kind])
    assert db.scalars(select(AnalysisRun)).all() == []


def test_the_api_answers_422_naming_the_parameter(
    app: Flask, db: Session, people: People, world: World
) -> None:
    token = tokens.create_token(
        fresh(db), user_id=people.analyst.id, name="t", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    answer = app.test_client().post(
        "/api/v1/analyses",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "agreement_id": world.agreement.id,
            "kind": "descriptive",
            "datasets": {"records": world.events.id},
            "parameters": {"group_by": ["sex"], "covariates": ["age_at_index"], "max_abs_smd": 0.2},
        },
    )
    assert answer.status_code == 422
    assert answer.get_json()["fields"] == {
        "parameters.covariates": "not a parameter of descriptive analyses",
        "parameters.max_abs_smd": "not a parameter of descriptive analyses",
    }


def test_the_openapi_description_says_which_kind_takes_each_parameter() -> None:
    taken = kind_parameters()
    assert set(taken) == {kind["name"] for kind in list_kinds()}
    body = document()["paths"]["/api/v1/analyses"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    described = body["properties"]["parameters"]
    every = {name for params in taken.values() for name in params}
    assert set(described["properties"]) == every
    assert described["additionalProperties"] is False
    for name, schema in described["properties"].items():
        for kind, params in taken.items():
            assert (f"{kind}:" in schema["description"]) == (name in params), (name, kind)
    for kind, params in taken.items():
        assert f"{kind} takes {', '.join(params)}" in described["description"]


FORM = {
    "title": "",
    "records_dataset": "1",
    "index_events_dataset": "1",
    "offences_dataset": "2",
    "group_by": "sex, region",
    "rate_of": "reoffended",
    "mean_of": "prior_offences",
    "group_column": "sex",
    "group_a": "F",
    "group_b": "M",
    "outcome": "reoffended",
    "covariates": "age_at_index, sex",
    "categorical": "sex",
    "method": "nearest",
    "neighbours": "2",
    "replace": "y",
    "caliper": "0.2",
    "max_abs_smd": "0.1",
    "data_complete_until": "2022-12-31",
    "cohort_id": "1",
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_the_run_form_sends_only_what_the_kind_takes(app: Flask, kind: str) -> None:
    """Every field of the form filled in: the parameters sent for a kind are its own."""
    with app.test_request_context("/analyses/new", method="POST", data=FORM):
        form = RunForm(meta={"csrf": False})
        for field in (
            form.records_dataset,
            form.index_events_dataset,
            form.offences_dataset,
            form.cohort_id,
        ):
            field.choices = [(1, "one"), (2, "two")]
        assert form.validate(), form.errors
        parameters, _ = parameters_from(form, kind)
    assert parameters
    assert set(parameters) <= set(kind_parameters()[kind])
