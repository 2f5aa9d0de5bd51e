"""Demo datasets the demo agreements cover: declared schemas only, no data files.

PROVISIONAL, for the dataset work to take over: the datasets are created directly with the
models (the dataset service and ingestion belong to that work), with each column classified.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.datasets.models import (
    Classification,
    ColumnType,
    Dataset,
    DatasetColumn,
    DatasetSteward,
    SubjectArea,
)
from governance.demo.people import DEMO_ACTOR, POLICE, PROBATION, DemoWorld

C = Classification
T = ColumnType

ARRESTS = (
    "Arrests",
    POLICE,
    "One row per custodial arrest, 2019 onwards.",
    (
        ("person_id", T.STRING, C.DIRECT_IDENTIFIER),
        ("name", T.STRING, C.DIRECT_IDENTIFIER),
        ("date_of_birth", T.DATE, C.DIRECT_IDENTIFIER),
        ("sex", T.CATEGORY, C.QUASI_IDENTIFIER),
        ("race", T.CATEGORY, C.QUASI_IDENTIFIER),
        ("age_at_arrest", T.INTEGER, C.QUASI_IDENTIFIER),
        ("arrest_date", T.DATE, C.GENERAL),
        ("offence_category", T.CATEGORY, C.SENSITIVE),
        ("charge_description", T.STRING, C.FREE_TEXT),
        ("district", T.CATEGORY, C.QUASI_IDENTIFIER),
    ),
)
SUPERVISION = (
    "Probation supervision",
    PROBATION,
    "One row per supervision order.",
    (
        ("person_id", T.STRING, C.DIRECT_IDENTIFIER),
        ("name", T.STRING, C.DIRECT_IDENTIFIER),
        ("date_of_birth", T.DATE, C.DIRECT_IDENTIFIER),
        ("sex", T.CATEGORY, C.QUASI_IDENTIFIER),
        ("supervision_start", T.DATE, C.GENERAL),
        ("supervision_end", T.DATE, C.GENERAL),
        ("risk_level", T.CATEGORY, C.SENSITIVE),
        ("programme", T.CATEGORY, C.GENERAL),
        ("reoffended_within_1y", T.BOOLEAN, C.SENSITIVE),
    ),
)


def create_demo_datasets(
    session: Session, world: DemoWorld, *, app: Flask, **_options: Any
) -> None:
    steward = world.people["steward"]
    for name, provider, description, columns in (ARRESTS, SUPERVISION):
        dataset = Dataset(
            name=name,
            description=description,
            provider_id=world.organizations[provider].id,
            # Police arrests and probation supervision records: criminal justice information.
            subject_area=SubjectArea.CRIMINAL_JUSTICE,
            columns=[
                DatasetColumn(position=i, name=col, type=kind, classification=cls)
                for i, (col, kind, cls) in enumerate(columns)
            ],
            stewards=[DatasetSteward(user_id=steward.id)],
        )
        session.add(dataset)
        session.flush()
        audit.record(
            session,
            AuditType.DATASET_CREATE,
            by=DEMO_ACTOR,
            dataset_id=dataset.id,
            target_type="dataset",
            target_id=dataset.id,
            detail={"name": name, "columns": [c[0] for c in columns], "source": "demo"},
        )
        world.extra.setdefault("datasets", {})[name] = dataset
