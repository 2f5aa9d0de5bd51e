"""A column granted coarsened or pseudonymised: the grant says which, the figures are counted
for the granted form and kept with the decision, and the one door produces that form at every
read, so the analyst cannot get the fine values through the row page, the API, an export or a
filter. The steward can count the figures again; the requester is told why a request waits
for a privacy officer; the API carries the figures to those who decide only."""

from __future__ import annotations

import csv as csv_module
import io
import re

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.data_door import download_rows, load_columns, read_rows
from governance.access.models import AccessRequest, ColumnForm, Grant, RequestStatus
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.ingestion import ingest_frame
from governance.kernel.errors import PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS
from tests.access.test_request_risk import limit_unique_share
from tests.access.test_requests_and_grants import ask, ask_and_grant
from tests.agreements.builders import Datasets, approved
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

FINE_AGES = set(ROWS["age_at_arrest"])  # "18" .. "47", each a record of its own
BAND = re.compile(r"^\d+-\d+$")


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(db, people, datasets, row_level_download=True)


@pytest.fixture
def stored(db: Session, agreement: Agreement, datasets: Datasets) -> Datasets:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    return datasets


def coarse_grant(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> AccessRequest:
    request = ask(db, people, agreement, datasets, columns=("sex", "age_at_arrest"), download=True)
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["sex", "age_at_arrest"],
        comment="Age in bands is enough for a description.",
        forms={"age_at_arrest": "coarsened"},
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    return found


def events(db: Session, event_type: AuditType) -> list[AuditEvent]:
    db.rollback()
    return list(
        db.scalars(
            select(AuditEvent).where(AuditEvent.event_type == event_type).order_by(AuditEvent.seq)
        )
    )


def common(people: People, agreement: Agreement, datasets: Datasets) -> dict[str, object]:
    return {
        "by": people.analyst,
        "agreement_id": agreement.id,
        "dataset_id": datasets.arrests.id,
        "columns": ["sex", "age_at_arrest"],
        "purpose": "descriptive",
        "now": utcnow(),
    }


def test_the_grant_names_the_form_and_the_figures_are_of_the_granted_form(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = coarse_grant(db, people, agreement, stored)
    grant = fresh(db).get(Grant, request.grant_id)
    assert grant is not None
    assert grant.forms == {"age_at_arrest": ColumnForm.COARSENED}
    figures = request.risk_figures
    assert figures is not None
    assert figures["requested"]["unique_share"] == 1.0  # every age is its own class
    granted = figures["granted"]
    assert granted["forms"] == {"age_at_arrest": "coarsened"}
    # Hand-checked: bands of 5 by sex leave 5 records alone (15-19: F, M; 25-29, 40-44 and
    # 45-49: one woman each).
    assert granted["unique_records"] == 5
    assert granted["k_anonymity"] == 1
    assert granted["version"] == 1
    [approval] = events(db, AuditType.ACCESS_REQUEST_APPROVE)
    assert approval.detail["forms"] == {"age_at_arrest": "coarsened"}
    [created] = events(db, AuditType.GRANT_CREATE)
    assert created.detail["forms"] == {"age_at_arrest": "coarsened"}
    assessed = events(db, AuditType.ACCESS_REQUEST_RISK_ASSESSED)
    assert [e.detail.get("granted", False) for e in assessed] == [False, True]
    assert assessed[1].detail["unique_share"] == pytest.approx(5 / 30, abs=1e-6)


def test_the_door_never_returns_the_fine_values_page_export_or_engine(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    coarse_grant(db, people, agreement, stored)
    args = common(people, agreement, stored)
    page = read_rows(db, **args, per_page=100, sort="age_at_arrest")  # type: ignore[arg-type]
    db.commit()
    ages = {row["age_at_arrest"] for row in page.rows}
    assert ages
    assert all(BAND.match(a) for a in ages)
    assert not ages & FINE_AGES
    read = events(db, AuditType.DATASET_READ)[-1]
    assert read.detail["forms"] == {"age_at_arrest": "coarsened"}
    header, rows, _ = download_rows(db, **args)  # type: ignore[arg-type]
    exported = {row[header.index("age_at_arrest")] for row in rows}
    assert exported == ages
    db.commit()
    assert events(db, AuditType.DATASET_DOWNLOAD)[-1].detail["forms"] == {
        "age_at_arrest": "coarsened"
    }
    loaded = load_columns(db, **args, context={"analysis_run": 0})  # type: ignore[arg-type]
    assert set(loaded.frame["age_at_arrest"]) == ages


@pytest.mark.parametrize("condition", ["age_at_arrest:eq:18", "age_at_arrest:ge:40"])
def test_a_filter_on_the_fine_values_is_refused_and_recorded(
    browser: Browser,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    condition: str,
) -> None:
    """The attack: ask one fine value at a time and read the count of matching rows."""
    coarse_grant(db, people, agreement, stored)
    with pytest.raises(PermissionDenied):
        read_rows(db, **common(people, agreement, stored), filters=[condition])  # type: ignore[arg-type]
    db.rollback()
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(
        f"/data/view?agreement={agreement.id}&dataset={stored.arrests.id}"
        f"&purpose=descriptive&filter={condition}"
    )
    assert page.status_code == 403
    assert "rows match" not in page.get_data(as_text=True)
    denied = events(db, AuditType.DATASET_READ)[-1]
    assert denied.outcome == "denied"
    assert denied.detail["forms"] == {"age_at_arrest": "coarsened"}


def test_the_api_page_read_and_csv_export_carry_bands_only(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    coarse_grant(db, people, agreement, stored)
    headers = token_of(db, people.analyst)
    url = f"/api/v1/datasets/{stored.arrests.id}/rows"
    query = f"agreement={agreement.id}&purpose=descriptive&columns=sex&columns=age_at_arrest"
    answer = client.get(f"{url}?{query}&per_page=100", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    ages = {row["age_at_arrest"] for row in body["items"]}
    assert ages
    assert all(BAND.match(a) for a in ages), ages
    refused = client.get(f"{url}?{query}&filter=age_at_arrest:eq:18", headers=headers)
    assert refused.status_code == 403
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    csv = browser.get(
        f"/data/download?agreement={agreement.id}&dataset={stored.arrests.id}"
        "&purpose=descriptive&columns=sex&columns=age_at_arrest"
    )
    assert csv.status_code == 200
    rows = list(csv_module.reader(io.StringIO(csv.get_data(as_text=True))))
    values = {row[1] for row in rows if len(row) == 2 and row[0] in {"F", "M"}}
    assert len(values) == 7
    assert all(BAND.match(v) for v in values), values
    assert not values & FINE_AGES


def test_a_pseudonymised_identifier_is_a_stable_keyed_pseudonym(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = ask(db, people, agreement, stored, columns=("person_id", "sex"))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment="",
        forms={"person_id": "pseudonymised"},
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    requests.privacy_approve(  # a direct identifier still takes two people
        db,
        request_id=request.id,
        comment="Pseudonymised ids to count people once.",
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    args = {**common(people, agreement, stored), "columns": ["person_id", "sex"]}
    first = [r["person_id"] for r in read_rows(db, **args, per_page=100).rows]  # type: ignore[arg-type]
    db.commit()
    again = [r["person_id"] for r in read_rows(db, **args, per_page=100).rows]  # type: ignore[arg-type]
    db.commit()
    assert first == again  # stable: the same person, the same pseudonym
    assert len(set(first)) == 30  # one-to-one
    assert not set(first) & set(ROWS["person_id"])
    assert all(p.startswith("ps_") for p in first)
    grant = fresh(db).get(Grant, fresh(db).get(AccessRequest, request.id).grant_id)  # type: ignore[union-attr]
    assert grant is not None
    assert grant.columns[0].form_key_id  # the data key it is derived from, for rotations


def test_bad_forms_are_refused_and_nothing_is_written(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    for forms in (
        {"age_at_arrest": "blurred"},
        {"district": "coarsened"},  # not approved
        {"sex": "coarsened"},  # one letter: no coarser form
    ):
        with pytest.raises(ValidationFailed):
            requests.steward_approve(
                db,
                request_id=request.id,
                columns=["sex", "age_at_arrest"],
                comment="",
                forms=forms,
                by=people.steward,
                now=utcnow(),
            )
        db.rollback()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.SUBMITTED
    assert found.grant_id is None


def test_coarsening_below_the_agreements_threshold_needs_no_privacy_officer(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    limit_unique_share(db, agreement, 0.2)  # 100% as stored, 16.7% with age in bands
    request = coarse_grant(db, people, agreement, stored)
    assert request.grant_id is not None
    raw = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    requests.steward_approve(
        db,
        request_id=raw.id,
        columns=["sex", "age_at_arrest"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    assert fresh(db).get(AccessRequest, raw.id).status == RequestStatus.AWAITING_PRIVACY_OFFICER  # type: ignore[union-attr]


def test_the_requester_is_told_why_it_waits_and_the_api_keeps_figures_for_deciders(
    app: Flask,
    client: FlaskClient,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
) -> None:
    limit_unique_share(db, agreement, 0.05)
    request = ask_and_grant(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    requester = Browser(app.test_client())
    requester.login(people.analyst.email, PASSWORD)
    page = requester.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Why it waits for a privacy officer" in page
    assert "100.0% of the records are unique" in page  # the figure
    assert "5.0% the agreement allows" in page  # the agreement's threshold
    assert "privacy.max_unique_share" in page
    assert "Re-identification figures" not in page  # the table stays the deciders'
    url = f"/api/v1/access-requests/{request.id}"
    mine = client.get(url, headers=token_of(db, people.analyst)).get_json()
    assert mine["risk_figures"] is None
    assert "100.0% of the records are unique" in mine["privacy_officer_because"][0]
    stewards = client.get(url, headers=token_of(db, people.steward)).get_json()
    assert stewards["risk_figures"]["requested"]["unique_share"] == 1.0
    assert stewards["risk_figures"]["granted"]["unique_share"] == 1.0
    officers = client.get(url, headers=token_of(db, people.privacy)).get_json()
    assert officers["risk_figures"]["requested"]["k_anonymity"] == 1
    assert not [v for v in ("theft", "P0001", "Person 1") if v in str(stewards["risk_figures"])]


def test_the_steward_counts_the_figures_again_on_a_new_version(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = coarse_grant(db, people, agreement, stored)
    more = pd.concat([ROWS, ROWS.assign(person_id=ROWS["person_id"] + "b")], ignore_index=True)
    ingest_frame(
        db, dataset_id=stored.arrests.id, frame=more, source_filename="arrests2.csv", by=SETUP
    )
    db.commit()
    url = f"/api/v1/access-requests/{request.id}/risk"
    refused = client.post(url, headers=token_of(db, people.analyst))
    assert refused.status_code == 403
    answer = client.post(url, headers=token_of(db, people.steward))
    assert answer.status_code == 200, answer.get_json()
    figures = answer.get_json()["risk_figures"]
    assert figures["version"] == 2
    assert figures["requested"]["records"] == 60
    assert figures["requested"]["unique_records"] == 0  # every record now has a twin
    assert figures["granted"]["version"] == 2
    assert figures["granted"]["forms"] == {"age_at_arrest": "coarsened"}
    [denied, recomputed] = events(db, AuditType.ACCESS_REQUEST_RISK_RECOMPUTE)
    assert denied.outcome == "denied"
    assert denied.actor_id == people.analyst.id
    assert recomputed.actor_id == people.steward.id
    assert recomputed.detail["before"]["requested"]["unique_share"] == 1.0
    assert recomputed.detail["after"]["requested"]["unique_share"] == 0.0
    assert recomputed.detail["after"]["dataset_version"] == 2
    assert recomputed.detail["rows_shown"] is False
    assert "P0001" not in str(recomputed.detail)
    steward = Browser(client)
    steward.login(people.steward.email, PASSWORD)
    page = steward.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Count the figures again" in page
    assert "As granted" in page


def test_the_steward_chooses_the_form_on_the_request_page(
    app: Flask,
    client: FlaskClient,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
) -> None:
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    page = steward.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert 'name="approve-form-age_at_arrest"' in page
    answer = steward.post(
        f"/access/requests/{request.id}/approve",
        data={
            "approve-columns": ["sex", "age_at_arrest"],
            "approve-form-age_at_arrest": "coarsened",
            "approve-form-sex": "",
        },
    )
    assert answer.status_code == 302
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.grant_id is not None
    assert found.approved_forms == {"age_at_arrest": ColumnForm.COARSENED}
    grant_page = steward.get(f"/access/grants/{found.grant_id}").get_data(as_text=True)
    assert "<code>age_at_arrest</code> coarsened" in grant_page
    shown = client.get(
        f"/api/v1/grants/{found.grant_id}", headers=token_of(db, people.analyst)
    ).get_json()
    assert shown["forms"] == {"age_at_arrest": "coarsened"}
    refused = steward.post(
        f"/access/requests/{ask(db, people, agreement, stored).id}/approve",
        data={"approve-columns": ["sex"], "approve-form-sex": "blurred"},
    )
    assert refused.status_code == 422
