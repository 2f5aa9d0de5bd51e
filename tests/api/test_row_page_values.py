"""A page of rows through the API shows each stored value as the value it is: gaps as null,
dates as YYYY-MM-DD, text (any script) as itself, numbers as numbers, large integers exactly.
The page is cut straight from the decoded columns (data_door._plain_page); these tests
compute each page from the rows that were stored, not from the door's code."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.api.responses import json_rows, json_value
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import ColumnType, DatasetColumn
from tests.api.scenario import ARREST_ROWS, World
from tests.api.test_api_behaviour import Clients
from tests.support import SETUP

BIG = 2**62 + 1  # beyond a float's 53 bits: printed as a float it would change
TEXT = ["F", 'Zoë "quoted" \\ back', "東京", "😀 emoji", " padded ", "<b>&amp;</b>", "\u2028x"]
# Each case: the declared type of `age_at_arrest` and thirty values of it to store.
CASES: dict[str, tuple[ColumnType, list[Any]]] = {
    "large integers": (ColumnType.INTEGER, [BIG - i if i % 3 else -BIG + i for i in range(30)]),
    # Decoded as pandas' nullable integers: 38, not 38.0; 2**62 + 1 to its last digit.
    "integers with gaps": (
        ColumnType.INTEGER,
        [None if i % 4 == 3 else (BIG - i if i % 2 else 38 + i) for i in range(30)],
    ),
    "floats with gaps": (
        ColumnType.FLOAT,
        [None if i % 4 == 0 else (i / 7 if i % 5 else -(1e17 + i)) for i in range(30)],
    ),
    "dates with gaps": (
        ColumnType.DATE,
        [None if i % 6 == 0 else dt.date(1899 + i * 5, 1 + i % 12, 1 + i) for i in range(30)],
    ),
    "booleans with gaps": (
        ColumnType.BOOLEAN,
        [None if i % 5 == 0 else i % 2 == 0 for i in range(30)],
    ),
    "categories with gaps": (
        ColumnType.CATEGORY,
        [None if i % 4 == 2 else TEXT[i % len(TEXT)] for i in range(30)],
    ),
    "text with gaps": (
        ColumnType.STRING,
        [None if i % 4 == 1 else TEXT[(i * 3) % len(TEXT)] for i in range(30)],
    ),
}


def shown(value: Any) -> Any:
    """What the page shows for a stored value, from the rules the API states."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def expected_body(ages: list[Any], page: int, per_page: int, rules: list[str]) -> dict[str, Any]:
    sexes = [TEXT[i % len(TEXT)] for i in range(30)]
    window = slice((page - 1) * per_page, page * per_page)
    items = [
        {"age_at_arrest": shown(age), "sex": shown(sex)}
        for age, sex in zip(ages[window], sexes[window], strict=True)
    ]
    body = {
        "columns": ["age_at_arrest", "sex"],
        "items": items,
        "page": page,
        "pages": -(-30 // per_page),
        "per_page": per_page,
        "rules": rules,
        "total": 30,
        "version": 2,
    }
    return body


@pytest.mark.parametrize("case", list(CASES))
def test_each_stored_value_is_shown_as_itself(
    api: Clients, world: World, db: Session, case: str
) -> None:
    kind, ages = CASES[case]
    arrests = world.datasets.arrests
    declared = db.scalars(
        select(DatasetColumn).where(
            DatasetColumn.dataset_id == arrests.id, DatasetColumn.name == "age_at_arrest"
        )
    ).one()
    declared.type, declared.required = kind, False
    db.commit()
    frame = ARREST_ROWS.copy()
    frame["sex"] = pd.Series([TEXT[i % len(TEXT)] for i in range(30)], dtype=object)
    frame["age_at_arrest"] = pd.Series(ages, dtype=object)
    ingest_frame(db, dataset_id=arrests.id, frame=frame, source_filename="again.csv", by=SETUP)
    db.commit()
    base = f"/api/v1/datasets/{arrests.id}/rows?agreement={world.mine.id}&purpose=descriptive"
    for page, per_page in ((1, 50), (1, 7), (3, 7), (5, 7), (6, 7), (2, 30)):
        answer = api("analyst").get(f"{base}&page={page}&per_page={per_page}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        body = answer.get_json()
        # Which grant allowed the read is not what is tested here.
        expected = expected_body(ages, page, per_page, body["rules"])
        assert body == expected
        # The bytes too: keys sorted, nothing but ASCII (other characters escaped), compact.
        assert (
            answer.get_data()
            == json.dumps(expected, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        )


_CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.integers(-(2**62), 2**62).map(np.int64),
)


# No deadline: a loaded machine (and the first example's imports) is not what this asserts.
@settings(deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda width: st.lists(
            st.lists(_CELLS, min_size=width, max_size=width), min_size=0, max_size=6
        )
    )
)
def test_rows_go_out_as_each_cell_would_alone(cells: list[list[Any]]) -> None:
    """`json_rows` converts only the columns that need it, to what `json_value` makes of each
    cell: the same answer as converting every cell, the columns in their order."""
    rows = [{f"c{i}": value for i, value in enumerate(row)} for row in cells]
    expected = [{name: json_value(value) for name, value in row.items()} for row in rows]
    got = json_rows(rows)
    assert json.dumps(got) == json.dumps(expected)
    assert [list(row) for row in got] == [list(row) for row in expected]
    for row in got:
        assert all(type(value) in {str, int, float, bool, type(None)} for value in row.values())
