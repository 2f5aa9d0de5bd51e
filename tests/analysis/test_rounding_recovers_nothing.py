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
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from governance.analysis.engine.disclosure import DisclosurePolicy, round_to_base
from governance.analysis.engine.kinds import run_analysis
from governance.analysis.engine.kinds_base import RunContext

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
    result = run_analysis(
        "descriptive",
        {"records": records({"a": (23, 10), "b": (37, 15)}, values=scores)},
        {"group_by": ["g"], "mean_of": "score"},
        RunContext(ROUNDED),
    )
    a = cells_of(result, "means")["a"]
    assert a["count"] == 25
    whole = [n for n in candidates(25, 5) if abs(a["mean"] * n - round(a["mean"] * n)) < 1e-9]
    assert whole != [23]
    welch = result.statistics["welch"]
    assert (welch["n_1"], welch["n_2"]) == (25, 35)
    assert welch["mean_1"] == a["mean"]


def test_rate_comparison_statistics_carry_published_counts_only():
    params = {"group_column": "g", "group_a": "a", "group_b": "b", "outcome": "flag"}
    result = run_analysis(
        "rate_comparison",
        {"records": records({"a": (23, 10), "b": (37, 15)})},
        params,
        RunContext(ROUNDED),
    )
    test = result.statistics["test"]
    # On main the statistics printed 23 and 10 beside a published 25 and 10.
    assert (test["n_1"], test["events_1"], test["n_2"], test["events_2"]) == (25, 10, 35, 15)
    assert rate_attack(test["rate_1"], 25, 10, 5) != {(10, 23)}
    for figure in result.figures["rates"]:
        assert figure["rate"] in (10 / 25, 15 / 35)


def test_without_rounding_figures_stay_exact():
    params = {"group_column": "g", "group_a": "a", "group_b": "b", "outcome": "flag"}
    result = run_analysis(
        "rate_comparison",
        {"records": records({"a": (23, 10), "b": (37, 15)})},
        params,
        RunContext(DisclosurePolicy()),
    )
    test = result.statistics["test"]
    assert (test["n_1"], test["events_1"], test["rate_1"]) == (23, 10, 10 / 23)


def released(result: Any) -> str:
    """Everything a kind releases, as the output's JSON, less what describes the run rather
    than the data (the populations' member hashes are keyed per run)."""
    output = result.to_dict()
    output.pop("populations", None)
    return json.dumps(output, sort_keys=True, default=str)


@RELAXED
@given(data=st.data(), base=st.sampled_from([3, 5, 10]))
def test_release_is_the_same_for_counts_that_round_alike(data: Any, base: int):
    """release(exact) == release(perturbed) for every perturbation of the counts that keeps
    their rounded values and stays above the suppression thresholds."""
    policy = DisclosurePolicy(rounding_base=base)
    margin = policy.min_cell_size + base
    exact: dict[str, tuple[int, int]] = {}
    moved: dict[str, tuple[int, int]] = {}
    for group in ("a", "b", "c"):
        events = data.draw(st.integers(margin, 60))
        non_events = data.draw(st.integers(margin, 60))
        exact[group] = (events + non_events, events)
        events_2 = data.draw(st.sampled_from(candidates(rounded(events, base), base)))
        sizes = candidates(rounded(events + non_events, base), base)
        size_2 = data.draw(st.sampled_from([n for n in sizes if n - events_2 >= margin - base]))
        moved[group] = (size_2, events_2)
    # The margins are published too: a perturbation must keep their rounded values as well.
    for position in (0, 1):
        for chosen in (("a", "b", "c"), ("a", "b")):
            totals = [sum(groups[g][position] for g in chosen) for groups in (exact, moved)]
            assume(rounded(totals[0], base) == rounded(totals[1], base))
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
