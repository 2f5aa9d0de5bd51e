"""The world the load test and the HTTP benchmark run against, built through the services.

A police arrests dataset with stored rows and a probation dataset (no grants on it), two
stewards of both, one active agreement naming every analyst as personnel, and for each
analyst a grant of `sex` and `age_at_arrest` for descriptive work. `district` is not covered
by the agreement, so it is never granted: reading it is always refused. `offence_category` is
covered but not granted: analysts ask for it during the load, and the stewards approve.
Every client gets its own API token (`tokens`) or logs in with its own password.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from flask import Flask
from sqlalchemy.orm import Session

from governance.access import requests as access_requests
from governance.agreements.models import Agreement
from governance.authz import Role
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import DatasetSteward
from governance.identity import tokens
from governance.identity.models import User
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.support import SETUP, People, add_person, make_people

GRANTED = ("sex", "age_at_arrest")
NOT_COVERED = "district"  # not in the agreement: never granted, every read of it is refused
REQUESTED = "offence_category"  # covered, asked for during the load


def arrest_rows(count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": [f"P{i:06d}" for i in range(count)],
            "name": [f"Person {i}" for i in range(count)],
            "date_of_birth": ["1990-01-01"] * count,
            "sex": [("F", "M", "M")[i % 3] for i in range(count)],
            "age_at_arrest": [str(18 + i % 40) for i in range(count)],
            "arrest_date": ["2025-01-01"] * count,
            "offence_category": [("theft", "assault", "fraud")[i % 3] for i in range(count)],
            "district": [("north", "south", "east")[i % 3] for i in range(count)],
        }
    )


@dataclass
class LoadWorld:
    people: People
    datasets: Datasets
    agreement: Agreement
    analysts: list[User]
    stewards: list[User]
    tokens: dict[int, list[str]]  # user id -> API token secrets, one per client


def build(
    db: Session, app: Flask, *, analysts: int, tokens_per_user: int = 2, rows: int = 1000
) -> LoadWorld:
    people = make_people(db, app)
    datasets = make_datasets(db, people)
    steward2 = add_person(
        db,
        app,
        email="steward2@test.example",
        name="Steward Two",
        org=people.lab,
        roles=(Role.DATA_STEWARD,),
    )
    stewards = [people.steward, steward2]
    for dataset in (datasets.arrests, datasets.probation):
        for steward in stewards:
            db.add(DatasetSteward(dataset_id=dataset.id, user_id=steward.id))
    readers = [
        add_person(
            db,
            app,
            email=f"reader{i}@test.example",
            name=f"Reader {i}",
            org=people.lab,
            roles=(Role.ANALYST,),
        )
        for i in range(analysts)
    ]
    db.commit()
    ingest_frame(
        db,
        dataset_id=datasets.arrests.id,
        frame=arrest_rows(rows),
        source_filename="arrests.csv",
        by=SETUP,
    )
    db.commit()
    personnel = {
        people.analyst.id: "principal_investigator",
        **{reader.id: "analyst" for reader in readers},
    }
    columns = {datasets.arrests.id: ["person_id", *GRANTED, REQUESTED]}
    agreement = approved(db, people, datasets, personnel=personnel, columns=columns)
    now = utcnow()
    for reader in readers:
        request = access_requests.submit_request(
            db,
            agreement_id=agreement.id,
            dataset_id=datasets.arrests.id,
            columns=GRANTED,
            purpose="descriptive",
            justification="Describe the cohort by sex and age.",
            end_date=now.date() + dt.timedelta(days=60),
            download=False,
            by=reader,
            now=now,
        )
        db.flush()
        access_requests.steward_approve(
            db, request_id=request.id, columns=list(GRANTED), comment="", by=people.steward, now=now
        )
    db.commit()
    secrets: dict[int, list[str]] = {}
    for user in [*readers, *stewards]:
        for n in range(tokens_per_user):
            created = tokens.create_token(
                db, user_id=user.id, name=f"load {n}", days=None, by=SETUP, now=now
            )
            secrets.setdefault(user.id, []).append(created.secret)
    db.commit()
    return LoadWorld(
        people=people,
        datasets=datasets,
        agreement=agreement,
        analysts=readers,
        stewards=stewards,
        tokens=secrets,
    )
