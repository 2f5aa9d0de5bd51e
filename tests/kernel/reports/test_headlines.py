"""The headline of a comparison: one row per outcome from the statistics, flat (as outputs keep
them) or nested (as a run returns them), with the interval's method and significance in words."""

from __future__ import annotations

from governance.kernel.reports.headlines import headlines

FLAT = [
    {"id": "statistic.reoffending_rate.treated_mean", "label": "x", "value": 0.453},
    {"id": "statistic.reoffending_rate.control_mean", "label": "x", "value": 0.538},
    {"id": "statistic.reoffending_rate.att", "label": "x", "value": -0.085},
    {"id": "statistic.reoffending_rate.treated_n", "label": "x", "value": 247},
    {
        "id": "statistic.reoffending_rate.test.ci_low",
        "label": "reoffending rate.test: 95% CI (normal, Abadie-Imbens SE), lower",
        "value": -0.155,
    },
    {
        "id": "statistic.reoffending_rate.test.ci_high",
        "label": "reoffending rate.test: 95% CI (normal, Abadie-Imbens SE), upper",
        "value": -0.015,
    },
    {"id": "statistic.reoffending_rate.test.p_value", "label": "x", "value": 0.017},
    {"id": "statistic.matching.caliper_width", "label": "matching.caliper width", "value": 0.2},
    {"id": "statistic.p_value", "label": "p-value of the stated test", "value": 0.14},
]


def test_an_output_s_flat_statistics_make_one_headline_per_outcome() -> None:
    found = headlines(FLAT, {"reoffending_rate": "One-year proven re-offending rate"})
    (row,) = found.tables
    assert row.title == "One-year proven re-offending rate"
    assert row.groups == ("Treatment group", "Comparison group")
    assert (row.shown(row.first), row.shown(row.second)) == ("45.3%", "53.8%")
    assert row.shown_difference() == "-8.5 percentage points"
    assert row.shown_interval() == "-15.5 to -1.5 points"
    assert row.method == "95% CI (normal, Abadie-Imbens SE)"
    assert row.shown_p() == "0.017"
    assert row.significance == "Statistically significant (p below 0.05)"
    assert row.supporting == [("People in the treatment group", 247)]
    assert found.supporting == [
        ("p-value of the stated test", 0.14),
        ("Matching: Caliper width", 0.2),
    ]


def test_a_run_s_nested_rate_comparison_names_its_method_and_says_when_nothing_was_found() -> None:
    nested = {
        "test": {
            "rate_1": 0.30,
            "rate_2": 0.28,
            "difference": 0.02,
            "ci_low": -0.01,
            "ci_high": 0.05,
            "p_value": 0.21,
            "confidence": 0.9,
            "ci_method": "Newcombe hybrid score",
            "n_1": 400,
        }
    }
    (row,) = headlines(nested).tables
    assert row.title == "Difference between the two rates"
    assert row.method == "90% CI (Newcombe hybrid score)"
    assert row.significance.startswith("Not statistically significant")
    assert row.supporting == [("People in the first group", 400)]


def test_statistics_without_a_comparison_are_all_supporting() -> None:
    found = headlines({"welch_only": {"t": 1.5}})
    assert found.tables == []
    assert found.supporting == [("Welch only: t statistic", 1.5)]
    assert headlines(None).tables == []
