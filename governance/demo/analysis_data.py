"""The administrative data the analysis engine reads, declared as datasets with classified
columns (docs/decisions/analysis-data-shape.md): index events (one row per person and release
from custody or start of a community sentence, with the covariates) and proven offences.

Used by the demo step (demo/analyses.py), the tests and the benchmark, so the three agree.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from governance.datasets.models import (
    Classification,
    ColumnType,
    Dataset,
    DatasetColumn,
    DatasetSteward,
    SubjectArea,
)

C = Classification
T = ColumnType
INDEX_EVENTS = "Index events"
OFFENCES = "Proven offences"

INDEX_EVENT_COLUMNS: tuple[tuple[str, ColumnType, Classification], ...] = (
    ("index_id", T.INTEGER, C.GENERAL),
    ("person_id", T.INTEGER, C.DIRECT_IDENTIFIER),
    ("name", T.STRING, C.DIRECT_IDENTIFIER),
    ("date_of_birth", T.DATE, C.DIRECT_IDENTIFIER),
    ("sex", T.CATEGORY, C.QUASI_IDENTIFIER),
    ("index_date", T.DATE, C.GENERAL),
    ("index_disposal", T.CATEGORY, C.GENERAL),
    ("offence_category", T.CATEGORY, C.SENSITIVE),
    ("age_at_index", T.INTEGER, C.QUASI_IDENTIFIER),
    ("prior_offences", T.INTEGER, C.SENSITIVE),
    ("prior_custodial_sentences", T.INTEGER, C.SENSITIVE),
    ("ethnicity", T.CATEGORY, C.QUASI_IDENTIFIER),
    ("employed", T.INTEGER, C.GENERAL),
    ("region", T.CATEGORY, C.QUASI_IDENTIFIER),
)
OFFENCE_COLUMNS: tuple[tuple[str, ColumnType, Classification], ...] = (
    ("person_id", T.INTEGER, C.DIRECT_IDENTIFIER),
    ("offence_date", T.DATE, C.SENSITIVE),
    ("proven_date", T.DATE, C.SENSITIVE),
)
DESCRIPTIONS = {
    INDEX_EVENTS: "One row per person and index event (release from custody or start of a "
    "community sentence), with the person's history at that date.",
    OFFENCES: "One row per proven offence (conviction, caution, reprimand or warning).",
}


def declare_analysis_datasets(
    session: Session, *, provider_id: int, steward_id: int
) -> dict[str, Dataset]:
    """Declare both datasets (schema only) with their steward; returns them by name."""
    made = {}
    for name, columns in ((INDEX_EVENTS, INDEX_EVENT_COLUMNS), (OFFENCES, OFFENCE_COLUMNS)):
        dataset = Dataset(
            name=name,
            description=DESCRIPTIONS[name],
            provider_id=provider_id,
            subject_area=SubjectArea.CRIMINAL_JUSTICE,  # offending histories and convictions
            columns=[
                DatasetColumn(position=i, name=col, type=kind, classification=cls, required=True)
                for i, (col, kind, cls) in enumerate(columns)
            ],
            stewards=[DatasetSteward(user_id=steward_id)],
        )
        session.add(dataset)
        made[name] = dataset
    session.flush()
    return made
