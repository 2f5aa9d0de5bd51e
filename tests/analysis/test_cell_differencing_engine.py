"""The cell-by-cell differencing check in the engine alone, as a property: whatever two
descriptive releases over overlapping people (a category left out, a filter on a column), the
second is either refused or no cell both publish differs, on either side, by 1 to
min_cell_size - 1 people."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from governance.analysis.engine import (
    DisclosurePolicy,
    RunContext,
    SyntheticDataset,
    columns_needed,
    generate_dataset,
    run_analysis,
)
from governance.analysis.engine.errors import AnalysisRefused
from governance.analysis.engine.ledger import ReleasedPopulations, hash_members
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


def release(
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    earlier: Any = (),
    kind: str = "descriptive",
    minimum: int = MINIMUM,
    **tables: pd.DataFrame,
) -> AnalysisResult:
    context = RunContext(
        policy=DisclosurePolicy(min_cell_size=minimum),
        released=earlier,
        ledger_key=KEY,
        keep_population_keys=True,
    )
    data = {"records": frame, **tables} if kind != "matched_comparison" else tables
    return run_analysis(kind, data, parameters, context)


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


# The matched comparison, whose outcome tables publish each group's re-offenders (the rate's
# events, the time to re-offence's count of people): numeric covariates only, so that the
# matched groups' cells are the two groups and their total.
MATCHED = {
    "eligibility": {"data_complete_until": "2022-12-31"},
    "covariates": ["age_at_index", "prior_offences", "employed"],
    "categorical": [],
}
MATCHED_MINIMUM = 10  # the default policy's: twelve people left out are on its wrong side
GROUPS = "treatment and comparison groups"
CELL_PEOPLE = {"treatment": "treatment group", "comparison": "comparison group", "Total": GROUPS}


@functools.cache
def probation() -> SyntheticDataset:
    return generate_dataset(4000, seed=11, programme_size=300)


def matched_release(cohort: pd.DataFrame, earlier: Any = ()) -> AnalysisResult:
    read = columns_needed("matched_comparison", MATCHED)
    data = {table: getattr(probation(), table)[columns] for table, columns in read.items()}
    data["cohort"] = cohort[read["cohort"]]
    return release(pd.DataFrame(), MATCHED, earlier, "matched_comparison", MATCHED_MINIMUM, **data)


@functools.cache
def matched_over(start: int, removed: int) -> AnalysisResult:
    """The matched comparison over the partner's file without ``removed`` rows from
    ``start``, released first."""
    cohort = probation().cohort
    return matched_release(cohort.drop(cohort.index[start : start + removed]))


def keys_of(result: AnalysisResult) -> dict[str, set[str]]:
    return {p.label: set(p.keys or ()) for p in result.populations}


def reoffenders(result: AnalysisResult) -> dict[str, int]:
    """Each group's re-offenders (and the total's) as the time to re-offence publishes them."""
    try:
        table = result.table("time_to_reoffence").table
    except KeyError:  # withheld: matching did not balance the groups
        return {}
    return {c.labels["group"]: c.values["count"] for c in table.cells if not c.suppressed}


@pytest.mark.parametrize("matched_first", [True, False])
def test_a_rate_table_and_a_matched_comparison_a_few_reoffenders_apart(
    matched_first: bool,
) -> None:
    """A rate table over the matched people less twelve of the treatment group, before or
    after the matched comparison: both publish the total's re-offenders (the matched one as
    the time to re-offence's count), twelve people apart, which the people check lets through;
    on main the difference said how many of the twelve re-offended. Now the later is refused."""
    full = probation().cohort
    matched = matched_release(full)
    people = keys_of(matched)
    left_out = set(sorted(people["treatment group"], key=int)[:12])
    chosen = {int(key) for key in people[GROUPS] - left_out}
    parameters = {"group_by": ["sex"], "rate_of": "reoffended"}
    read = columns_needed("descriptive", parameters)
    events = probation().index_events
    records = events[events["person_id"].isin(chosen)][read["records"]]
    offences = probation().offences[read["offences"]]
    if matched_first:
        with pytest.raises(AnalysisRefused, match="outcome's events"):
            release(
                records,
                parameters,
                ledger_of(matched),
                minimum=MATCHED_MINIMUM,
                offences=offences,
            )
    else:
        rates = release(records, parameters, minimum=MATCHED_MINIMUM, offences=offences)
        with pytest.raises(AnalysisRefused, match="outcome's events"):
            matched_release(full, ledger_of(rates))


def reoffended_by_person(result: AnalysisResult) -> dict[str, int]:
    """Each matched person's re-offending as the matched groups hand it to the ledger, by
    person key (a member's position is that of its keyed hash among the sorted members)."""
    groups = next(p for p in result.populations if p.label == GROUPS)
    assert groups.cells is not None
    assert groups.keys is not None
    if "events:reoffended" not in groups.cells.events:
        return {}  # the outcomes were withheld: matching did not balance the groups
    hashes = np.concatenate([hash_members([key], KEY) for key in groups.keys])
    events = groups.cells.events["events:reoffended"][np.searchsorted(groups.members, hashes)]
    return dict(zip(groups.keys, events.tolist(), strict=True))


def cohorts(start: int, removed: int, mode: str) -> tuple[AnalysisResult, pd.DataFrame]:
    """The first release and the partner's file of the second: the file less some rows after
    the whole file or before it, or the rest of the file after its first ``start`` rows."""
    cohort = probation().cohort
    narrower = cohort.drop(cohort.index[start : start + removed])
    if mode == "narrower later":
        return matched_over(0, 0), narrower
    if mode == "narrower first":
        return matched_over(start, removed), cohort
    return matched_over(start, len(cohort)), cohort.iloc[start:]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(100, 200),  # each part of the file has enough people to compare
    removed=st.sampled_from([6, 12, 20, 40]),
    mode=st.sampled_from(["narrower later", "narrower first", "another part"]),
)
# Ten people of the treatment group left out, four of whom re-offended (released on main).
@example(start=90, removed=12, mode="narrower later")
@example(start=90, removed=12, mode="narrower first")
@example(start=200, removed=0, mode="another part")  # both released, the outcomes compared
def test_two_matched_comparisons_never_differ_by_a_few_reoffenders_in_a_shared_cell(
    start: int, removed: int, mode: str
) -> None:
    """Two matched comparisons over two files of the partner's (one less some rows, or two
    parts of it): each hands the ledger the re-offending its outcome tables count (the
    published re-offenders of each group are the sum of it), and if both are released, then
    in each group (and their total) both publish, the people on each side of the difference
    (those in one release's group only, and those whose re-offending differs) count none, or
    at least the minimum who re-offended and the minimum who did not."""
    first, file = cohorts(start, removed, mode)
    refusal = None
    try:
        again = matched_release(file, ledger_of(first))
    except AnalysisRefused as refused:
        refusal = refused.reason
    if refusal is not None:
        assert refusal == "differencing"
        return
    releases = [(keys_of(r), reoffended_by_person(r), reoffenders(r)) for r in (first, again)]
    for people, outcome, published in releases:
        for group, count in published.items():
            assert sum(outcome[key] for key in people[CELL_PEOPLE[group]]) == count
    (before, outcome_before, shown_before), (after, outcome_after, shown_after) = releases
    for group in shown_before.keys() & shown_after.keys():
        one, other = before[CELL_PEOPLE[group]], after[CELL_PEOPLE[group]]
        changed = {k for k in one & other if outcome_before[k] != outcome_after[k]}
        for side, outcome in (
            (one - other | changed, outcome_before),
            (other - one | changed, outcome_after),
        ):
            if side:
                events = sum(outcome[key] for key in side)
                assert events >= MATCHED_MINIMUM, (group, len(side), events)
                assert len(side) - events >= MATCHED_MINIMUM, (group, len(side), events)
