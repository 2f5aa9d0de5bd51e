"""What the row viewer (/data/view, /data/download) and its API twin (/api/v1/datasets/<id>/rows)
say about their scope: an unknown purpose is bad input (422 naming the parameter and the
choices), ids are digits only (`kernel.text.whole_number`), and someone with no grant for the
scope is told so, the refusal recorded, on the page and through the API alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import User
from tests.access.test_data_door import last_event, stored  # noqa: F401  (a fixture)
from tests.agreements.builders import Datasets
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.outputs.builders import denied
from tests.support import PASSWORD, People

MISSING = 987_654  # an id no test makes so many of


def reads(db: Session) -> int:
    return fresh(db).scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event_type == AuditType.DATASET_READ)
    )


def asker(app: Flask, db: Session, person: User, via: str) -> Callable[[str], TestResponse]:
    """`person` asking for the scope (a query string) on the page or through the API."""
    if via == "page":
        browser = Browser(app.test_client())
        browser.login(person.email, PASSWORD)
        return lambda query: browser.get(f"/data/view?{query}")
    client, headers = app.test_client(), token_of(db, person)

    def api(query: str) -> TestResponse:
        # The API names the dataset in its address, the page in its query.
        params = dict(part.split("=", 1) for part in query.split("&"))
        dataset = params.pop("dataset")
        rest = "&".join(f"{k}={v}" for k, v in params.items())
        return client.get(f"/api/v1/datasets/{dataset}/rows?{rest}", headers=headers)

    return api


def message(answer: TestResponse) -> str:
    if answer.is_json:
        return str(answer.get_json()["message"])
    return answer.get_data(as_text=True)


@pytest.mark.parametrize("via", ["page", "api"])
def test_an_unknown_purpose_is_bad_input_naming_the_choices(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    via: str,
) -> None:
    ask = asker(app, db, people.analyst, via)
    before = reads(db)
    answer = ask(f"agreement={agreement.id}&dataset={stored.arrests.id}&purpose=bogus")
    assert answer.status_code == 422
    said = message(answer)
    assert "purpose" in said
    assert "(none granted)" not in said
    if via == "api":
        said = answer.get_json()["fields"]["purpose"]
    for kind in AnalysisKind:
        assert kind.value in said
    assert reads(db) == before  # bad input: nothing decided, nothing read


def test_the_page_names_the_purpose_field_with_the_apis_words(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    query = f"agreement={agreement.id}&dataset={stored.arrests.id}&purpose=bogus"
    api = asker(app, db, people.analyst, "api")(query).get_json()["fields"]["purpose"]
    client = app.test_client()
    Browser(client).login(people.analyst.email, PASSWORD)
    page = client.get(f"/data/view?{query}", headers={"Accept": "application/json"})
    assert page.status_code == 422
    assert page.get_json()["fields"] == {"purpose": api}


@pytest.mark.parametrize("via", ["page", "api"])
@pytest.mark.parametrize(
    ("who", "purpose", "said", "clause"),
    [
        # No grant at all on the dataset (the default view asks for no column).
        (
            "analyst2",
            "descriptive",
            "You hold no current grant on this dataset under this agreement.",
            "access.grant",
        ),
        # A grant, for another purpose.
        (
            "analyst",
            "matched_comparison",
            "This dataset is granted to you for descriptive, not for matched_comparison.",
            "scope.permitted_uses",
        ),
    ],
)
def test_a_view_with_nothing_granted_says_why_and_is_recorded(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    via: str,
    who: str,
    purpose: str,
    said: str,
    clause: str,
) -> None:
    person = getattr(people, who)
    answer = asker(app, db, person, via)(
        f"agreement={agreement.id}&dataset={stored.arrests.id}&purpose={purpose}"
    )
    assert answer.status_code == 403
    assert said in message(answer)
    assert "No columns were requested" not in message(answer)
    refusal = last_event(db)
    assert refusal.event_type == AuditType.DATASET_READ
    assert refusal.outcome == "denied"
    assert refusal.actor_email == person.email
    assert refusal.clause == clause
    assert refusal.dataset_id == stored.arrests.id


# Each is read by `int` as a number ("+5", "1_000", the Arabic-Indic three, padded), or is one
# outside the ids' range.
NOT_IDS = ("+5", "1_000", "\u0663", " 5", "5 ", "0", "-1", "1e3", "0x1f", str(2**31), "9" * 30)


@pytest.mark.parametrize("path", ["/data/view", "/data/download"])
def test_an_id_is_digits_only(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    path: str,
) -> None:
    """An id typed as text is ASCII digits only, as everywhere else
    (`kernel.text.whole_number`)."""
    client = app.test_client()
    Browser(client).login(people.analyst.email, PASSWORD)
    before = reads(db)
    for name in ("agreement", "dataset"):
        for typed in NOT_IDS:
            scope = {"agreement": str(agreement.id), "dataset": str(stored.arrests.id)}
            answer = client.get(
                path,
                query_string={**scope, name: typed, "purpose": "descriptive"},
                headers={"Accept": "application/json"},
            )
            assert answer.status_code == 422, (name, typed)
            assert answer.get_json()["fields"] == {name: "Not a number."}, (name, typed)
    assert reads(db) == before


def test_a_missing_id_is_still_asked_for(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    client = app.test_client()
    Browser(client).login(people.analyst.email, PASSWORD)
    answer = client.get(
        "/data/view",
        query_string={"dataset": str(stored.arrests.id), "purpose": "descriptive"},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.get_json()["fields"] == {"agreement": "Required."}
    padded = client.get(
        "/data/view",
        query_string={"agreement": f"0{agreement.id}", "dataset": str(stored.arrests.id)}
        | {"purpose": "descriptive"},
    )
    assert padded.status_code == 200  # leading zeros are still digits


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_dataset_id_that_names_nothing_is_a_404_recorded_as_a_probe(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    via: str,
) -> None:
    """As every look-up of an id that names nothing (`audit.lookup_refusal`)."""
    answer = asker(app, db, people.analyst, via)(
        f"agreement={agreement.id}&dataset={MISSING}&purpose=descriptive"
    )
    assert answer.status_code == 404
    assert f"There is no dataset {MISSING} that you can see." in message(answer)
    [probe] = denied(db, AuditType.DATASET_READ)
    assert (probe.actor_email, probe.target_type) == (people.analyst.email, "dataset")
    assert (probe.target_id, probe.rule) == (str(MISSING), audit.NO_SUCH_ID)
    assert probe.detail["reason"] == "Nothing has this id."
