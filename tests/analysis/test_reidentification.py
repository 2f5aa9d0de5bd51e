"""Re-identification figures: right on a small example checked by hand, equal to a brute-force
count on any data hypothesis makes, and never better when a column is added (the monotone
properties a steward relies on when narrowing a request)."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.analysis.engine import reidentification as risk
from governance.analysis.engine.errors import AnalysisParameterError

# Six people. By age and sex: (30,F) x2, (31,M), (40,M) x2, (40,F): four classes, two of them
# of one person. The two men aged 40 both have theft: their class discloses the offence.
PEOPLE = pd.DataFrame(
    {
        "age": [30, 30, 31, 40, 40, 40],
        "sex": ["F", "F", "M", "M", "M", "F"],
        "area": ["AB1", "AB1", "AB2", "CD1", "CD1", "CD2"],
        "arrest_date": pd.to_datetime(
            ["2024-01-03", "2024-01-20", "2024-02-01", "2024-02-11", "2024-02-28", "2024-03-01"]
        ),
        "offence": ["theft", "drugs", "theft", "theft", "theft", "fraud"],
    }
)


def test_the_hand_checked_example() -> None:
    found = risk.figures(PEOPLE, ["age", "sex"], sensitive=["offence"], threshold=3)
    assert found.records == 6
    assert found.classes == 4
    assert found.k_anonymity == 1
    assert found.unique_records == 2  # (31,M) and (40,F)
    assert found.unique_share == pytest.approx(2 / 6)
    assert found.small_class_records == 6  # every class is smaller than 3
    assert found.l_diversity == {"offence": 1}  # the two men aged 40: theft, theft


def test_the_alternatives_show_what_narrowing_buys() -> None:
    report = risk.report(PEOPLE, ["age", "sex", "arrest_date"], sensitive=["offence"], threshold=3)
    assert report.requested.unique_records == 6  # the arrest date singles everyone out
    by_change = {a.change: a for a in report.alternatives}
    assert set(by_change) == {
        "drop age",
        "age in bands of 5",
        "drop sex",
        "drop arrest_date",
        "arrest_date to month",
    }
    assert by_change["drop arrest_date"].unique_records == 2
    coarse = by_change["arrest_date to month"]  # Jan: (30,F)x2; Feb: (31,M), (40,M)x2; Mar
    assert coarse.classes == 4
    assert coarse.unique_records == 2
    banded = risk.report(PEOPLE, ["age", "sex"], threshold=3).alternatives
    age_band = next(a for a in banded if a.change == "age in bands of 5")
    assert age_band.classes == 4  # 30-34 F, 30-34 M, 40-44 M, 40-44 F
    assert age_band.unique_records == 2


def test_codes_of_one_length_coarsen_to_the_larger_unit() -> None:
    step, values = risk.coarsen(PEOPLE["area"])  # type: ignore[misc]
    assert step.startswith("to its larger unit")
    assert list(values) == ["AB", "AB", "AB", "CD", "CD", "CD"]
    found = risk.figures(PEOPLE.assign(area=values), ["area"], threshold=3)
    assert (found.classes, found.k_anonymity, found.unique_records) == (2, 3, 0)


def test_missing_values_are_a_class_of_their_own() -> None:
    data = pd.DataFrame({"age": [30, None, None, 30], "sex": ["F", None, None, "F"]})
    found = risk.figures(data, ["age", "sex"], threshold=2)
    assert (found.classes, found.k_anonymity, found.unique_records) == (2, 2, 0)


@pytest.mark.parametrize(
    ("columns", "sensitive", "threshold", "message"),
    [([], [], 10, "at least one"), (["nope"], [], 10, "nope"), (["age"], [], 1, "at least 2")],
)
def test_bad_parameters_are_refused_clearly(
    columns: list[str], sensitive: list[str], threshold: int, message: str
) -> None:
    with pytest.raises(AnalysisParameterError, match=message):
        risk.figures(PEOPLE, columns, sensitive=sensitive, threshold=threshold)


frames = st.integers(1, 60).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "a": st.lists(st.sampled_from([1, 2, 3, None]), min_size=n, max_size=n),
            "b": st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n),
            "c": st.lists(st.integers(0, 12), min_size=n, max_size=n),
            "s": st.lists(st.sampled_from(["p", "q", None]), min_size=n, max_size=n),
        }
    )
)


def brute_force(rows: list[tuple[object, ...]], sensitive: list[object], threshold: int) -> dict:
    def key(value: object) -> object:
        # pandas turns None into NaN, which is not equal to itself.
        return "<missing>" if value is None or value != value else value

    classes = Counter(tuple(key(v) for v in row) for row in rows)
    values: dict[tuple[object, ...], set[object]] = defaultdict(set)
    for row, value in zip(rows, sensitive, strict=True):
        values[tuple(key(v) for v in row)].add(key(value))
    return {
        "classes": len(classes),
        "k": min(classes.values()),
        "unique": sum(1 for size in classes.values() if size == 1),
        "small": sum(size for size in classes.values() if size < threshold),
        "l": min(len(v) for v in values.values()),
    }


@settings(max_examples=150, deadline=None)
@given(data=frames, threshold=st.integers(2, 6), columns=st.sampled_from(["a", "ab", "abc", "bc"]))
def test_figures_equal_a_brute_force_count(
    data: dict[str, list[object]], threshold: int, columns: str
) -> None:
    frame = pd.DataFrame(data)
    chosen = list(columns)
    found = risk.figures(frame, chosen, sensitive=["s"], threshold=threshold)
    rows = list(zip(*(data[c] for c in chosen), strict=True))
    expected = brute_force(rows, data["s"], threshold)
    assert found.classes == expected["classes"]
    assert found.k_anonymity == expected["k"]
    assert found.unique_records == expected["unique"]
    assert found.small_class_records == expected["small"]
    assert found.l_diversity["s"] == expected["l"]


@settings(max_examples=100, deadline=None)
@given(data=frames)
def test_dropping_or_coarsening_a_column_never_makes_it_more_identifying(
    data: dict[str, list[object]],
) -> None:
    frame = pd.DataFrame(data)
    report = risk.report(frame, ["a", "b", "c"], sensitive=["s"], threshold=3)
    for alternative in report.alternatives:
        assert alternative.k_anonymity >= report.requested.k_anonymity, alternative.change
        assert alternative.unique_records <= report.requested.unique_records
        assert alternative.classes <= report.requested.classes
        assert alternative.l_diversity["s"] >= report.requested.l_diversity["s"]


def test_many_columns_with_many_values_do_not_overflow() -> None:
    rng = np.random.default_rng(7)
    n = 5_000
    frame = pd.DataFrame({f"c{i}": rng.integers(0, 4_000, n) for i in range(8)})
    found = risk.figures(frame, list(frame.columns), threshold=5)
    assert found.unique_records == n  # eight columns of 4,000 values: everyone is unique
    assert found.classes == n
