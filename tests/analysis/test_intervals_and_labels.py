"""Intervals that say their method, Newcombe's interval for a difference of proportions, Welch's
test between two groups of a descriptive table, and groups named by their labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep

from governance.analysis.engine.disclosure import DisclosurePolicy
from governance.analysis.engine.errors import AnalysisParameterError
from governance.analysis.engine.kinds import run_analysis, validate_parameters
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.stats import two_proportion_test, welch_t_test

POLICY = DisclosurePolicy()
AID = {"1": "those with financial aid", "0": "those without"}

# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (score interval,
# hybrid, no continuity correction): (x1, n1, x2, n2) -> (lower, upper), four decimals.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_newcombe_interval_reproduces_the_published_table(counts, expected):
    test = two_proportion_test(*counts, interval="newcombe")
    assert (round(test.ci_low, 4), round(test.ci_high, 4)) == expected
    assert test.ci_method == "Newcombe hybrid score"


@pytest.mark.parametrize(
    "counts", [c for c, _ in NEWCOMBE_TABLE_II] + [(6, 7, 2, 7), (120, 400, 80, 390)]
)
def test_newcombe_interval_agrees_with_statsmodels(counts):
    test = two_proportion_test(*counts, interval="newcombe")
    low, high = confint_proportions_2indep(*counts, method="newcomb", compare="diff")
    assert test.ci_low == pytest.approx(low, abs=1e-12)
    assert test.ci_high == pytest.approx(high, abs=1e-12)


def test_wald_stays_the_default_and_says_so():
    test = two_proportion_test(56, 70, 48, 80)
    low, high = confint_proportions_2indep(56, 70, 48, 80, method="wald", compare="diff")
    assert (test.ci_low, test.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert test.ci_method == "Wald, unpooled"
    assert welch_t_test([1.0, 2.0, 4.0], [2.0, 3.0, 7.0]).ci_method == "Welch t"
    with pytest.raises(ValueError, match="interval"):
        two_proportion_test(1, 2, 1, 2, interval="exact")


def people(size: int = 400, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    aid = rng.integers(0, 2, size)
    return pd.DataFrame(
        {
            "person_id": np.arange(size),
            "aid": aid.astype(str),
            "passed": (rng.random(size) < np.where(aid == 1, 0.6, 0.45)).astype(int),
            "score": rng.normal(np.where(aid == 1, 52.0, 49.0), 9.0, size),
        }
    )


def test_rate_comparison_names_groups_and_its_interval():
    params = {"group_column": "aid", "group_a": "1", "group_b": "0", "outcome": "passed"}
    context = RunContext(POLICY, value_labels={"aid": AID})
    data = {"records": people()}
    wald = run_analysis("rate_comparison", data, params, context)
    assert "for those with financial aid and" in wald.summary
    assert "% for those without" in wald.summary
    assert "for 1 and" not in wald.summary
    assert "95% CI (Wald, unpooled)" in wald.summary
    assert wald.statistics["test"]["ci_method"] == "Wald, unpooled"
    assert {f["ci_method"] for f in wald.figures["rates"]} == {"Wilson"}
    assert wald.to_dict()["tables"][0]["value_labels"] == {"aid": AID}
    newcombe = run_analysis("rate_comparison", data, {**params, "interval": "newcombe"}, context)
    assert "95% CI (Newcombe hybrid score)" in newcombe.summary
    test = newcombe.statistics["test"]
    low, high = confint_proportions_2indep(
        test["events_1"],
        test["n_1"],
        test["events_2"],
        test["n_2"],
        method="newcomb",
        compare="diff",
    )
    assert (test["ci_low"], test["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    with pytest.raises(AnalysisParameterError) as bad:
        validate_parameters("rate_comparison", {**params, "interval": "exact"})
    assert bad.value.field == "interval"


def test_descriptive_means_of_two_groups_get_welchs_test():
    data = people()
    result = run_analysis(
        "descriptive",
        {"records": data},
        {"group_by": ["aid"], "mean_of": "score"},
        RunContext(POLICY, value_labels={"aid": AID}),
    )
    welch = result.statistics["welch"]
    first = data.loc[data["aid"] == welch["groups"][0], "score"]
    second = data.loc[data["aid"] == welch["groups"][1], "score"]
    expected = scipy_stats.ttest_ind(first, second, equal_var=False)
    assert welch["t"] == pytest.approx(expected.statistic)
    assert welch["p_value"] == pytest.approx(expected.pvalue)
    assert welch["df"] == pytest.approx(expected.df)
    interval = expected.confidence_interval(0.95)
    assert (welch["ci_low"], welch["ci_high"]) == (
        pytest.approx(interval.low),
        pytest.approx(interval.high),
    )
    assert welch["labels"] == [AID[code] for code in welch["groups"]]
    assert "95% CI (Welch t)" in result.summary
    assert "for those with financial aid" in result.summary or "for those without" in result.summary


def test_no_welch_test_for_more_than_two_groups_or_a_suppressed_group():
    data = people()
    data["aid"] = np.where(np.arange(len(data)) < 3, "2", data["aid"])
    result = run_analysis(
        "descriptive",
        {"records": data},
        {"group_by": ["aid"], "mean_of": "score"},
        RunContext(POLICY),
    )
    assert "welch" not in result.statistics
    small = people().assign(aid=lambda f: np.where(np.arange(len(f)) < 5, "1", "0"))
    withheld = run_analysis(
        "descriptive",
        {"records": small},
        {"group_by": ["aid"], "mean_of": "score"},
        RunContext(POLICY),
    )
    assert "welch" not in withheld.statistics
    assert "suppressed" in withheld.withheld["welch"]


def test_groups_that_barely_differ_are_summarised_without_a_negative_zero_or_an_intervention():
    """Two groups of a column (women and men here) whose means and rates round to the same:
    the difference reads 0.00, not -0.00, and the caution not to read "no significance" as
    "no difference" speaks of groups, not of an intervention nobody compared."""
    size = 400
    data = pd.DataFrame(
        {
            "person_id": np.arange(size),
            "sex": np.where(np.arange(size) % 2 == 0, "F", "M"),
            # The second group's values are the first's plus a hair: a difference of -0.0005.
            "score": np.repeat(np.arange(size // 2) % 7, 2) + np.tile([0.0, 0.001], size // 2),
        }
    )
    means = run_analysis(
        "descriptive",
        {"records": data},
        {"group_by": ["sex"], "mean_of": "score"},
        RunContext(POLICY),
    )
    assert means.statistics["welch"]["difference"] < 0
    assert "a difference of 0.00 " in means.summary
    assert "-0.0" not in means.summary
    # 300 of 900 women and 301 of 902 men: a difference of -0.04 percentage points.
    women, men = np.arange(900) < 300, np.arange(902) < 301
    passed = pd.DataFrame(
        {
            "person_id": np.arange(1802),
            "sex": ["F"] * 900 + ["M"] * 902,
            "passed": np.concatenate([women, men]).astype(int),
        }
    )
    rates = run_analysis(
        "rate_comparison",
        {"records": passed},
        {"group_column": "sex", "group_a": "F", "group_b": "M", "outcome": "passed"},
        RunContext(POLICY),
    )
    assert rates.statistics["test"]["difference"] < 0
    assert "a difference of 0.0 percentage points" in rates.summary
    for summary in (means.summary, rates.summary):
        assert "intervention" not in summary
        assert "does not mean the groups do not differ" in summary
