"""Under rounding a mean's origin is the column's declared lowest value (``RunContext.origins``),
never a value of the table, so a group's release is a function of its own rows alone.

A released mean is o + S' / p (S' the sum of (x - o) over the group's n people, p the published
count). From the table's lowest value, two tables holding the same group but different other
people gave two origins and n = p (mean_2 - mean_1 - (o_2 - o_1)) / (o_1 - o_2)
(tests/analysis/test_origin_across_versions.py does that through the service). The property
here: with rounding on, any two tables whose rows in the released group are the same release
the same figures for that group, on pandas and DuckDB alike. Without a declaration the mean is
refused under rounding (the descriptive kind and the matched comparison's numeric covariates),
and without rounding nothing needs declaring.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from governance.analysis.engine.disclosure import DisclosurePolicy
from governance.analysis.engine.engines import DuckDBEngine, EngineSettings
from governance.analysis.engine.errors import AnalysisRefused
from governance.analysis.engine.kinds import columns_needed, run_analysis
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.sources import EngineTables
from governance.analysis.engine.synthetic import generate_dataset
from tests.analysis.test_rounding_hides_spread import frame
from tests.analysis.test_rounding_recovers_nothing import RELAXED, ROUNDED

DECLARED = 1900
years = st.integers(DECLARED, 2010)


def describe(data: Any, policy: DisclosurePolicy, lowest: dict[str, float] | None) -> Any:
    context = RunContext(policy, lowest_values={"records": lowest} if lowest else {})
    return run_analysis("descriptive", data, {"group_by": ["g"], "mean_of": "score"}, context)


def group_a(result: Any) -> dict[str, Any]:
    """The figures the release gives of group a alone: its cells' values, whether they are
    withheld, and its side of the comparison of means."""
    cells = {
        name: next(c for c in result.table(name).table.cells if c.labels["g"] == "a")
        for name in ("counts", "means")
    }
    released = {name: (c.values, c.suppressed) for name, c in cells.items()}
    welch = result.statistics.get("welch")
    if welch is not None:
        released["welch"] = {key: welch[key] for key in ("n_1", "mean_1")}
    return released


@RELAXED
@given(
    group=st.lists(years, min_size=12, max_size=40),
    others=st.lists(st.lists(years, min_size=12, max_size=40), min_size=2, max_size=2),
    base=st.sampled_from([3, 5, 10]),
)
@example(group=[DECLARED] * 12, others=[[DECLARED] * 12, [DECLARED] * 13], base=3)
@example(group=[DECLARED] * 12, others=[[DECLARED] * 12, [DECLARED] * 11 + [2000]], base=3)
def test_a_groups_release_is_the_same_over_any_tables_holding_its_rows(
    group: list[int], others: list[list[int]], base: int
) -> None:
    """Group a's rows fixed; the other group's rows (and so the table's lowest value) drawn
    twice at will: whatever of group a both releases give (its counts, means and Welch
    figures) is the same. Whether a cell is given at all may differ: a cell withheld to protect
    the other group's (secondary suppression) depends on that group's rows by design."""
    policy = DisclosurePolicy(rounding_base=base)
    first, second = (
        group_a(describe({"records": frame({"a": group, "b": b})}, policy, {"score": DECLARED}))
        for b in others
    )
    for name in ("counts", "means"):
        if not first[name][1] and not second[name][1]:
            assert first[name][0] == second[name][0]
    if "welch" in first and "welch" in second:
        assert first["welch"] == second["welch"]


def test_duckdb_takes_a_mean_from_the_declared_lowest_value_as_pandas_does() -> None:
    values = {"a": list(range(1980, 2003)), "b": [1931, *range(1950, 1990)]}
    data = frame(values)
    expected = describe({"records": data}, ROUNDED, {"score": DECLARED})
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="256MB", duckdb_threads=1))
    try:
        on_duckdb = describe(EngineTables(engine, {"records": data}), ROUNDED, {"score": DECLARED})
    finally:
        engine.close()
    assert group_a(on_duckdb) == group_a(expected)
    a = group_a(expected)["means"][0]
    assert a["count"] == 25
    assert a["mean"] == DECLARED + (sum(values["a"]) - DECLARED * 23) / 25


@pytest.mark.parametrize("on_duckdb", [False, True])
def test_under_rounding_a_mean_without_a_declared_lowest_value_is_refused(on_duckdb: bool) -> None:
    data = frame({"a": list(range(1980, 2003)), "b": list(range(1950, 1990))})
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="256MB", duckdb_threads=1))
    try:
        tables = EngineTables(engine, {"records": data}) if on_duckdb else {"records": data}
        with pytest.raises(AnalysisRefused) as refused:
            describe(tables, ROUNDED, None)
        assert refused.value.reason == "lowest_value_not_declared"
        assert "score" in refused.value.message
        with pytest.raises(AnalysisRefused) as below:
            describe(tables, ROUNDED, {"score": 1960})
        assert below.value.reason == "below_declared_lowest"
        assert "1950" not in below.value.message
    finally:
        engine.close()


def test_without_rounding_nothing_needs_declaring_and_nothing_changes() -> None:
    data = {"records": frame({"a": list(range(1980, 2003)), "b": list(range(1950, 1990))})}
    policy = DisclosurePolicy()
    assert group_a(describe(data, policy, None)) == group_a(describe(data, policy, {"score": 0}))
    assert group_a(describe(data, policy, None))["means"][0]["mean"] == sum(range(1980, 2003)) / 23


def test_a_matched_comparison_takes_a_covariates_means_from_its_declared_lowest_value() -> None:
    """Each numeric covariate's characteristics and balance means: refused under rounding
    until declared, then taken from the declared value, in both tables alike."""
    dataset = generate_dataset(20_000, seed=3, programme_size=300)
    dataset.index_events["birth_year"] = pd.to_datetime(
        dataset.index_events["date_of_birth"]
    ).dt.year
    parameters = {
        "eligibility": {"data_complete_until": "2022-12-31"},
        "covariates": ["birth_year", "sex", "prior_offences", "index_disposal"],
        "categorical": ["sex", "index_disposal"],
    }
    read = columns_needed("matched_comparison", parameters)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    with pytest.raises(AnalysisRefused) as refused:
        run_analysis("matched_comparison", data, parameters, RunContext(ROUNDED))
    assert refused.value.reason == "lowest_value_not_declared"
    assert "birth_year, prior_offences" in refused.value.message
    declared = {"index_events": {"birth_year": DECLARED, "prior_offences": 0}}
    result = run_analysis(
        "matched_comparison", data, parameters, RunContext(ROUNDED, lowest_values=declared)
    )
    cell = result.table("characteristics_birth_year").table.cell(group="treatment")
    row = next(r for r in result.statistics["balance"] if r["term"] == "birth_year")
    assert row["mean_treated_after"] == cell.values["value"]
    exact, total = cell.raw["count"], cell.raw["events"]
    expected = DECLARED + (total - exact * DECLARED) / cell.values["count"]
    assert math.isclose(cell.values["value"], expected, rel_tol=1e-12)
