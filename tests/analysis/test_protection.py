"""Protection intervals: no suppressed count can be narrowed to fewer than the agreed width by
anyone who solves the released tables, of one output or of two outputs over the same people.

The attacker here is independent of the engine: it builds the *full joint* table of people
(every combination of every dimension seen in any released table), writes every released cell
as the sum of the joint cells it covers, and solves for the smallest and largest value of each
suppressed cell by linear programming. The engine links tables through their common cells; for
the table families checked here that is exactly as strong as the joint attack."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from governance.analysis.engine.disclosure import TOTAL_LABEL, DisclosurePolicy
from governance.analysis.engine.kinds import run_analysis
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.ledger import ReleasedPopulations
from governance.analysis.engine.protection import LinkedTable, protect
from governance.analysis.engine.tabulation import control_count_table, control_counts, control_rates

POLICY = DisclosurePolicy()
WIDTH = POLICY.interval_width
KEY = b"protection-tests-key-0123456789ab"


def joint_ranges(
    people: pd.DataFrame,
    tables: list[dict[str, Any]],
    events: str | None = None,
    targets_of: list[dict[str, Any]] | None = None,
) -> list[tuple[dict[str, str], str, float, float]]:
    """(labels, measure, min, max) of every suppressed count of every table (of ``targets_of``,
    by default the same tables), from everything released in ``tables``, solved over the full
    joint table of people."""
    dims = sorted({d for t in [*tables, *(targets_of or [])] for d in t["dimensions"]})
    levels = [sorted(people[d].astype(str).unique()) for d in dims]
    cells = list(itertools.product(*levels))
    measures = ["count"] + (["events"] if events else [])
    n = len(cells)
    size = n * len(measures)

    def row(labels: dict[str, str], measure: str) -> np.ndarray:
        vector = np.zeros(size)
        offset = measures.index(measure) * n
        for i, cell in enumerate(cells):
            if all(labels[d] in (TOTAL_LABEL, cell[k]) for k, d in enumerate(dims) if d in labels):
                vector[offset + i] = 1.0
        return vector

    a_eq, b_eq, targets = [], [], []
    for table in tables:
        for cell in table["cells"]:
            for measure in measures:
                if measure in cell["values"] and not cell["disclosure"]["suppressed"]:
                    a_eq.append(row(cell["labels"], measure))
                    b_eq.append(float(cell["values"][measure]))
    for table in targets_of or tables:
        for cell in table["cells"]:
            for measure in measures:
                if measure in cell["values"] and cell["disclosure"]["suppressed"]:
                    targets.append((cell["labels"], measure))
    a_ub = b_ub = None
    if events:
        # Events cannot exceed the people in a joint cell.
        a_ub = np.hstack([-np.eye(n), np.eye(n)])
        b_ub = np.zeros(n)
    found = []
    for labels, measure in targets:
        objective = row(labels, measure)
        bounds = []
        for sign in (1.0, -1.0):
            result = linprog(
                sign * objective,
                A_ub=a_ub,
                b_ub=b_ub,
                A_eq=np.array(a_eq) if a_eq else None,
                b_eq=np.array(b_eq) if a_eq else None,
                bounds=[(0, None)] * size,
                method="highs",
            )
            bounds.append(np.inf if result.status == 3 else sign * result.fun)
        found.append((labels, measure, bounds[0], bounds[1]))
    return found


def people_frame(draw: Any, dims: int) -> pd.DataFrame:
    size = draw(st.integers(15, 160))
    columns = {}
    for k in range(dims):
        levels = draw(st.integers(2, 4))
        weights = draw(st.lists(st.integers(1, 12), min_size=levels, max_size=levels))
        probability = np.array(weights, float) / sum(weights)
        seed = draw(st.integers(0, 2**31 - 1))
        columns[f"d{k}"] = np.random.default_rng(seed).choice(
            [f"l{i}" for i in range(levels)], size=size, p=probability
        )
    frame = pd.DataFrame(columns)
    frame["person_id"] = np.arange(size)
    frame["event"] = np.random.default_rng(size).integers(0, 2, size=size)
    return frame


@st.composite
def two_way_people(draw: Any) -> pd.DataFrame:
    return people_frame(draw, 2)


@st.composite
def three_way_people(draw: Any) -> pd.DataFrame:
    return people_frame(draw, 3)


def assert_protected(ranges: list[tuple[dict[str, str], str, float, float]]) -> None:
    for labels, measure, low, high in ranges:
        assert high - low >= WIDTH - 1e-6, (labels, measure, low, high)


def controlled_output(people: pd.DataFrame, by: list[str], released: Any = ()) -> dict[str, Any]:
    """A descriptive output (counts and a rate) over ``people``, through the whole engine."""
    result = run_analysis(
        "descriptive",
        {"records": people},
        {"group_by": by, "rate_of": "event"},
        RunContext(POLICY, released=released, ledger_key=KEY),
    )
    return result.to_dict()


def test_a_cell_of_one_is_no_longer_pinned_between_zero_and_two():
    """The issue's example: cells 1 and 1 in a line whose other published cells leave them
    only 2 people between them; cell suppression alone hid both and stopped there."""
    table = pd.DataFrame(
        [[1, 12, 40], [1, 30, 50], [25, 30, 60]],
        index=pd.Index(["a", "b", "c"], name="r"),
        columns=pd.Index(["x", "y", "z"], name="c"),
    )
    controlled = control_count_table(table, POLICY)
    hidden = [c.labels for c in controlled.cells if c.suppressed]
    people = pd.DataFrame(
        [(r, c) for r in table.index for c in table.columns for _ in range(int(table.loc[r, c]))],
        columns=["r", "c"],
    )
    before = joint_ranges(
        people, [{"dimensions": ["r", "c"], "cells": [cell.to_dict() for cell in controlled.cells]}]
    )
    assert hidden
    assert min(high - low for *_, low, high in before) < WIDTH
    linked = LinkedTable(
        ["r", "c"],
        {"count": "count"},
        [c.labels for c in controlled.cells],
        [dict(c.raw) for c in controlled.cells],
        np.array([c.suppressed for c in controlled.cells]),
        True,
    )
    protect([linked], WIDTH)
    cells = [
        {
            **cell.to_dict(),
            "disclosure": {"suppressed": bool(s), "rules": []},
            "values": {"count": None if s else cell.raw["count"]},
        }
        for cell, s in zip(controlled.cells, linked.suppressed, strict=True)
    ]
    assert_protected(joint_ranges(people, [{"dimensions": ["r", "c"], "cells": cells}]))


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_way_people())
def test_no_suppressed_count_of_one_output_can_be_narrowed(people):
    """Counts and rates of one output, solved together (counts, events and non-events)."""
    output = controlled_output(people, ["d0", "d1"])
    assert_protected(joint_ranges(people, output["tables"], events="event"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(three_way_people())
def test_no_suppressed_count_can_be_narrowed_across_two_outputs_of_the_same_people(people):
    """Output 1 by (d0, d1), then output 2 by (d0, d2) over the same people: together they
    must not narrow any suppressed count of either output below the width, except a count
    output 1 had already released (output 2 may hide a margin output 1 published)."""
    first = run_analysis(
        "descriptive",
        {"records": people},
        {"group_by": ["d0", "d1"]},
        RunContext(POLICY, ledger_key=KEY),
    )
    earlier = first.populations[0]
    released = ReleasedPopulations((earlier,), {earlier.digest: first.to_dict()["tables"]})
    second = run_analysis(
        "descriptive",
        {"records": people},
        {"group_by": ["d0", "d2"]},
        RunContext(POLICY, released=released, ledger_key=KEY),
    )
    tables = first.to_dict()["tables"] + second.to_dict()["tables"]
    already = joint_ranges(people, first.to_dict()["tables"], targets_of=tables)
    public = {
        (repr(labels), measure)
        for labels, measure, low, high in already
        if high - low < WIDTH - 1e-6
    }
    # Only output 2's cells can have been public before it: output 1 protects its own.
    assert all("'d2'" in labels for labels, _ in public)
    combined = joint_ranges(people, tables)
    assert_protected([r for r in combined if (repr(r[0]), r[1]) not in public])


def test_tables_of_one_output_hide_the_same_count_together():
    """The counts table and the rates table both show each cell's count: a count hidden in
    one and shown in the other would be no secret, and its line would give the other away."""
    for seed in range(200):
        rng = np.random.default_rng(seed)
        people = pd.DataFrame(
            {
                "a": rng.choice(["p", "q", "r", "u"], 150, p=[0.05, 0.2, 0.35, 0.4]),
                "b": rng.choice(["s", "t", "v"], 150),
                "event": (rng.random(150) < 0.15).astype(int),
                "person_id": np.arange(150),
            }
        )
        counts = control_counts(people, ["a", "b"], POLICY)
        rates = control_rates(people, ["a", "b"], "event", POLICY)
        # A count the counts table hides while the rates table shows it.
        if any(
            c.suppressed and not r.suppressed
            for c, r in zip(counts.cells, rates.cells, strict=True)
        ):
            break
    else:
        pytest.fail("no seed gives differing suppression patterns")
    output = controlled_output(people, ["a", "b"])
    by_labels: dict[str, set[bool]] = {}
    for table in output["tables"]:
        for cell in table["cells"]:
            key = repr(sorted(cell["labels"].items()))
            by_labels.setdefault(key, set()).add(cell["disclosure"]["suppressed"])
    # A rate cell may hide only its events; a hidden count is hidden everywhere.
    for table in output["tables"]:
        if table["name"] != "counts":
            continue
        for cell in table["cells"]:
            if cell["disclosure"]["suppressed"]:
                assert by_labels[repr(sorted(cell["labels"].items()))] == {True}


def test_protection_is_fast_enough_for_a_large_sparse_table():
    rng = np.random.default_rng(9)
    size = 20_000
    people = pd.DataFrame(
        {
            "age": rng.integers(14, 70, size),
            "prior": rng.poisson(2.0, size),
            "event": rng.integers(0, 2, size),
            "person_id": np.arange(size),
        }
    )
    import time

    started = time.perf_counter()
    output = controlled_output(people, ["age", "prior"])
    elapsed = time.perf_counter() - started
    suppressed = sum(c["disclosure"]["suppressed"] for c in output["tables"][0]["cells"])
    assert suppressed > 100
    assert elapsed < 120, elapsed


@pytest.mark.parametrize("width", [3, 15])
def test_the_width_comes_from_the_policy(width):
    policy = DisclosurePolicy(protection_width=width)
    assert policy.interval_width == width
    assert DisclosurePolicy().interval_width == DisclosurePolicy().min_cell_size
