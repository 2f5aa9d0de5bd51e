"""Under rounding, a mean over a column far from 0 does not give the exact count (rounding11).

After rounding10 a mean over a numeric column was released as its exact sum S over the rounded
count p, so S = mean x p is known. Every value lies in the column's range [lowest, highest],
so S / highest <= n <= S / lowest. For ages that is loose; for a year of birth (1940 to 2008)
over a group of 23 it is 22.7 <= n <= 23.5: the exact 23 rounding was meant to hide (published
as 25). The sum of squares (through Welch's variance) says the same. Now the sums are taken from
the column's lowest value over the whole table (``ValueDomain.origin``): people at it add to
neither, so only a lower bound is left, as for ages. The property: the release is the same when
people at that value are added within the published counts.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st

from governance.analysis.engine.balance import balance_table
from governance.analysis.engine.disclosure import DisclosurePolicy, ValueDomain, published_mean
from governance.analysis.engine.encoding import EncodedCovariates
from governance.analysis.engine.engines import DuckDBEngine, EngineSettings
from governance.analysis.engine.kinds import columns_needed, run_analysis
from governance.analysis.engine.matched_tables import balance_rows_published, group_table
from governance.analysis.engine.sources import EngineTables, PandasSource, SqlSource
from governance.analysis.engine.synthetic import generate_dataset
from tests.analysis.test_rounding_hides_spread import added_alike, describe, frame, welch_variances
from tests.analysis.test_rounding_recovers_nothing import (
    RELAXED,
    ROUNDED,
    candidates,
    cells_of,
    declared,
    released,
)

LOWEST, HIGHEST = 1940, 2008
_rng = np.random.default_rng(11)
# 23 people born 1980 to 1990 (published as 25); 33 across the whole range, its ends included.
YEARS = {
    "a": _rng.integers(1980, 1991, 23).tolist(),
    "b": [LOWEST, HIGHEST, *_rng.integers(LOWEST, HIGHEST + 1, 31).tolist()],
}


def counts_from_sum(mean: float, published: int, base: int = 5) -> set[int]:
    """The counts that round as published and for which S = mean x published is a sum of
    that many years in [LOWEST, HIGHEST]."""
    total = mean * published
    return {n for n in candidates(published, base) if n * LOWEST <= total <= n * HIGHEST}


def counts_from_squares(mean: float, variance: float, published: int, base: int = 5) -> set[int]:
    """The same from S and the sum of squares Q = v (p - 1) + S^2 / p that Welch's variance
    over the published count gives: everyone within the range, sum (x - lo)(x - hi) <= 0, so
    n lo hi <= (lo + hi) S - Q, and n >= S^2 / Q (Cauchy-Schwarz)."""
    total = mean * published
    squares = variance * (published - 1) + total * total / published
    return {
        n
        for n in candidates(published, base)
        if n * LOWEST * HIGHEST <= (LOWEST + HIGHEST) * total - squares + 1e-6
        and n * squares >= total * total - 1e-6
    }


def test_a_mean_of_years_does_not_give_the_exact_count():
    result = describe(YEARS, ROUNDED)
    cell = cells_of(result, "means")["a"]
    assert cell["count"] == 25
    # On the earlier code the sum's bounds left only the exact 23.
    assert counts_from_sum(cell["mean"], 25) != {23}
    # Read from the origin (the table's lowest, which the reader may know), only n >= S' /
    # (highest - lowest) is left: every count in the interval.
    shifted = (cell["mean"] - LOWEST) * 25
    assert {n for n in candidates(25, 5) if n * (HIGHEST - LOWEST) >= shifted} == set(range(23, 28))
    # The mean is a year again, not S over 25 people (1,827 on the earlier code).
    assert 1980 <= cell["mean"] <= 1991


def test_welchs_variance_over_years_does_not_give_the_exact_count():
    result = describe(YEARS, ROUNDED)
    welch = result.statistics["welch"]
    assert welch["n_1"] == 25
    assert welch["mean_1"] == cells_of(result, "means")["a"]["mean"]
    found = [
        counts_from_squares(welch["mean_1"], variance, 25) for variance in welch_variances(welch)
    ]
    # On the earlier code one root left only the exact 23.
    assert all(counts != {23} for counts in found)


def test_the_origin_is_the_whole_tables_not_the_groups():
    """The group's own lowest year (1980) would change with the people in it; the table's
    (1940) is the same for every group and population drawn from it."""
    result = describe(YEARS, ROUNDED)
    exact = np.array(YEARS["a"], dtype=float)
    expected = published_mean(
        float(exact.mean()), 23, ROUNDED, ValueDomain((LOWEST, 1941, 2007, HIGHEST), LOWEST)
    )
    assert expected == LOWEST + (exact - LOWEST).sum() / 25
    assert cells_of(result, "means")["a"]["mean"] == expected


def test_without_rounding_a_mean_of_years_is_the_groups_own():
    result = describe(YEARS, DisclosurePolicy())
    cell = cells_of(result, "means")["a"]
    assert cell["count"] == 23
    assert cell["mean"] == float(np.mean(YEARS["a"]))


@RELAXED
@given(
    data=st.data(),
    values=st.lists(
        st.lists(st.integers(LOWEST + 1, HIGHEST), min_size=20, max_size=40), min_size=2, max_size=2
    ),
    base=st.sampled_from([3, 5, 10]),
)
def test_a_release_over_years_is_the_same_for_counts_that_round_alike(data, values, base):
    """People at the table's lowest year add to neither sum: for every number of them that
    keeps the published counts (the total's included), the whole release (means table,
    Welch's test, summary) is the same."""
    assume(len(set(values[0] + values[1])) >= 3)
    policy = DisclosurePolicy(rounding_base=base)
    outputs = [
        describe({g: v + [LOWEST] * k for g, v, k in zip("ab", values, ks, strict=True)}, policy)
        for ks in added_alike(data, values, base)
    ]
    assert "welch" in outputs[0].statistics, outputs[0].withheld
    assert released(outputs[0]) == released(outputs[1])


def test_a_matched_groups_mean_of_years_does_not_give_the_exact_count():
    """The matched comparison's characteristics table prints a numeric covariate's mean per
    group beside its published count, and its balance row the same means again."""
    treated, pool = np.array(YEARS["a"], float), np.array(YEARS["b"] + YEARS["b"], float)
    table, _ = group_table("mean", treated, pool, np.ones(len(pool)), ROUNDED, origin=LOWEST)
    cell = table.cell(group="treatment").values
    assert cell["count"] == 25
    assert counts_from_sum(cell["value"], 25) != {23}
    column = np.concatenate([treated, pool])[:, None]
    rows = np.arange(len(column))
    is_treated = rows < len(treated)
    encoded = EncodedCovariates(
        matrix=column,
        names=["born"],
        sources=["born"],
        levels={},
        binary=[False],
        reference=[False],
    )
    balance = balance_table(encoded, is_treated.astype(int), np.ones(23), np.ones(len(pool)))
    policy = replace(ROUNDED, min_cell_size=3, zeros_are_disclosive=False)
    row = balance_rows_published(
        balance,
        column,
        is_treated,
        ~is_treated,
        is_treated,
        ~is_treated,
        policy,
        origins={"born": LOWEST},
    )[0]
    assert not row["disclosure"]["suppressed"]
    # The same mean as the characteristics table's: one origin for both.
    assert row["mean_treated_after"] == cell["value"]
    assert counts_from_sum(row["mean_treated_before"], 25) != {23}


def test_a_matched_comparison_takes_a_covariates_sums_from_the_registers_lowest():
    """End to end: a year of birth among the covariates; the treated group's mean is
    released from the register's earliest year, in its characteristics table and balance
    row alike."""
    dataset = generate_dataset(20_000, seed=3, programme_size=300)
    born = pd.to_datetime(dataset.index_events["date_of_birth"]).dt.year
    dataset.index_events["birth_year"] = born
    covariates = ["birth_year", "sex", "prior_offences", "index_disposal"]
    parameters = {
        "eligibility": {"data_complete_until": "2022-12-31"},
        "covariates": covariates,
        "categorical": ["sex", "index_disposal"],
    }
    read = columns_needed("matched_comparison", parameters)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    result = run_analysis("matched_comparison", data, parameters, declared(ROUNDED, data))
    cell = result.table("characteristics_birth_year").table.cell(group="treatment")
    assert not cell.suppressed
    row = next(r for r in result.statistics["balance"] if r["term"] == "birth_year")
    assert row["mean_treated_after"] == cell.values["value"]
    lowest = float(born.min())
    exact, total = cell.raw["count"], cell.raw["events"]  # n and S, never published
    assert exact != cell.values["count"]
    # lowest + (S - n lowest) / p; on the earlier code S / p, off by lowest (p - n) / p.
    expected = lowest + (total - exact * lowest) / cell.values["count"]
    assert math.isclose(cell.values["value"], expected, rel_tol=1e-12)


def test_a_groups_mean_is_the_same_whichever_records_are_left_out():
    """Two releases of one group from two origins c1, c2 differ by (c1 - c2)(1 - n / p),
    which gives n. The origin is the whole table's, before the analyst's exclusions: leaving
    out the only person born in 1940 changes neither it nor group a's mean."""
    data = frame(YEARS)
    data["offence_category"] = np.where(data["score"] == LOWEST, "fraud", "theft")
    assert (data["offence_category"] == "fraud").sum() == 1
    means = [
        cells_of(
            run_analysis(
                "descriptive",
                {"records": data},
                {"group_by": ["g"], "mean_of": "score", **excluded},
                declared(ROUNDED, {"records": data}),
            ),
            "means",
        )["a"]
        for excluded in ({}, {"excluded_offence_categories": ["fraud"]})
    ]
    assert means[0] == means[1]
    assert means[0]["mean"] == LOWEST + (np.array(YEARS["a"]) - LOWEST).sum() / 25


def test_duckdb_takes_the_sums_from_the_same_origin():
    """The origin comes from the records table on the engine (records.py, sources.py): the
    release is pandas' to the last figure."""
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="256MB", duckdb_threads=1))
    try:
        on_duckdb = run_analysis(
            "descriptive",
            EngineTables(engine, {"records": frame(YEARS)}),
            {"group_by": ["g"], "mean_of": "score"},
            declared(ROUNDED, {"records": frame(YEARS)}),
        )
        assert released(on_duckdb) == released(describe(YEARS, ROUNDED))
    finally:
        engine.close()


def test_a_sources_lowest_values_are_the_same_on_every_engine():
    """Numbers only: text, booleans and dates have no origin (their means are rates, or
    they are categories)."""
    table = pd.DataFrame(
        {
            "person_id": ["p1", "p2", "p3"],
            "born": pd.array([1990, None, 1962], dtype="Int64"),
            "score": [2.5, float("nan"), -1.25],
            "sex": ["f", "m", "f"],
            "employed": [True, False, True],
            "index_date": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"]),
        }
    )
    columns = ["born", "score", "sex", "employed", "index_date"]
    expected = {"born": 1962.0, "score": -1.25}
    assert PandasSource({"index_events": table}).lowest("index_events", columns) == expected
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="256MB", duckdb_threads=1))
    try:
        source = SqlSource(EngineTables(engine, {"index_events": table}))
        assert source.lowest("index_events", columns) == expected
    finally:
        engine.close()
