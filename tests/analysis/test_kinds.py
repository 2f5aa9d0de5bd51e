"""Analysis kinds end to end on synthetic data: columns, validation, disclosure, results."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from governance.analysis.engine.disclosure import DisclosurePolicy
from governance.analysis.engine.errors import AnalysisParameterError, AnalysisRefused
from governance.analysis.engine.kinds import columns_needed, get_kind, list_kinds, run_analysis
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.ledger import population_of
from governance.analysis.engine.reoffending import derive_outcomes
from governance.analysis.engine.stats import two_proportion_test
from governance.analysis.engine.synthetic import generate_dataset

POLICY = DisclosurePolicy()
MATCHED = {"eligibility": {"data_complete_until": "2022-12-31"}}
# Radius matching averages over many controls, so balance on ~1,000 people is reliably
# within |SMD| 0.1; 1:1 matching is exercised separately below.
RADIUS = {**MATCHED, "matching": {"method": "radius", "caliper": 0.05}}


# Under xdist the module's tests stay on one worker: the 100,000-person dataset and its
# matching are made once.
pytestmark = pytest.mark.xdist_group("test_kinds")


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(100_000, seed=1, programme_size=1_000)


@pytest.fixture(scope="module")
def matched(dataset):
    read = columns_needed("matched_comparison", RADIUS)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    seen: list[float] = []
    result = run_analysis(
        "matched_comparison", data, RADIUS, RunContext(POLICY, progress=lambda f, m: seen.append(f))
    )
    return result, seen


def walk_cells(result_dict: dict[str, Any]):
    for table in result_dict["tables"]:
        yield from table["cells"]


def test_registry_lists_three_kinds_and_rejects_unknown():
    assert [k["name"] for k in list_kinds()] == [
        "descriptive",
        "rate_comparison",
        "matched_comparison",
    ]
    with pytest.raises(AnalysisParameterError) as error:
        get_kind("regression")
    assert error.value.field == "kind"


def test_columns_are_declared_before_loading():
    assert columns_needed("descriptive", {"group_by": ["sex", "region"]}) == {
        "records": ["person_id", "sex", "region"]
    }
    derived = columns_needed("descriptive", {"group_by": ["sex"], "rate_of": "reoffended"})
    assert derived["offences"] == ["person_id", "offence_date", "proven_date"]
    assert "index_date" in derived["records"]
    assert "reoffended" not in derived["records"]
    matched = columns_needed("matched_comparison", {"covariates": ["age_at_index", "sex"]})
    assert "reference" not in matched["cohort"]
    assert set(matched["index_events"]) == {
        "person_id",
        "name",
        "date_of_birth",
        "sex",
        "index_date",
        "offence_category",
        "age_at_index",
    }


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("descriptive", {"group_by": ["a", "b", "c", "d"]}, "group_by"),
        ("descriptive", {"group_by": "sex"}, "group_by"),
        (
            "rate_comparison",
            {"group_column": "sex", "group_a": "M", "group_b": "M", "outcome": "reoffended"},
            "group_b",
        ),
        ("matched_comparison", {"matching": {"method": "optimal"}}, "method"),
        ("matched_comparison", {"matching": {"calipr": 0.1}}, "matching.calipr"),
        ("matched_comparison", {"eligibility": {"min_age": -2}}, "min_age"),
        ("matched_comparison", {"max_abs_smd": "small"}, "max_abs_smd"),
        (
            "matched_comparison",
            {"covariates": ["age_at_index"], "categorical": ["sex"]},
            "categorical",
        ),
    ],
)
def test_parameter_errors_name_the_field(kind, params, field):
    with pytest.raises(AnalysisParameterError) as error:
        get_kind(kind).validate(params)
    assert error.value.field == field


def test_descriptive_tables_are_disclosure_controlled(dataset):
    params = {
        "group_by": ["region", "offence_category", "ethnicity"],
        "rate_of": "reoffended",
        "mean_of": "prior_offences",
    }
    read = columns_needed("descriptive", params)
    data = {"records": dataset.index_events[read["records"]], "offences": dataset.offences}
    result = run_analysis("descriptive", data, params, RunContext(POLICY))
    assert [t.name for t in result.tables] == ["counts", "rates", "means"]
    output = result.to_dict()
    json.dumps(output, allow_nan=False)
    for cell in walk_cells(output):
        if not cell["disclosure"]["suppressed"]:
            assert cell["values"]["count"] >= POLICY.min_cell_size
    assert any(cell["disclosure"]["suppressed"] for cell in walk_cells(output))  # rare groups
    people = dataset.index_events["person_id"].nunique()
    assert result.populations[0].size == people
    assert "counted once" in " ".join(result.notes)


def test_descriptive_refuses_identifier_grouping_and_differencing(dataset):
    records = dataset.index_events[["person_id", "sex", "name"]]
    with pytest.raises(AnalysisRefused) as error:
        run_analysis(
            "descriptive",
            {"records": records},
            {"group_by": ["name"]},
            RunContext(POLICY, direct_identifiers=frozenset({"name"})),
        )
    assert error.value.reason == "direct_identifier"
    people = records["person_id"].unique()
    key = b"k" * 32
    earlier = population_of("records", people[3:], key)
    with pytest.raises(AnalysisRefused) as differencing:
        run_analysis(
            "descriptive",
            {"records": records},
            {"group_by": ["sex"]},
            RunContext(POLICY, released=(earlier,), ledger_key=key),
        )
    assert differencing.value.reason == "differencing"


def test_rate_comparison_matches_direct_test(dataset):
    params = {"group_column": "sex", "group_a": "F", "group_b": "M", "outcome": "reoffended"}
    data = {"records": dataset.index_events, "offences": dataset.offences}
    result = run_analysis("rate_comparison", data, params, RunContext(POLICY))
    first = dataset.index_events.sort_values("index_date", kind="stable").drop_duplicates(
        "person_id"
    )
    outcome = derive_outcomes(first, dataset.offences)["reoffended"].to_numpy()
    women = first["sex"].to_numpy() == "F"
    expected = two_proportion_test(
        outcome[women].sum(), women.sum(), outcome[~women].sum(), (~women).sum()
    )
    assert result.statistics["test"]["p_value"] == pytest.approx(expected.p_value)
    assert result.statistics["test"]["ci_low"] == pytest.approx(expected.ci_low)
    assert "percentage points" in result.summary
    low, high = result.figures["rates"][0]["ci"]
    assert low < result.figures["rates"][0]["rate"] < high


def test_rate_comparison_withholds_test_when_a_group_is_suppressed(dataset):
    params = {
        "group_column": "offence_category",
        "group_a": "terrorism",
        "group_b": "violence",
        "outcome": "reoffended",
    }
    data = {"records": dataset.index_events, "offences": dataset.offences}
    result = run_analysis(
        "rate_comparison", data, params, RunContext(DisclosurePolicy(min_cell_size=500))
    )
    assert "test" in result.withheld
    assert "test" not in result.statistics


def test_matched_comparison_recovers_planted_effect(matched, dataset):
    result, seen = matched
    assert not result.withheld, result.withheld
    rate = result.statistics["reoffending_rate"]["test"]
    planted = -dataset.truth["effect_pp"] / 100
    assert rate["ci_low"] <= planted <= rate["ci_high"]
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert "For every 100 typical people in the treatment group" in result.summary
    assert {p.label for p in result.populations} == {
        "linked cohort",
        "treatment group",
        "comparison group",
        "treatment and comparison groups",
    }


def test_matched_comparison_output_is_safe_json(matched):
    result, _ = matched
    output = result.to_dict()
    text = json.dumps(output, allow_nan=False)
    assert "Case " not in text  # the partner's free-text reference never reaches an output
    for cell in walk_cells(output):
        count = cell["values"].get("count")
        if cell["disclosure"]["suppressed"]:
            assert all(value is None for value in cell["values"].values())
        elif count is not None:
            assert count >= POLICY.min_cell_size
    flow = {c["labels"]["stage"]: c for c in result.table("cohort_flow").table.to_dict()["cells"]}
    assert "in_treatment_group" in flow
    assert "not_found" in flow
    assert any(row["disclosure"]["suppressed"] is False for row in result.figures["balance"])


def test_imbalance_withholds_outcomes_and_names_covariates(dataset):
    params = {**MATCHED, "max_abs_smd": 0.0001}
    read = columns_needed("matched_comparison", params)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    result = run_analysis("matched_comparison", data, params, RunContext(POLICY))
    assert "outcomes" in result.withheld
    assert "prior_offences" in result.withheld["outcomes"]
    assert not any(t.name == "reoffending_rate" for t in result.tables)


def test_small_cohort_is_refused(dataset):
    params = {"eligibility": {"min_cohort_size": 100_000}}
    read = columns_needed("matched_comparison", params)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    with pytest.raises(AnalysisRefused) as error:
        run_analysis("matched_comparison", data, params, RunContext(POLICY))
    assert error.value.reason == "cohort_too_small"
    assert not any(char.isdigit() for char in error.value.message.replace("100000", ""))


def test_radius_weights_give_smaller_effective_size(matched):
    rate = matched[0].statistics["reoffending_rate"]
    assert rate["control_effective_n"] < rate["control_n"]
    assert np.isfinite(rate["test"]["p_value"])


def test_default_one_to_one_matching_kind(dataset):
    read = columns_needed("matched_comparison", MATCHED)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    result = run_analysis("matched_comparison", data, MATCHED, RunContext(POLICY))
    assert not result.withheld, result.withheld
    rate = result.statistics["reoffending_rate"]
    assert rate["control_n"] == rate["treated_n"]  # 1:1 without replacement
    assert rate["test"]["ci_low"] <= -dataset.truth["effect_pp"] / 100 <= rate["test"]["ci_high"]


def test_rounding_policy_and_missing_labels_in_descriptive(dataset):
    records = dataset.index_events[["person_id", "region", "employed"]].copy()
    records.loc[records.index[:40], "region"] = None
    policy = DisclosurePolicy(rounding_base=5)
    result = run_analysis(
        "descriptive",
        {"records": records},
        {"group_by": ["region"], "rate_of": "employed"},
        RunContext(policy),
    )
    output = result.to_dict()
    json.dumps(output, allow_nan=False)
    labels = {cell["labels"]["region"] for cell in walk_cells(output)}
    assert "Missing" in labels
    for cell in walk_cells(output):
        if not cell["disclosure"]["suppressed"]:
            assert cell["values"]["count"] % 5 == 0
            assert "rounding" in cell["disclosure"]["rules"]


def test_rate_comparison_result_is_json(dataset):
    params = {
        "group_column": "index_disposal",
        "group_a": "custody",
        "group_b": "community",
        "outcome": "reoffended",
    }
    data = {"records": dataset.index_events, "offences": dataset.offences}
    result = run_analysis("rate_comparison", data, params, RunContext(POLICY))
    json.dumps(result.to_dict(), allow_nan=False)
    assert result.statistics["test"]["p_value"] is not None


def test_too_few_matched_people_withholds_outcomes(dataset):
    params = {
        "eligibility": {"data_complete_until": "2022-12-31", "min_cohort_size": 900},
        "matching": {"caliper": 0.0005},  # ~910 eligible, ~885 within this caliper
    }
    read = columns_needed("matched_comparison", params)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    result = run_analysis("matched_comparison", data, params, RunContext(POLICY))
    assert "Fewer than 900" in result.withheld["outcomes"]
    assert not any(t.name == "reoffending_rate" for t in result.tables)
