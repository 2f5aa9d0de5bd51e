"""The cell-by-cell differencing check in the engine alone, as a property: whatever two
descriptive releases over overlapping people (a category left out, a filter on a column), the
second is either refused or no cell both publish differs, on either side, by 1 to
min_cell_size - 1 people."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.analysis.engine import DisclosurePolicy, RunContext, run_analysis
from governance.analysis.engine.errors import AnalysisRefused
from governance.analysis.engine.ledger import ReleasedPopulations
from governance.analysis.engine.results import AnalysisResult

KEY = b"k" * 32
MINIMUM = 5


def register(size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "person_id": np.arange(1, size + 1),
            "region": rng.choice(["london", "north", "wales"], size=size),
            "sex": rng.choice(["F", "M"], size=size),
            "offence_category": rng.choice(
                ["fraud", "violence", "drugs"], size=size, p=[0.1, 0.5, 0.4]
            ),
        }
    )


def release(frame: pd.DataFrame, parameters: dict[str, Any], earlier: Any = ()) -> AnalysisResult:
    context = RunContext(
        policy=DisclosurePolicy(min_cell_size=MINIMUM), released=earlier, ledger_key=KEY
    )
    return run_analysis("descriptive", {"records": frame}, parameters, context)


def ledger_of(first: AnalysisResult) -> ReleasedPopulations:
    tables = [t.to_dict() for t in first.tables]
    return ReleasedPopulations(
        tuple(first.populations),
        {p.digest: [t for t in tables if t["population"] == p.label] for p in first.populations},
    )


def people_by_cell(frame: pd.DataFrame, cell: dict[str, str]) -> set[int]:
    chosen = np.ones(len(frame), dtype=bool)
    for column, label in cell.items():
        if label != "Total":
            chosen &= (frame[column].astype(str) == label).to_numpy()
    return set(frame.loc[chosen, "person_id"].tolist())


def published(result: AnalysisResult) -> list[dict[str, str]]:
    return [
        cell.labels for table in result.tables for cell in table.table.cells if not cell.suppressed
    ]


def later_release(
    frame: pd.DataFrame, first: AnalysisResult, second: str, parameters: dict[str, Any]
) -> tuple[pd.DataFrame, AnalysisResult | None]:
    """The people a second release keeps (leaving out fraud offenders, or keeping women only)
    and that release, or None when it is refused for differencing."""
    if second == "exclude":
        kept = frame[frame["offence_category"] != "fraud"]
        parameters = {**parameters, "excluded_offence_categories": ["fraud"]}
        data = frame
    else:
        kept = frame[frame["sex"] == "F"]
        data = kept
    refusal = None
    try:
        return kept, release(data, parameters, ledger_of(first))
    except AnalysisRefused as refused:
        refusal = refused.reason
    assert refusal == "differencing"
    return kept, None


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(60, 400),
    seed=st.integers(0, 10_000),
    group_by=st.sampled_from([["region"], ["region", "sex"], ["sex"]]),
    second=st.sampled_from(["exclude", "filter"]),
)
def test_two_releases_never_differ_by_a_few_people_in_a_shared_cell(
    size: int, seed: int, group_by: list[str], second: str
) -> None:
    frame = register(size, seed)
    first = release(frame, {"group_by": group_by})
    kept, again = later_release(frame, first, second, {"group_by": group_by})
    if again is None:
        return
    shared = [c for c in published(first) if c in published(again)]
    for cell in shared:
        before, after = people_by_cell(frame, cell), people_by_cell(kept, cell)
        for side in (before - after, after - before):
            assert not 0 < len(side) < MINIMUM, (cell, len(side))


def test_the_tester_attack_is_refused_in_the_engine() -> None:
    frame = register(150, 3)
    first = release(frame, {"group_by": ["region", "sex"]})
    with pytest.raises(AnalysisRefused, match="in a cell both publish"):
        release(
            frame,
            {"group_by": ["region", "sex"], "excluded_offence_categories": ["fraud"]},
            ledger_of(first),
        )


def with_outcome(frame: pd.DataFrame, seed: int, rate: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    return frame.assign(passed=(rng.random(len(frame)) < rate).astype(int))


def rate_cells(result: AnalysisResult) -> list[dict[str, str]]:
    """The cells of tables publishing the outcome's count, unsuppressed."""
    return [
        cell.labels
        for table in result.tables
        if "events:passed" in (table.measures or {}).values()
        for cell in table.table.cells
        if not cell.suppressed
    ]


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(60, 400),
    seed=st.integers(0, 10_000),
    rate=st.sampled_from([0.05, 0.3, 0.5]),
    group_by=st.sampled_from([["region"], ["sex"], ["region", "sex"]]),
    second=st.sampled_from(["exclude", "filter"]),
)
def test_two_releases_never_differ_by_a_few_events_in_a_shared_cell(
    size: int, seed: int, rate: float, group_by: list[str], second: str
) -> None:
    """Whatever a later rate table leaves out, where both publish the outcome's count in a
    cell, the people on each side of the difference there count none or at least the minimum
    with the outcome and without it (zeros being disclosive), or the later one is refused."""
    frame = with_outcome(register(size, seed), seed, rate)
    parameters = {"group_by": group_by, "rate_of": "passed"}
    first = release(frame, parameters)
    kept, again = later_release(frame, first, second, parameters)
    if again is None:
        return
    passed = set(frame.loc[frame["passed"] == 1, "person_id"].tolist())
    for cell in [c for c in rate_cells(first) if c in rate_cells(again)]:
        before, after = people_by_cell(frame, cell), people_by_cell(kept, cell)
        for side in (before - after, after - before):
            if side:
                events = len(side & passed)
                assert events >= MINIMUM, (cell, len(side))
                assert len(side) - events >= MINIMUM, (cell, len(side))


@settings(max_examples=60)
@given(
    size=st.integers(0, 70),
    outcomes=st.lists(st.sampled_from(["events:passed", "events:reoffended"]), unique=True),
    seed=st.integers(0, 1_000),
)
def test_outcomes_pack_to_a_bit_per_member_and_back(
    size: int, outcomes: list[str], seed: int
) -> None:
    from governance.analysis.engine.cell_differencing import PersonCells

    rng = np.random.default_rng(seed)
    events = {q: rng.integers(0, 2, size=size).astype(np.int8) for q in outcomes}
    cells = PersonCells(("sex",), (("F", "M"),), np.zeros((size, 1), dtype="<u2"), events)
    packed = cells.pack_events(["events:passed", "events:reoffended", "count"])
    if not outcomes:
        assert packed is None
        return
    assert packed is not None
    assert len(packed) - len(packed.split(b"]", 1)[0]) - 1 == len(outcomes) * ((size + 7) // 8)
    opened = PersonCells.unpack(cells.dimensions, cells.labels, cells.pack(), packed)
    assert set(opened.events) == set(outcomes)
    for quantity in outcomes:
        assert opened.events[quantity].tolist() == events[quantity].tolist()
