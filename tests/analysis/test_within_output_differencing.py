"""Differencing cell by cell between the tables of ONE output (the engine alone).

Two populations of an output far enough apart to pass the whole-population check could still be
subtracted cell by cell: counts over everyone and means over those with a value gave, in a
cell, the number there without a value (1 to min_cell_size - 1 of them); two rate tables over
populations 30 people apart in a cell gave how many of those 30 re-offended. Now, in every cell
both publish, the people on each side of the difference number 0 or at least min_cell_size, and
where both publish an outcome's count, that side's events and non-events pass the rule a single
rate table applies; otherwise the later (secondary) population's tables are withheld, and an
essential one refuses the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.analysis.engine import DisclosurePolicy, RunContext, run_analysis
from governance.analysis.engine.cell_differencing import CellRelease, cell_difference
from governance.analysis.engine.disclosure import TOTAL_LABEL, control_table
from governance.analysis.engine.errors import AnalysisRefused
from governance.analysis.engine.kinds import columns_needed
from governance.analysis.engine.ledger import population_of
from governance.analysis.engine.matched_summary import flow_table
from governance.analysis.engine.results import AnalysisResult, ResultTable
from governance.analysis.engine.synthetic import generate_dataset
from governance.analysis.engine.tabulation import aggregate_cells

KEY = b"k" * 32
MINIMUM = 10
WITHHELD = "in the same output, in a cell both publish"
EVENTS = "events:reoffended"


def survey(f_missing: int, m_missing: int, size: int = 300, seed: int = 1) -> pd.DataFrame:
    """People alternately F and M, the first ``f_missing`` women and ``m_missing`` men without
    a score."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "person_id": np.arange(1, size + 1),
            "sex": np.where(np.arange(size) % 2 == 0, "F", "M"),
            "passed": rng.integers(0, 2, size),
            "score": rng.normal(50, 10, size).round(1),
        }
    )
    women = frame.index[frame["sex"] == "F"][:f_missing]
    men = frame.index[frame["sex"] == "M"][:m_missing]
    frame.loc[women.union(men), "score"] = np.nan
    return frame


def describe(frame: pd.DataFrame, parameters: dict[str, Any], **policy: Any) -> AnalysisResult:
    context = RunContext(policy=DisclosurePolicy(**policy), ledger_key=KEY)
    return run_analysis("descriptive", {"records": frame}, parameters, context)


def test_means_over_those_with_a_value_a_few_apart_in_a_cell_are_withheld() -> None:
    """25 people without a score pass the whole-population check; the 3 women among them were
    published by subtraction (counts of women less the means table's count of women)."""
    frame = survey(f_missing=3, m_missing=22)
    result = describe(frame, {"group_by": ["sex"], "mean_of": "score", "rate_of": "passed"})
    assert [t.name for t in result.tables] == ["counts", "rates"]
    assert WITHHELD in result.withheld["means"]
    assert f"fewer than {MINIMUM} people" in result.withheld["means"]
    assert any(note.startswith("A table was withheld: it describes") for note in result.notes)
    assert [p.label for p in result.populations] == ["records"]
    assert no_small_differences(result, frame)


@pytest.mark.parametrize(("f_missing", "m_missing"), [(12, 13), (0, 20), (0, 0)])
def test_means_whose_cells_differ_by_none_or_enough_are_released_unchanged(
    f_missing: int, m_missing: int
) -> None:
    frame = survey(f_missing, m_missing)
    result = describe(frame, {"group_by": ["sex"], "mean_of": "score"})
    assert [t.name for t in result.tables] == ["counts", "means"]
    assert not result.withheld
    valued = frame[frame["score"].notna()]
    means = result.table("means").table
    for sex in ("F", "M"):
        cell = means.cell(sex=sex)
        assert not cell.suppressed
        assert cell.values["count"] == int((valued["sex"] == sex).sum())
        assert cell.values["mean"] == pytest.approx(
            valued.loc[valued["sex"] == sex, "score"].mean()
        )


def test_a_cell_the_means_table_suppresses_is_not_a_conflict() -> None:
    """Only cells both tables publish count: a cell whose means are suppressed is not there."""
    frame = survey(f_missing=0, m_missing=20, size=300)
    frame.loc[frame.index[frame["sex"] == "F"][:3], "sex"] = "X"  # three people, suppressed
    frame.loc[frame.index[frame["sex"] == "X"][:1], "score"] = np.nan
    result = describe(frame, {"group_by": ["sex"], "mean_of": "score"})
    counts, means = result.table("counts").table, result.table("means").table
    assert counts.cell(sex="X").suppressed
    assert means.cell(sex="X").suppressed
    assert not result.withheld


# Two rate tables over two populations of one output (the engine's kinds each publish an
# outcome's count over one population today; the control step is what protects a kind that
# publishes it over two).


def reoffenders(seed: int = 2) -> pd.DataFrame:
    """200 people, 100 in London of whom 50 re-offended, 100 in the North."""
    rng = np.random.default_rng(seed)
    london = np.r_[np.ones(50), np.zeros(50)]
    return pd.DataFrame(
        {
            "person_id": np.arange(1, 201),
            "region": ["london"] * 100 + ["north"] * 100,
            "reoffended": np.r_[london, rng.permutation(np.r_[np.ones(40), np.zeros(60)])].astype(
                int
            ),
        }
    )


def without_londoners(frame: pd.DataFrame, reoffended: int, others: int) -> pd.DataFrame:
    """``frame`` less ``reoffended`` London re-offenders and ``others`` London non-offenders."""
    london = frame["region"] == "london"
    gone = frame.index[london & (frame["reoffended"] == 1)][:reoffended].union(
        frame.index[london & (frame["reoffended"] == 0)][:others]
    )
    return frame.drop(gone)


def two_rate_tables(
    everyone: pd.DataFrame,
    subset: pd.DataFrame,
    policy: DisclosurePolicy,
    subset_essential: bool = False,
) -> AnalysisResult:
    """An output with a rate table over ``everyone`` and one over ``subset``, controlled."""
    context = RunContext(policy=policy, ledger_key=KEY)
    result = AnalysisResult(kind="test", parameters={})
    for label, frame, essential in (
        ("everyone", everyone, True),
        ("subset", subset, subset_essential),
    ):
        result.populations.append(
            context.population(
                label,
                frame["person_id"],
                essential=essential,
                cells=frame[["region"]],
                events=pd.DataFrame({EVENTS: frame["reoffended"].to_numpy()}),
            )
        )
        result.tables.append(
            ResultTable(f"rates of {label}", "Rate", rates(frame, policy), label, measures=RATES)
        )
    context.control(result)
    return result


RATES = {"count": "count", "events": EVENTS}


def rates(frame: pd.DataFrame, policy: DisclosurePolicy) -> Any:
    cells = aggregate_cells(frame, ["region"], event_column="reoffended")
    return control_table(cells, ["region"], "rate", policy)


@pytest.mark.parametrize(
    ("gone_reoffending", "gone_not", "policy"),
    [
        (3, 27, {}),  # 3 of the 30 re-offended
        (27, 3, {}),  # 3 of the 30 did not
        (0, 30, {}),  # none of the 30 re-offended: a zero is disclosive by default
    ],
)
def test_two_rate_tables_whose_outcomes_differ_by_a_few_in_a_cell_are_withheld(
    gone_reoffending: int, gone_not: int, policy: dict[str, Any]
) -> None:
    """30 people apart in London (and in all) passes every count-of-people check; subtracting
    the two tables' London events gave how many of those 30 re-offended."""
    everyone = reoffenders()
    subset = without_londoners(everyone, gone_reoffending, gone_not)
    result = two_rate_tables(everyone, subset, DisclosurePolicy(**policy))
    assert [t.name for t in result.tables] == ["rates of everyone"]
    assert WITHHELD in result.withheld["rates of subset"]
    assert [p.label for p in result.populations] == ["everyone"]


@pytest.mark.parametrize(
    ("gone_reoffending", "gone_not", "policy"),
    [
        (12, 18, {}),
        (27, 3, {"protect_non_events": False}),  # the agreement leaves non-events unprotected
        (0, 30, {"zeros_are_disclosive": False}),
        (0, 0, {}),
    ],
)
def test_two_rate_tables_are_released_when_a_single_table_would_publish_the_difference(
    gone_reoffending: int, gone_not: int, policy: dict[str, Any]
) -> None:
    everyone = reoffenders()
    subset = without_londoners(everyone, gone_reoffending, gone_not)
    result = two_rate_tables(everyone, subset, DisclosurePolicy(**policy))
    assert [t.name for t in result.tables] == ["rates of everyone", "rates of subset"]
    assert not result.withheld
    london = result.table("rates of subset").table.cell(region="london")
    assert not london.suppressed
    assert london.values["events"] == 50 - gone_reoffending


def test_an_essential_population_that_conflicts_within_the_output_refuses_the_run() -> None:
    everyone = reoffenders()
    with pytest.raises(AnalysisRefused, match="another population of the same output"):
        two_rate_tables(
            everyone, without_londoners(everyone, 3, 27), DisclosurePolicy(), subset_essential=True
        )


def test_a_person_whose_outcome_differs_counts_on_both_sides() -> None:
    """The same people in the same cells, three of whose outcomes differ between the two
    tables: subtracting the events gives those three."""
    frame = reoffenders()
    changed = frame.copy()
    changed.loc[changed.index[:3], "reoffended"] = 0  # three London re-offenders
    policy = DisclosurePolicy()
    first, second = (
        population_of(
            label,
            f["person_id"],
            KEY,
            cells=f[["region"]],
            events=pd.DataFrame({EVENTS: f["reoffended"].to_numpy()}),
        )
        for label, f in (("first", frame), ("second", changed))
    )
    tables = [rate_table(f, policy) for f in (frame, changed)]
    assert first.cells is not None
    assert second.cells is not None
    assert first.members is not None
    assert second.members is not None
    earlier = CellRelease("first", None, first.members, first.cells, [tables[0]])
    found = cell_difference(second.members, second.cells, [tables[1]], earlier, MINIMUM, policy)
    assert found is not None
    assert found.cells == 2
    # Against an earlier release (no policy: the ledger keeps no outcomes) only people count.
    assert cell_difference(second.members, second.cells, [tables[1]], earlier, MINIMUM) is None


def rate_table(frame: pd.DataFrame, policy: DisclosurePolicy) -> dict[str, Any]:
    return ResultTable("rates", "Rate", rates(frame, policy), "p", measures=RATES).to_dict()


# The property: whatever the register, no two cells an output publishes over the same cell
# differ, on either side, by 1 to N - 1 people, nor (where both publish an outcome's count) by
# 1 to N - 1 events or non-events.


def people_in(frame: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    chosen = np.ones(len(frame), dtype=bool)
    for column, label in labels.items():
        if label != TOTAL_LABEL:
            chosen &= (frame[column].astype(str) == label).to_numpy()
    return frame[chosen]


def cell_of(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if v != TOTAL_LABEL))


def published(
    result: AnalysisResult, frames: dict[str, pd.DataFrame]
) -> Iterable[tuple[tuple[tuple[str, str], ...], pd.DataFrame, set[str]]]:
    """(cell, its people, quantities published there) of every unsuppressed cell, by table."""
    for table in result.tables:
        frame = frames[table.name]
        quantities = set(table.quantities().values())
        for cell in table.table.cells:
            if not cell.suppressed:
                yield cell_of(cell.labels), people_in(frame, cell.labels), quantities


def no_small_differences(
    result: AnalysisResult, frame: pd.DataFrame, frames: dict[str, pd.DataFrame] | None = None
) -> bool:
    """Every pair of published cells over the same cell: each side of the people (and, for an
    outcome both publish, of its events and non-events) is 0 or at least MINIMUM."""
    frames = frames or {
        "counts": frame,
        "rates": frame,
        "means": frame[pd.to_numeric(frame["score"], errors="coerce").notna()],
    }
    cells = list(published(result, frames))
    for position, (cell, first, quantities) in enumerate(cells):
        for other_cell, second, other_quantities in cells[position + 1 :]:
            if cell != other_cell:
                continue
            for one, two in ((first, second), (second, first)):
                side = one[~one["person_id"].isin(two["person_id"])]
                if 0 < len(side) < MINIMUM:
                    return False
                for quantity in quantities & other_quantities:
                    if quantity.startswith("events:"):
                        events = int(side[quantity.split(":", 1)[1]].sum())
                        if 0 < events < MINIMUM or 0 < len(side) - events < MINIMUM:
                            return False
                        if len(side) and not (events and len(side) - events):
                            return False  # a zero is disclosive by default
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(40, 300),
    seed=st.integers(0, 10_000),
    group_by=st.sampled_from([["region"], ["region", "sex"], ["sex"]]),
    missing=st.floats(0.0, 0.4),
)
def test_no_output_publishes_a_small_difference_between_its_populations(
    size: int, seed: int, group_by: list[str], missing: float
) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "person_id": np.arange(1, size + 1),
            "region": rng.choice(["london", "north", "wales"], size=size),
            "sex": rng.choice(["F", "M"], size=size),
            "passed": rng.integers(0, 2, size=size),
            "score": rng.normal(50, 10, size=size),
        }
    )
    # Missing more often in one region, so the cells' gaps differ from the total's.
    chance = np.where(frame["region"] == "wales", missing, missing / 4)
    frame.loc[rng.random(size) < chance, "score"] = np.nan
    parameters = {"group_by": group_by, "mean_of": "score", "rate_of": "passed"}
    result = describe(frame, parameters)
    assert no_small_differences(result, frame)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), kept=st.floats(0.5, 1.0))
def test_no_two_rate_tables_of_an_output_publish_a_small_difference_of_outcomes(
    seed: int, kept: float
) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(80, 400))
    everyone = pd.DataFrame(
        {
            "person_id": np.arange(1, size + 1),
            "region": rng.choice(["london", "north"], size=size),
            "reoffended": rng.integers(0, 2, size=size),
        }
    )
    subset = everyone[rng.random(size) < kept]
    result = two_rate_tables(everyone, subset, DisclosurePolicy())
    frames = {"rates of everyone": everyone, "rates of subset": subset}
    assert no_small_differences(result, everyone, frames)


# The matched comparison's cohort flow counts the submitted rows by what happened to each. Its
# cells are disjoint groups, so two of them never subtract to a group of people; but its
# ``in_treatment_group`` is the treatment group's size, which the tables over the matched
# groups publish (their treatment totals). Hidden as the complement of a small count, it gave
# that count back: the flow's total less its other cells less the treatment group.


def controlled_flow(flow: dict[str, int], policy: DisclosurePolicy) -> list[Any]:
    context = RunContext(policy=policy, ledger_key=KEY)
    result = AnalysisResult(kind="test", parameters={})
    result.populations.append(
        context.population(
            "linked cohort", list(range(sum(flow.values()))), compare_within_output=False
        )
    )
    result.tables.append(flow_table(Counter(flow), policy))
    context.control(result)
    return result.tables[0].table.cells


def test_the_flow_does_not_hide_the_treatment_group_to_protect_a_small_count() -> None:
    """On main: in_treatment_group 40 hidden beside no_index_event 5, the total 545 and
    not_found 500 published, and 40 published by every characteristics table: 5 = 545 - 500 -
    40."""
    cells = {
        c.labels["stage"]: c
        for c in controlled_flow(
            {"in_treatment_group": 40, "not_found": 500, "no_index_event": 5}, DisclosurePolicy()
        )
    }
    assert cells["no_index_event"].suppressed
    assert cells["in_treatment_group"].values["count"] == 40
    assert widest_interval(cells, "no_index_event", treated=40) >= MINIMUM


def widest_interval(cells: dict[str, Any], stage: str, treated: int) -> float:
    """The width of what a reader knowing the treatment group's size learns of a hidden
    flow cell: with the total published, the hidden cells share what is left (each from 0 to
    all of it, or exactly it when alone); with the total hidden, nothing bounds them."""
    total = cells[TOTAL_LABEL]
    if total.suppressed:
        return float("inf")
    known = {
        name: (treated if name == "in_treatment_group" else cell.values["count"])
        for name, cell in cells.items()
        if name != TOTAL_LABEL and (not cell.suppressed or name == "in_treatment_group")
    }
    left = total.values["count"] - sum(known.values())
    hidden = [name for name, cell in cells.items() if name != TOTAL_LABEL and name not in known]
    assert stage in hidden
    return 0.0 if len(hidden) == 1 else float(left)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    treated=st.integers(10, 400),
    others=st.dictionaries(
        st.sampled_from(
            ["not_found", "no_index_event", "under_min_age", "ambiguous", "invalid_sex"]
        ),
        st.integers(1, 600),
        min_size=1,
    ),
)
def test_no_small_flow_count_is_recovered_with_the_treatment_group_known(
    treated: int, others: dict[str, int]
) -> None:
    flow = {"in_treatment_group": treated, **others}
    cells = {c.labels["stage"]: c for c in controlled_flow(flow, DisclosurePolicy())}
    for stage, count in others.items():
        if count < MINIMUM:
            assert cells[stage].suppressed
            assert widest_interval(cells, stage, treated) >= MINIMUM, (flow, stage)


def test_the_flow_treatment_group_is_the_size_the_matched_tables_publish() -> None:
    """The premise: a matched run's characteristics tables publish the flow's in_treatment_group
    (their treatment total), and the flow publishes it too."""
    dataset = generate_dataset(20_000, seed=3, programme_size=300)
    parameters = {"eligibility": {"data_complete_until": "2022-12-31"}}
    read = columns_needed("matched_comparison", parameters)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    result = run_analysis(
        "matched_comparison", data, parameters, RunContext(DisclosurePolicy(), ledger_key=KEY)
    )
    flow = result.table("cohort_flow").table.cell(stage="in_treatment_group")
    assert not flow.suppressed
    for table in result.tables:
        if table.name.startswith("characteristics_") and "count" in table.table.cells[0].values:
            labels = dict.fromkeys(table.table.dimensions, TOTAL_LABEL) | {"group": "treatment"}
            assert table.table.cell(**labels).values["count"] == flow.values["count"]
