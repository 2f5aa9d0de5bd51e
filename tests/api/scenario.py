"""A small world for API tests: two agreements of different organisations, stored rows,
requests and grants on each side, and a token for everyone.

Agreement `mine` (police -> Test Lab) names the analysts; agreement `theirs` (probation ->
Other Lab) names only an outsider of another research organisation, and its dataset has
another steward. Tests use `theirs` and its objects to check what a person of Test Lab must
not see or touch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from governance.access import grants
from governance.access import requests as access_requests
from governance.access.models import AccessRequest, Grant
from governance.agreements import service as agreements
from governance.agreements.destruction_model import DestructionCertificate
from governance.agreements.models import Agreement
from governance.analysis.models import AnalysisRun
from governance.authz import Role
from governance.datasets import reclassification
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Classification, ColumnReclassification, DatasetSteward
from governance.identity import tokens, users
from governance.identity.models import User
from governance.identity.organization_model import OrganizationKind
from governance.kernel.types import utcnow
from governance.outputs.models import Output
from tests.agreements.builders import Datasets, approved, countersign, make_datasets, terms
from tests.outputs.builders import produce
from tests.support import SETUP, People, add_person

ARREST_ROWS = pd.DataFrame(
    {
        "person_id": [f"P{i:04d}" for i in range(30)],
        "name": [f"Person {i}" for i in range(30)],
        "date_of_birth": ["1990-01-01"] * 30,
        "sex": ["F", "M", "M"] * 10,
        "age_at_arrest": [str(18 + i % 40) for i in range(30)],
        "arrest_date": ["2025-01-01"] * 30,
        "offence_category": ["theft", "assault", "SECRET-OFFENCE"] * 10,
        "district": ["north", "south", "east"] * 10,
    }
)
SUPERVISION_ROWS = pd.DataFrame(
    {
        "person_id": [f"S{i:04d}" for i in range(12)],
        "sex": ["F", "M"] * 6,
        "supervision_start": ["2024-05-01"] * 12,
        "risk_level": ["low", "high", "medium"] * 4,
    }
)


@dataclass
class World:
    people: People
    datasets: Datasets
    steward2: User
    outsider: User
    mine: Agreement
    theirs: Agreement
    my_request: AccessRequest  # the analyst's, approved: my_grant
    my_pending: AccessRequest  # the analyst's, waiting for the steward
    my_grant: Grant
    their_request: AccessRequest  # the outsider's, approved: their_grant
    their_grant: Grant
    certificate: DestructionCertificate
    their_output: Output  # produced under `theirs` by the outsider, not published
    their_run: AnalysisRun  # a finished run of the outsider's under `theirs`
    my_output: Output  # produced under `mine` by the analyst, awaiting checks
    my_run: AnalysisRun  # a finished run of the analyst's under `mine`
    reclassification: ColumnReclassification  # steward2 asked to lower one; it was rejected
    tokens: dict[str, str]  # person key -> secret
    token_ids: dict[str, int]  # person key -> token id

    def token(self, key: str) -> str:
        return self.tokens[key]


PEOPLE_KEYS = (
    "admin",
    "privacy",
    "privacy2",
    "steward",
    "compliance",
    "analyst",
    "analyst2",
    "checker",
    "partner",
)
ROLE_KEYS = {
    Role.ADMIN: "admin",
    Role.PRIVACY_OFFICER: "privacy",
    Role.DATA_STEWARD: "steward",
    Role.COMPLIANCE_MANAGER: "compliance",
    Role.ANALYST: "analyst",
    Role.PARTNER_REVIEWER: "partner",
    Role.OUTPUT_CHECKER: "checker",
}


def _ask(
    db: Session, *, by: User, agreement: Agreement, dataset_id: int, columns: list[str]
) -> AccessRequest:
    return access_requests.submit_request(
        db,
        agreement_id=agreement.id,
        dataset_id=dataset_id,
        columns=columns,
        purpose="descriptive",
        justification="Describe the cohort.",
        end_date=utcnow().date() + dt.timedelta(days=60),
        download=False,
        by=by,
        now=utcnow(),
    )


def build_world(db: Session, app: Flask, people: People) -> World:
    datasets = make_datasets(db, people)
    steward2 = add_person(
        db,
        app,
        email="steward2@test.example",
        name="Steward Two",
        org=people.lab,
        roles=(Role.DATA_STEWARD,),
    )
    db.add(DatasetSteward(dataset_id=datasets.arrests.id, user_id=people.steward.id))
    db.add(DatasetSteward(dataset_id=datasets.probation.id, user_id=steward2.id))
    other_lab = users.create_organization(
        db, name="Other Lab", kind=OrganizationKind.RESEARCH, by=SETUP
    )
    outsider = add_person(
        db,
        app,
        email="outsider@other.example",
        name="Outsider",
        org=other_lab,
        roles=(Role.ANALYST,),
    )
    db.commit()
    mine = approved(db, people, datasets)
    theirs = agreements.create_agreement(
        db,
        provider_id=people.probation.id,
        recipient_id=other_lab.id,
        terms=terms(
            people,
            datasets,
            title="Supervision outcomes",
            columns={datasets.probation.id: ["person_id", "sex", "risk_level"]},
            personnel={outsider.id: "principal_investigator"},
        ),
        by=people.privacy,
        now=utcnow(),
    )
    agreements.submit(db, agreement_id=theirs.id, by=people.privacy, now=utcnow())
    agreements.approve(db, agreement_id=theirs.id, by=people.privacy2, now=utcnow())
    countersign(db, people, theirs)
    ingest_frame(
        db,
        dataset_id=datasets.arrests.id,
        frame=ARREST_ROWS,
        source_filename="arrests.csv",
        by=SETUP,
    )
    ingest_frame(
        db,
        dataset_id=datasets.probation.id,
        frame=SUPERVISION_ROWS,
        source_filename="supervision.csv",
        by=SETUP,
    )
    db.commit()
    my_request = _ask(
        db,
        by=people.analyst,
        agreement=mine,
        dataset_id=datasets.arrests.id,
        columns=["sex", "age_at_arrest"],
    )
    access_requests.steward_approve(
        db,
        request_id=my_request.id,
        columns=["sex", "age_at_arrest"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    my_pending = _ask(
        db,
        by=people.analyst,
        agreement=mine,
        dataset_id=datasets.arrests.id,
        columns=["offence_category"],
    )
    their_request = _ask(
        db,
        by=outsider,
        agreement=theirs,
        dataset_id=datasets.probation.id,
        columns=["sex", "risk_level"],
    )
    access_requests.steward_approve(
        db,
        request_id=their_request.id,
        columns=["sex", "risk_level"],
        comment="",
        by=steward2,
        now=utcnow(),
    )
    their_output = produce(
        db,
        people,
        theirs,
        by=outsider,
        kind="descriptive",
        title="Supervision outcomes by risk level",
        commit=False,
    )
    # A finished run stored as the runner leaves one (the runner itself is tested elsewhere).
    their_run = AnalysisRun(
        requested_by_id=outsider.id,
        agreement_id=theirs.id,
        agreement_version=1,
        kind="descriptive",
        purpose="descriptive",
        title="Supervision by risk level",
        parameters={},
        datasets={"table": datasets.probation.id},
        status="succeeded",
        result={},
        report_pdf=b"%PDF-1.7 test",
        report_sha256="0" * 64,
        report_csv=b"a\n1\n",
        csv_sha256="0" * 64,
    )
    db.add(their_run)
    my_output = produce(
        db,
        people,
        mine,
        by=people.analyst,
        kind="descriptive",
        title="Arrests by sex",
        commit=False,
    )
    my_run = AnalysisRun(
        requested_by_id=people.analyst.id,
        agreement_id=mine.id,
        agreement_version=1,
        kind="descriptive",
        purpose="descriptive",
        title="Arrests by sex",
        parameters={"group_by": ["sex"]},
        datasets={"records": datasets.arrests.id},
        status="succeeded",
        progress=1.0,
        progress_message="done",
        attempts=1,
        max_attempts=3,
        result={"kind": "descriptive", "tables": [], "summary": "Counts."},
        provenance={"engine_version": "test", "sources": {}},
        report_pdf=b"%PDF-1.7 test",
        report_sha256="1" * 64,
        report_csv=b"a\n1\n",
        csv_sha256="1" * 64,
    )
    db.add(my_run)
    db.flush()
    # Each run handed its figures to output checking, as the runner does.
    their_output.run_id, my_output.run_id = their_run.id, my_run.id
    certificate = DestructionCertificate(
        agreement_id=theirs.id,
        certified_by="test",
        certified_at=utcnow(),
        pdf=b"%PDF-1.7 test",
        pdf_sha256="0" * 64,
    )
    db.add(certificate)
    db.commit()
    asked = reclassification.ask_to_lower(
        db,
        dataset=datasets.probation,
        column=datasets.probation.columns[0],
        to=Classification.GENERAL,
        reason="Pseudonyms.",
        by=steward2,
        now=utcnow(),
    )
    reclassification.reject(
        db, reclassification_id=asked.id, comment="No.", by=people.privacy, now=utcnow()
    )
    db.commit()
    secrets: dict[str, str] = {}
    token_ids: dict[str, int] = {}
    for key in (*PEOPLE_KEYS, "outsider", "steward2"):
        holder: User = (
            outsider
            if key == "outsider"
            else steward2
            if key == "steward2"
            else getattr(people, key)
        )
        created = tokens.create_token(
            db, user_id=holder.id, name=f"{key} test", days=None, by=SETUP, now=utcnow()
        )
        secrets[key], token_ids[key] = created.secret, created.token.id
    db.commit()
    my_grant = db.get(Grant, my_request.grant_id)
    their_grant = db.get(Grant, their_request.grant_id)
    assert my_grant is not None
    assert their_grant is not None
    return World(
        people=people,
        datasets=datasets,
        steward2=steward2,
        outsider=outsider,
        mine=mine,
        theirs=theirs,
        my_request=my_request,
        my_pending=my_pending,
        my_grant=my_grant,
        their_request=their_request,
        their_grant=their_grant,
        certificate=certificate,
        their_output=their_output,
        their_run=their_run,
        my_output=my_output,
        my_run=my_run,
        reclassification=asked,
        tokens=secrets,
        token_ids=token_ids,
    )


class Api:
    """A test client that sends a bearer token and JSON bodies."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(
            path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs
        )

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.patch(
            path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs
        )


def revoke_my_grant(db: Session, world: World) -> None:
    """The steward revokes the analyst's grant (the analyst left the project)."""
    grants.revoke_grant(
        db,
        grant_id=world.my_grant.id,
        reason="Left the project.",
        by=world.people.steward,
        now=utcnow(),
    )
    db.commit()
