"""The agreement's say over columns granted coarsened or pseudonymised (`access.derived_forms`):
a steward cannot grant a form the agreement does not allow (page, API, service: 422 naming the
clause, nothing written, the refusal recorded), and after an amendment narrows the term the
next read of a grant in a form no longer allowed is refused and recorded, whichever way it is
read. A new agreement allows none until its privacy officer chooses."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.data_door import download_rows, load_columns, read_rows
from governance.access.models import AccessRequest, ColumnForm, Grant, RequestStatus
from governance.agreements import service as agreements
from governance.agreements.clauses import render_clauses
from governance.agreements.models import Agreement, DerivedForms
from governance.agreements.queries import in_force_version
from governance.agreements.terms import TermsInput
from governance.audit.models import AuditType
from governance.datasets.ingestion import ingest_frame
from governance.kernel.errors import PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from tests.access.test_column_forms import coarse_grant, common, events
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask
from tests.agreements import builders
from tests.agreements.builders import Datasets, approved
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

CLAUSE = "access.derived_forms"


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(db, people, datasets, row_level_download=True, derived_forms="pseudonymised")


@pytest.fixture
def stored(db: Session, datasets: Datasets) -> Datasets:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    return datasets


def amend(
    db: Session, people: People, datasets: Datasets, agreement: Agreement, **terms: Any
) -> None:
    """An amendment with these terms, approved and countersigned: the version in force from
    now."""
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Narrow the forms", by=people.privacy, now=utcnow()
    )
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=utcnow(),
        terms=builders.terms(people, datasets, row_level_download=True, **terms),
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    builders.countersign(db, people, agreement)
    db.commit()


def unchanged(db: Session, request: AccessRequest) -> None:
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.SUBMITTED
    assert found.grant_id is None
    assert all(c.form is None and not c.approved for c in found.columns)


def test_a_steward_cannot_grant_a_form_the_agreement_does_not_allow(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    """The attack: the agreement allows pseudonyms only; the steward grants an age band."""
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    with pytest.raises(ValidationFailed, match=CLAUSE) as refused:
        requests.steward_approve(
            db,
            request_id=request.id,
            columns=["sex", "age_at_arrest"],
            comment="",
            forms={"age_at_arrest": "coarsened"},
            by=people.steward,
            now=utcnow(),
        )
    assert refused.value.audit is not None
    assert refused.value.audit["clause"] == CLAUSE
    assert refused.value.audit["detail"]["agreement_allows"] == "pseudonymised"
    db.rollback()
    unchanged(db, request)
    # What it allows is granted.
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["sex", "age_at_arrest"],
        comment="",
        forms={"age_at_arrest": "pseudonymised"},
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    grant = fresh(db).get(Grant, found.grant_id)
    assert grant is not None
    assert grant.forms == {"age_at_arrest": ColumnForm.PSEUDONYMISED}
    page = read_rows(db, **common(people, agreement, stored), per_page=100)  # type: ignore[arg-type]
    db.commit()
    assert all(str(r["age_at_arrest"]).startswith("ps_") for r in page.rows)


def test_the_api_and_the_page_refuse_it_with_the_clause_and_record_it(
    app: Flask,
    client: FlaskClient,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
) -> None:
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    answer = client.post(
        f"/api/v1/access-requests/{request.id}/approve",
        json={"columns": ["sex", "age_at_arrest"], "forms": {"age_at_arrest": "coarsened"}},
        headers=token_of(db, people.steward),
    )
    assert answer.status_code == 422, answer.get_json()
    assert CLAUSE in str(answer.get_json())
    unchanged(db, request)
    [denied] = events(db, AuditType.ACCESS_REQUEST_APPROVE)
    assert denied.outcome == "denied"
    assert denied.clause == CLAUSE
    assert denied.detail["forms"] == {"age_at_arrest": "coarsened"}
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    page = steward.post(
        f"/access/requests/{request.id}/approve",
        data={
            "approve-columns": ["sex", "age_at_arrest"],
            "approve-form-age_at_arrest": "coarsened",
        },
    )
    assert page.status_code == 422
    assert CLAUSE in page.get_data(as_text=True)
    unchanged(db, request)
    assert len(events(db, AuditType.ACCESS_REQUEST_APPROVE)) == 2


def test_an_amendment_narrowing_the_term_refuses_the_next_read_in_that_form(
    client: FlaskClient, db: Session, people: People, datasets: Datasets, stored: Datasets
) -> None:
    """A grant made coarsened while the agreement allowed it: after an amendment allowing
    pseudonyms only, the page, the API, the export and the engine refuse it, recorded."""
    agreement = approved(db, people, datasets, row_level_download=True, derived_forms="both")
    coarse_grant(db, people, agreement, stored)
    args = common(people, agreement, stored)
    read_rows(db, **args)  # type: ignore[arg-type]
    db.commit()
    amend(db, people, datasets, agreement, derived_forms="pseudonymised")
    version = in_force_version(fresh(db), agreement.id)
    assert version is not None
    assert version.number == 2
    assert version.derived_forms == "pseudonymised"
    for read in (
        lambda: read_rows(db, **args),  # type: ignore[arg-type]
        lambda: download_rows(db, **args),  # type: ignore[arg-type]
        lambda: load_columns(db, **args, context={"analysis_run": 0}),  # type: ignore[arg-type]
    ):
        with pytest.raises(PermissionDenied, match=CLAUSE) as refused:
            read()
        assert refused.value.audit is not None
        assert refused.value.audit["clause"] == CLAUSE
        db.rollback()
    url = f"/api/v1/datasets/{stored.arrests.id}/rows"
    query = f"agreement={agreement.id}&purpose=descriptive&columns=sex&columns=age_at_arrest"
    answer = client.get(f"{url}?{query}", headers=token_of(db, people.analyst))
    assert answer.status_code == 403
    assert "rows" not in (answer.get_json() or {}) or not answer.get_json().get("items")
    denied = events(db, AuditType.DATASET_READ)[-1]
    assert denied.outcome == "denied"
    assert denied.clause == CLAUSE
    assert denied.detail["forms"] == {"age_at_arrest": "coarsened"}
    # A column of the same grant as stored is still read.
    assert read_rows(db, **{**args, "columns": ["sex"]}).rows  # type: ignore[arg-type]


def test_a_new_agreement_allows_none_until_chosen_and_the_clause_says_so(
    client: FlaskClient, db: Session, people: People, datasets: Datasets
) -> None:
    chosen = vars(builders.terms(people, datasets))
    fresh_terms = TermsInput(**{k: v for k, v in chosen.items() if k != "derived_forms"})
    assert fresh_terms.derived_forms == DerivedForms.NONE
    agreement = agreements.create_agreement(
        db,
        provider_id=people.police.id,
        recipient_id=people.lab.id,
        terms=fresh_terms,
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    version = fresh(db).get(Agreement, agreement.id).working_version  # type: ignore[union-attr]
    assert version is not None
    assert version.derived_forms == "none"
    clauses = {clause: text for clause, _label, text in render_clauses(version)}
    assert "as stored" in clauses[CLAUSE]
    headers = token_of(db, people.privacy)
    changed = client.patch(
        f"/api/v1/agreements/{agreement.id}", json={"derived_forms": "coarsened"}, headers=headers
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["terms"]["derived_forms"] == "coarsened"
    bad = client.patch(
        f"/api/v1/agreements/{agreement.id}", json={"derived_forms": "blurred"}, headers=headers
    )
    assert bad.status_code in (400, 422)
    version = fresh(db).get(Agreement, agreement.id).working_version  # type: ignore[union-attr]
    assert version is not None
    assert version.derived_forms == "coarsened"


def test_the_second_approval_checks_the_term_in_force_again(
    db: Session, people: People, datasets: Datasets, stored: Datasets
) -> None:
    """The steward grants a pseudonymised identifier; before the privacy officer's second
    approval an amendment allows coarsened columns only: the second approval is refused."""
    agreement = approved(db, people, datasets, row_level_download=True, derived_forms="both")
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
    amend(db, people, datasets, agreement, derived_forms="coarsened")
    with pytest.raises(ValidationFailed, match=CLAUSE) as refused:
        requests.privacy_approve(
            db,
            request_id=request.id,
            comment="Ids to count people.",
            by=people.privacy,
            now=utcnow(),
        )
    assert refused.value.audit is not None
    assert refused.value.audit["event_type"] == AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS
    db.rollback()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.AWAITING_PRIVACY_OFFICER
    assert found.grant_id is None
