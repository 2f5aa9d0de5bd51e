"""One group's mean released from two stored versions of a data set does not give the count.

Under rounding a mean is released as o + S' / p: S' the sum of (x - o) over the group's n
people, p the published count, o the column's origin. When o was the lowest value of the table
the run was handed (rounding11), two tables whose lowest values differ gave one group's mean
from two origins o_1, o_2. The group's exact sum S is the same in both, S'_i = S - n o_i, so

    mean_i = o_i + (S - n o_i) / p = S / p + o_i (1 - n / p)
    mean_2 - mean_1 = (o_2 - o_1)(1 - n / p)
    n = p (mean_2 - mean_1 - (o_2 - o_1)) / (o_1 - o_2)

with everything on the right released or known to a reader who knows the two lowest values (a
register's earliest year is no secret; here the analyst even knows which row changed). The two
versions below hold the same people, so the differencing ledger sees the same populations and
lets the second release through; only one person outside the group differs, their year of birth
corrected from 1945 to 1931. Now the origin is the lowest value the data steward declared for
the column (``DatasetColumn.lowest_value``), the same for every version; under rounding a mean of
a column without one is refused, naming what the steward must declare.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from flask import Flask
from sqlalchemy.orm import Session

from governance.analysis import runs as analyses
from governance.analysis.models import AnalysisRun, RunStatus
from governance.datasets import service as datasets
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import Classification, ColumnType, Dataset
from governance.kernel.types import utcnow
from tests.analysis.conftest import execute, grant, make_agreement
from tests.support import SETUP, People

COLUMNS = ["person_id", "cohort", "year_of_birth"]
_rng = np.random.default_rng(12)
# Group a: 23 people born 1980 to 1990 (published as 25). Group b: 40 people, the earliest 1945.
GROUP_A = _rng.integers(1980, 1991, 23).tolist()
GROUP_B = [1945, *_rng.integers(1950, 2001, 39).tolist()]
FIRST_LOWEST, SECOND_LOWEST = 1945, 1931


def table(earliest: int) -> pd.DataFrame:
    """Everyone, group b's earliest person born in ``earliest``."""
    years = [*GROUP_A, earliest, *GROUP_B[1:]]
    return pd.DataFrame(
        {
            "person_id": np.arange(1, len(years) + 1),
            "cohort": ["a"] * len(GROUP_A) + ["b"] * len(GROUP_B),
            "year_of_birth": years,
        }
    )


def declare(db: Session, people: People) -> Dataset:
    spec = datasets.ColumnSpec
    dataset = datasets.create_dataset(
        db,
        name="Birth register",
        description="Generated years of birth.",
        provider_id=people.probation.id,
        by=people.steward,
        columns=[
            spec("person_id", ColumnType.INTEGER, Classification.DIRECT_IDENTIFIER),
            spec("cohort", ColumnType.CATEGORY, Classification.GENERAL),
            spec("year_of_birth", ColumnType.INTEGER, Classification.QUASI_IDENTIFIER),
        ],
    )
    db.commit()
    return dataset


def store(db: Session, dataset: Dataset, frame: pd.DataFrame) -> None:
    ingest_frame(db, dataset_id=dataset.id, frame=frame, source_filename="births.csv", by=SETUP)
    db.commit()


def mean_of_group_a(app: Flask, db: Session, people: People, agreement_id: int, dataset: Dataset):
    return execute(app, db, submit_mean_of_group_a(db, people, agreement_id, dataset).id)


def submit_mean_of_group_a(
    db: Session, people: People, agreement_id: int, dataset: Dataset
) -> AnalysisRun:
    run = analyses.submit_run(
        db,
        agreement_id=agreement_id,
        kind="descriptive",
        parameters={"group_by": ["cohort"], "mean_of": "year_of_birth"},
        datasets={"records": dataset.id},
        by=people.analyst,
        now=utcnow(),
    )
    db.commit()
    return run


def cell(run: AnalysisRun, name: str, **labels: str) -> dict[str, Any]:
    assert run.result is not None
    found = next(t for t in run.result["tables"] if t["name"] == name)
    return next(c for c in found["cells"] if c["labels"] == labels)["values"]


def recovered_count(first: dict[str, Any], second: dict[str, Any]) -> float:
    """n = p (mean_2 - mean_1 - (o_2 - o_1)) / (o_1 - o_2), the origins the tables' lowest."""
    p = first["count"]
    return (
        p
        * (second["mean"] - first["mean"] - (SECOND_LOWEST - FIRST_LOWEST))
        / (FIRST_LOWEST - SECOND_LOWEST)
    )


def world(
    db: Session, people: People, earliest: int = FIRST_LOWEST, rounding_base: int | None = 5
) -> tuple[Dataset, int]:
    """The register stored (group b's earliest born in ``earliest``), under an agreement that
    rounds to ``rounding_base``, its descriptive use granted to the analyst."""
    dataset = declare(db, people)
    store(db, dataset, table(earliest))
    agreement = make_agreement(
        db,
        people,
        [dataset.id],
        uses=["descriptive"],
        personnel={people.analyst.id: "principal_investigator"},
        rounding_base=rounding_base,
    )
    grant(db, people, agreement, dataset, COLUMNS, "descriptive")
    return dataset, agreement.id


def test_two_versions_of_a_data_set_do_not_give_a_groups_exact_count(
    app: Flask, db: Session, people: People
) -> None:
    """The attacker: the same group's mean from the version before and after one person
    outside it was corrected to a new lowest year. On the earlier code both were released and
    the difference gave 23 (published 25); now neither is, until a steward declares the
    column's lowest value."""
    dataset, agreement_id = world(db, people)
    first = mean_of_group_a(app, db, people, agreement_id, dataset)
    store(db, dataset, table(SECOND_LOWEST))
    second = mean_of_group_a(app, db, people, agreement_id, dataset)
    if first.status == second.status == RunStatus.SUCCEEDED:
        a_first, a_second = cell(first, "means", cohort="a"), cell(second, "means", cohort="a")
        assert a_first["count"] == a_second["count"] == 25
        assert round(recovered_count(a_first, a_second), 6) != len(GROUP_A)
    else:
        for refused in (first, second):
            assert refused.status == RunStatus.REFUSED
            assert "year_of_birth" in (refused.reason or "")
            assert "lowest value" in (refused.reason or "")


def declare_lowest(db: Session, people: People, dataset: Dataset, value: float | None) -> None:
    # Imported here so that the attacker test above runs (and fails) on the earlier code.
    from governance.datasets import lowest_values

    lowest_values.declare_lowest_values(
        db,
        dataset_id=dataset.id,
        values={"year_of_birth": value},
        reason="The register's earliest possible year.",
        by=people.steward,
    )
    db.commit()


def test_with_a_declared_lowest_value_both_versions_release_the_same_mean(
    app: Flask, db: Session, people: People
) -> None:
    """The steward declares 1900: the mean of group a is 1900 + S' / 25 from either version,
    whatever the lowest year each holds, so the difference is 0 and says nothing of n."""
    dataset, agreement_id = world(db, people)
    declare_lowest(db, people, dataset, 1900)
    first = mean_of_group_a(app, db, people, agreement_id, dataset)
    store(db, dataset, table(SECOND_LOWEST))
    second = mean_of_group_a(app, db, people, agreement_id, dataset)
    assert first.status == second.status == RunStatus.SUCCEEDED, (first.reason, second.reason)
    a_first, a_second = cell(first, "means", cohort="a"), cell(second, "means", cohort="a")
    assert a_first == a_second
    assert a_first["mean"] == 1900 + (sum(GROUP_A) - 1900 * len(GROUP_A)) / 25


def test_a_table_holding_a_value_below_the_declared_one_is_refused(
    app: Flask, db: Session, people: People
) -> None:
    """A sum from an origin some people are below pins the count again (values all far below
    it give |S'| / highest <= n <= |S'| / lowest): refused, for every group alike, and the
    refusal does not say the value."""
    dataset, agreement_id = world(db, people)
    declare_lowest(db, people, dataset, 1940)
    store(db, dataset, table(SECOND_LOWEST))
    refused = mean_of_group_a(app, db, people, agreement_id, dataset)
    assert refused.status == RunStatus.REFUSED
    assert "below the lowest value declared" in refused.reason
    assert str(SECOND_LOWEST) not in refused.reason


def test_without_rounding_nothing_needs_declaring(app: Flask, db: Session, people: People) -> None:
    dataset, agreement_id = world(db, people, SECOND_LOWEST, rounding_base=None)
    run = mean_of_group_a(app, db, people, agreement_id, dataset)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    a = cell(run, "means", cohort="a")
    assert (a["count"], a["mean"]) == (23, sum(GROUP_A) / 23)
