"""PUT /api/v1/datasets/<id>/data-use: the same service, permission, audit record and checks as
the dataset's page. A steward of the dataset states the conditions (audited before and after);
anyone else is refused (403, recorded); a bad term or a loosening without a reason is a 422 with
nothing written. Both databases."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.datasets.models import Dataset, DatasetSteward
from tests.access.test_duo_requests import GRU, HMB, IRB
from tests.agreements.builders import Datasets
from tests.committees.test_committee_api import bearer
from tests.conftest import fresh
from tests.support import People


def changes(db: Session) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.DATASET_SET_DATA_USE)
            .order_by(AuditEvent.seq)
        )
    )


def stored(db: Session, dataset_id: int) -> Any:
    found = fresh(db).get(Dataset, dataset_id)
    assert found is not None
    return found.data_use


def test_the_steward_states_the_conditions_and_it_is_audited(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    client, headers = app.test_client(), bearer(db, people.steward)
    url = f"/api/v1/datasets/{datasets.arrests.id}/data-use"
    answer = client.put(url, json={"permission": HMB, "modifiers": {IRB: ""}}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["data_use"]["permission"]["id"] == HMB
    assert stored(db, datasets.arrests.id) == {
        "permission": HMB,
        "disease": "",
        "modifiers": {IRB: ""},
    }
    (made,) = changes(db)
    assert (made.outcome, made.actor_id, made.dataset_id) == (
        Outcome.SUCCESS,
        people.steward.id,
        datasets.arrests.id,
    )
    assert made.detail["before"] is None
    assert made.detail["after"]["permission"] == HMB
    # Loosening needs a reason, as on the page: 422 and nothing written without one.
    looser = client.put(url, json={"permission": GRU}, headers=headers)
    assert looser.status_code == 422
    assert looser.get_json()["fields"] == {"reason": "Required when the conditions are loosened."}
    assert stored(db, datasets.arrests.id)["permission"] == HMB
    assert len(changes(db)) == 1
    why = "The consent was re-sought in 2026."
    loosened = client.put(url, json={"permission": GRU, "reason": why}, headers=headers)
    assert loosened.status_code == 200
    last = changes(db)[-1]
    assert (last.detail["loosened"], last.detail["reason"]) == (True, why)


def test_someone_else_is_refused_and_the_refusal_recorded(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    """Attacker's test: holding the permission is not enough, nor is reading the dataset."""
    db.execute(delete(DatasetSteward).where(DatasetSteward.dataset_id == datasets.probation.id))
    db.commit()
    client = app.test_client()
    attempts = [
        (people.analyst, datasets.arrests.id),
        (people.privacy, datasets.arrests.id),  # no dataset:set_data_use
        (people.steward, datasets.probation.id),  # a steward, but not of this dataset
    ]
    for person, dataset_id in attempts:
        answer = client.put(
            f"/api/v1/datasets/{dataset_id}/data-use",
            json={"permission": GRU},
            headers=bearer(db, person),
        )
        assert answer.status_code == 403, (person.email, answer.status_code)
        assert stored(db, dataset_id) is None
    refusals = changes(db)
    assert [(r.outcome, r.actor_id) for r in refusals] == [
        (Outcome.DENIED, people.analyst.id),
        (Outcome.DENIED, people.privacy.id),
        (Outcome.DENIED, people.steward.id),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"permission": "DUO:9999999"},  # not a DUO term
        {"permission": IRB},  # a modifier, not a permission
        {"permission": HMB, "modifiers": {GRU: ""}},  # a permission, not a modifier
        {"permission": HMB, "modifiers": {IRB: 3}},  # a parameter that is not text
        {"permission": HMB, "colour": "red"},  # an unknown field
    ],
)
def test_a_bad_term_is_422_and_nothing_is_written(
    app: Flask, db: Session, people: People, datasets: Datasets, body: dict[str, Any]
) -> None:
    answer = app.test_client().put(
        f"/api/v1/datasets/{datasets.arrests.id}/data-use",
        json=body,
        headers=bearer(db, people.steward),
    )
    assert answer.status_code == 422, answer.get_json()
    assert stored(db, datasets.arrests.id) is None
    assert changes(db) == []
