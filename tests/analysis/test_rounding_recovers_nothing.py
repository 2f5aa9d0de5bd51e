"""Under rounding, no released figure gives an exact count back (rounding9).

An agreement that rounds published counts (``publication.rounding_base``) promises that no
exact count can be read from the output. Before, rates and means were computed from exact
counts and the tests' statistics printed them: a rate of 0.4347826 beside a published count
of 25 is 10/23. The attacker here tries every count in each published count's rounding
interval and keeps those consistent with the released figures; the exact count must never be
singled out. The property: a release is the same for every table whose counts round alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from governance.analysis.engine.balance import balance_table
from governance.analysis.engine.disclosure import TOTAL_LABEL, DisclosurePolicy, round_to_base
from governance.analysis.engine.encoding import EncodedCovariates
from governance.analysis.engine.kinds import columns_needed, run_analysis
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.matched_tables import balance_rows_published
from governance.analysis.engine.sources import lowest_of
from governance.analysis.engine.synthetic import generate_dataset
from governance.analysis.models import RunStatus
from tests.analysis.conftest import World, execute, grant_records, make_agreement, submit
from tests.analysis.test_balance_pool import flag_column
from tests.support import People

ROUNDED = DisclosurePolicy(rounding_base=5)
RELAXED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def records(groups: dict[str, tuple[int, int]], *, values: dict[str, list[int]] | None = None):
    """One row per person: group, a 0/1 flag (``events`` of ``size`` people have it) and,
    when given, a number column per group."""
    rows = []
    for group, (size, events) in groups.items():
        for position in range(size):
            row: dict[str, Any] = {"g": group, "flag": int(position < events)}
            if values is not None:
                row["score"] = values[group][position]
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame.insert(0, "person_id", [f"p{i}" for i in range(len(frame))])
    return frame


def rounded(count: int, base: int) -> int:
    return int(round_to_base(np.array([count]), base)[0])


def candidates(published: int, base: int) -> list[int]:
    """The exact counts that round to ``published``: what a reader knows of the count."""
    return [
        n
        for n in range(max(published - base, 0), published + base)
        if rounded(n, base) == published
    ]


def rate_attack(rate: float, count: int, events: int, base: int) -> set[tuple[int, int]]:
    """The (events, count) pairs that round as published and give exactly the rate shown."""
    target = Fraction(rate).limit_denominator(10_000)
    return {
        (e, n)
        for n in candidates(count, base)
        for e in candidates(events, base)
        if n > 0 and Fraction(e, n) == target
    }


def declared(policy: DisclosurePolicy, data: Mapping[str, pd.DataFrame]) -> RunContext:
    """A run's context in which the stewards declared each number column's lowest value as the
    lowest the table holds (the origin a rounded mean was taken from before rounding12)."""
    lowest = {table: lowest_of(frame, list(frame.columns)) for table, frame in data.items()}
    return RunContext(policy, lowest_values=lowest)


def cells_of(result: Any, name: str) -> dict[str, dict[str, Any]]:
    table = result.table(name).table
    return {cell.labels["g"]: cell.values for cell in table.cells if not cell.suppressed}


def test_descriptive_rate_does_not_give_the_exact_count():
    result = run_analysis(
        "descriptive",
        {"records": records({"a": (23, 10), "b": (37, 15)})},
        {"group_by": ["g"], "rate_of": "flag"},
        RunContext(ROUNDED),
    )
    a = cells_of(result, "rates")["a"]
    assert (a["count"], a["events"]) == (25, 10)
    # On main: 10/23 is the only pair in the intervals giving 0.4347826.
    assert rate_attack(a["rate"], a["count"], a["events"], 5) != {(10, 23)}
    assert a["rate"] == a["events"] / a["count"]


def test_descriptive_mean_and_welch_do_not_give_the_exact_count():
    # Group a's scores sum to 49 over 23 people: 2.1304348, of the counts that round to 25
    # only 23 makes mean * count whole.
    scores = {
        "a": [4] * 5 + [3] * 5 + [2] * 5 + [1] * 4 + [0] * 4,
        "b": [0] * 10 + [1] * 9 + [2] * 9 + [4] * 9,
    }
    data = {"records": records({"a": (23, 10), "b": (37, 15)}, values=scores)}
    result = run_analysis(
        "descriptive", data, {"group_by": ["g"], "mean_of": "score"}, declared(ROUNDED, data)
    )
    a = cells_of(result, "means")["a"]
    assert a["count"] == 25
    whole = [n for n in candidates(25, 5) if abs(a["mean"] * n - round(a["mean"] * n)) < 1e-9]
    assert whole != [23]
    welch = result.statistics["welch"]
    assert (welch["n_1"], welch["n_2"]) == (25, 35)
    assert welch["mean_1"] == a["mean"]


def compare_a_and_b(policy: DisclosurePolicy) -> Any:
    """The rate of flag in a group of 23 people with 10 flagged against one of 37 with 15."""
    params = {"group_column": "g", "group_a": "a", "group_b": "b", "outcome": "flag"}
    data = {"records": records({"a": (23, 10), "b": (37, 15)})}
    return run_analysis("rate_comparison", data, params, RunContext(policy))


def test_rate_comparison_statistics_carry_published_counts_only():
    result = compare_a_and_b(ROUNDED)
    test = result.statistics["test"]
    # On main the statistics printed 23 and 10 beside a published 25 and 10.
    assert (test["n_1"], test["events_1"], test["n_2"], test["events_2"]) == (25, 10, 35, 15)
    assert rate_attack(test["rate_1"], 25, 10, 5) != {(10, 23)}
    for figure in result.figures["rates"]:
        assert figure["rate"] in (10 / 25, 15 / 35)


def test_without_rounding_figures_stay_exact():
    test = compare_a_and_b(DisclosurePolicy()).statistics["test"]
    assert (test["n_1"], test["events_1"], test["rate_1"]) == (23, 10, 10 / 23)


def released(result: Any) -> str:
    """Everything a kind releases, as the output's JSON, less what describes the run rather
    than the data (the populations' member hashes are keyed per run)."""
    output = result.to_dict()
    output.pop("populations", None)
    return json.dumps(output, sort_keys=True, default=str)


def margins(groups: dict[str, tuple[int, int]], base: int) -> list[int]:
    """The rounded sizes and events of the margins the kinds publish: all three groups (the
    descriptive table's total) and the first two (the rate comparison's)."""
    return [
        rounded(sum(groups[g][position] for g in chosen), base)
        for chosen in ("abc", "ab")
        for position in (0, 1)
    ]


@RELAXED
@given(data=st.data(), base=st.sampled_from([3, 5, 10]))
def test_release_is_the_same_for_counts_that_round_alike(data: Any, base: int):
    """release(exact) == release(perturbed) for every perturbation of the counts that keeps
    their rounded values and stays above the suppression thresholds."""
    policy = DisclosurePolicy(rounding_base=base)
    smallest = policy.min_cell_size + base
    counts = st.integers(smallest, 60)
    exact = {}
    for group in "abc":
        events = data.draw(counts)
        exact[group] = (events + data.draw(counts), events)
    moved = dict(exact)
    for group in "abc":
        # Every (size, events) of this group that rounds as the exact one does, keeps the
        # margins' rounded values and passes the threshold rule (nothing newly suppressed).
        size, events = exact[group]
        options = [
            (size_2, events_2)
            for size_2 in candidates(rounded(size, base), base)
            for events_2 in candidates(rounded(events, base), base)
            if min(events_2, size_2 - events_2) >= policy.min_cell_size
            and margins(moved | {group: (size_2, events_2)}, base) == margins(exact, base)
        ]
        moved[group] = data.draw(st.sampled_from(options))
    for kind, params in (
        ("descriptive", {"group_by": ["g"], "rate_of": "flag"}),
        (
            "rate_comparison",
            {"group_column": "g", "group_a": "a", "group_b": "b", "outcome": "flag"},
        ),
    ):
        outputs = [
            released(run_analysis(kind, {"records": records(groups)}, params, RunContext(policy)))
            for groups in (exact, moved)
        ]
        assert outputs[0] == outputs[1], kind


@pytest.mark.parametrize("base", [3, 5, 10])
def test_published_is_the_one_rounding(base: int):
    policy = DisclosurePolicy(rounding_base=base)
    for count in range(0, 60):
        assert policy.published(count) == round_to_base(np.array([count]), base)[0]
    assert DisclosurePolicy().published(23) == 23


def multiple(value: float, base: int) -> bool:
    return abs(value / base - round(value / base)) < 1e-6


def test_matched_comparison_releases_published_counts_only():
    """On main the outcome statistics printed the treatment group's exact size (treated_n, the
    test's n_1 and events_1) and the figures an exact rate and effective size beside the
    rounded count; the characteristics' shares were exact counts over exact totals."""
    dataset = generate_dataset(20_000, seed=3, programme_size=300)
    parameters = {"eligibility": {"data_complete_until": "2022-12-31"}}
    read = columns_needed("matched_comparison", parameters)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    result = run_analysis("matched_comparison", data, parameters, declared(ROUNDED, data))
    assert "reoffending_rate" in result.statistics, result.withheld
    for name in ("reoffending_rate", "reoffence_frequency", "time_to_reoffence"):
        if name not in result.statistics:
            continue
        statistics = result.statistics[name]
        assert multiple(statistics["treated_n"], 5)
        assert multiple(statistics["control_n"], 5)
        assert multiple(statistics["test"]["n_1"], 5)
    test = result.statistics["reoffending_rate"]["test"]
    assert multiple(test["events_1"], 5)
    assert multiple(test["events_2"], 5)
    rates = result.table("reoffending_rate").table
    for group in ("treatment", "comparison"):
        cell = rates.cell(group=group)
        figure = result.figures["outcomes"]["reoffending_rate"][group]
        assert multiple(figure["effective_n"], 5)
        # The rate is a rounded number of people over the published size.
        assert multiple(figure["value"] * figure["effective_n"], 5)
        assert cell.values["value"] == figure["value"]
    for table in result.tables:
        if not table.name.startswith("characteristics_"):
            continue
        cells = table.table.cells
        for cell in cells:
            if "percent" in cell.values and not cell.suppressed:
                total = table.table.cell(
                    **dict.fromkeys(table.table.dimensions, TOTAL_LABEL)
                    | {"group": cell.labels["group"]}
                )
                if cell.labels["group"] == "treatment":
                    people = cell.values["percent"] / 100 * total.values["count"]
                    assert multiple(people, 5), (table.name, cell.labels)


def test_a_run_under_the_agreements_rounding_stores_published_counts_only(
    app: Flask, db: Session, people: People, world: World
) -> None:
    """Through the run path: the stored version's rounding base reaches every figure."""
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], rounding_base=5
    )
    grant_records(db, people, world, "rate_comparison")
    parameters = {"group_column": "sex", "group_a": "M", "group_b": "F", "outcome": "employed"}
    run = execute(app, db, submit(db, people, world, "rate_comparison", parameters).id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.result is not None
    test = run.result["statistics"]["test"]
    for key in ("n_1", "events_1", "n_2", "events_2"):
        assert multiple(test[key], 5), key
    assert test["rate_1"] == test["events_1"] / test["n_1"]
    for cell in run.result["tables"][0]["cells"]:
        values = cell["values"]
        assert values["rate"] == values["events"] / values["count"]


def balance_row(treated: int, pool: int, matched: int, policy: DisclosurePolicy, size: int):
    """One 0/1 balance row as the engine releases it over ``flag_column``'s groups, its exact
    means as ``balance_table`` computes them (pooled SMD)."""
    column, is_treated, controls = flag_column(treated, pool, matched, size)
    rows = balance_table(
        EncodedCovariates(
            matrix=column,
            names=["flag"],
            sources=["flag"],
            levels={},
            binary=[True],
            reference=[False],
        ),
        is_treated.astype(int),
        np.ones(30),
        controls[~is_treated].astype(float),
    )
    return balance_rows_published(
        rows, column, is_treated, ~is_treated, is_treated, controls, policy
    )[0]


def test_a_balance_row_does_not_give_the_pool_its_exact_size():
    """On main the pool's mean over a 0/1 column was 40/401 exactly: its denominator is the
    pool's size, which rounding hides everywhere else (the least common multiple of such
    denominators gives it, test_balance_pool.py). Under rounding it is 40 over the published
    400."""
    row = balance_row(treated=15, pool=40, matched=12, policy=ROUNDED, size=401)
    assert not row["disclosure"]["suppressed"]
    assert Fraction(row["mean_control_before"]).limit_denominator(10**7) == Fraction(40, 400)
    assert row["mean_treated_before"] == 0.5  # 15 of 30: 15 and 30 are published as they are


@RELAXED
@given(
    base=st.sampled_from([3, 5, 10]),
    treated=st.integers(0, 30),
    pool=st.integers(12, 200),
    matched=st.integers(0, 30),
    size=st.integers(230, 400),
)
def test_a_balance_row_is_the_same_for_pools_that_round_alike(base, treated, pool, matched, size):
    """One more person without the characteristic in the pool, where the pool's published
    size stays the same: the released row (means and SMDs) is the same."""
    assume(matched <= pool and pool - matched <= size - 31)
    assume(rounded(size - 30, base) == rounded(size - 29, base))
    policy = DisclosurePolicy(rounding_base=base, min_cell_size=3, zeros_are_disclosive=False)
    first = balance_row(treated, pool, matched, policy, size)
    second = balance_row(treated, pool, matched, policy, size + 1)
    assume(not first["disclosure"]["suppressed"] and not second["disclosure"]["suppressed"])
    assert first == second
