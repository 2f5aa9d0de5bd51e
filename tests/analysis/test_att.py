"""Propensity model, balance and the generic ATT estimator on synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from governance.analysis.engine.att import OutcomeSpec, estimate_att
from governance.analysis.engine.balance import balance_table, imbalanced_terms
from governance.analysis.engine.errors import PropensityModelError
from governance.analysis.engine.matching import MatchingOptions
from governance.analysis.engine.propensity import encode_covariates, fit_propensity
from governance.analysis.engine.stats import welch_t_test

PLANTED_EFFECT = 1.5


def confounded(n: int = 6000, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(30, 8, n)
    priors = rng.poisson(2, n).astype(float)
    region = rng.choice(["north", "south", "west"], n, p=[0.5, 0.3, 0.2])
    employed = rng.integers(0, 2, n)
    region_shift = pd.Series(region).map({"north": 0.0, "south": 0.6, "west": -0.4}).to_numpy()
    linear = -2.2 - 0.05 * (age - 30) + 0.35 * priors + region_shift - 0.5 * employed
    treat = (rng.random(n) < 1 / (1 + np.exp(-linear))).astype(int)
    outcome = (
        3
        - 0.1 * (age - 30)
        + 1.2 * priors
        + 2 * region_shift
        - 1.0 * employed
        + PLANTED_EFFECT * treat
        + rng.normal(0, 2, n)
    )
    return pd.DataFrame(
        {
            "treat": treat,
            "age": age,
            "priors": priors,
            "region": region,
            "employed": employed,
            "outcome": outcome,
        }
    )


COVARIATES = ["age", "priors", "region", "employed"]


def test_propensity_coefficients_match_independent_statsmodels_fit():
    data = confounded()
    model = fit_propensity(encode_covariates(data, COVARIATES), data["treat"].to_numpy())
    reference = smf.logit("treat ~ age + priors + C(region) + employed", data).fit(disp=0)
    expected = {
        "(intercept)": reference.params["Intercept"],
        "age": reference.params["age"],
        "priors": reference.params["priors"],
        "region=south": reference.params["C(region)[T.south]"],
        "region=west": reference.params["C(region)[T.west]"],
        "employed": reference.params["employed"],
    }
    ours = dict(zip(model.names, model.coefficients, strict=True))
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-8)
    np.testing.assert_allclose(model.propensity, reference.predict(data), rtol=1e-6)


def test_warm_started_fit_reaches_the_same_maximum(monkeypatch):
    import governance.analysis.engine.propensity as propensity

    data = confounded()
    monkeypatch.setattr(propensity, "_WARM_START_ROWS", 1000)
    warm = fit_propensity(encode_covariates(data, COVARIATES), data["treat"].to_numpy())
    reference = smf.logit("treat ~ age + priors + C(region) + employed", data).fit(disp=0)
    np.testing.assert_allclose(warm.propensity, reference.predict(data), rtol=1e-6)
    np.testing.assert_allclose(warm.standard_errors[1], reference.bse["age"], rtol=1e-5)


def test_badly_scaled_covariates_and_bad_start_still_reach_the_mle(monkeypatch):
    import governance.analysis.engine.propensity as propensity

    data = confounded()
    data["age_pennies"] = data["age"] * 1e5  # dollars-and-earnings scale beside indicators
    monkeypatch.setattr(
        propensity, "_starting_values", lambda design, outcome: np.full(design.shape[1], 25.0)
    )  # a start from which Newton's method breaks down
    covariates = ["age_pennies", "priors", "region", "employed"]
    model = fit_propensity(encode_covariates(data, covariates), data["treat"].to_numpy())
    reference = smf.logit("treat ~ age + priors + C(region) + employed", data).fit(disp=0)
    ours = dict(zip(model.names, model.coefficients, strict=True))
    assert ours["age_pennies"] * 1e5 == pytest.approx(reference.params["age"], rel=1e-6)
    assert ours["(intercept)"] == pytest.approx(reference.params["Intercept"], rel=1e-6)
    standard_errors = dict(zip(model.names, model.standard_errors, strict=True))
    assert standard_errors["(intercept)"] == pytest.approx(reference.bse["Intercept"], rel=1e-5)


def test_matching_recovers_planted_effect_where_naive_comparison_fails():
    data = confounded()
    treated = data["treat"] == 1
    naive = welch_t_test(data.loc[treated, "outcome"], data.loc[~treated, "outcome"])
    assert not (naive.ci_low <= PLANTED_EFFECT <= naive.ci_high)
    for options in (
        MatchingOptions(),
        MatchingOptions(replace=True, neighbours=3),
        MatchingOptions(method="radius", caliper=0.1),
    ):
        result = estimate_att(data, "treat", COVARIATES, [OutcomeSpec("outcome")], options)
        estimate = result.outcomes[0]
        assert estimate.test is not None
        assert estimate.test["ci_low"] <= PLANTED_EFFECT <= estimate.test["ci_high"], options
        assert result.max_abs_smd_after is not None
        assert result.max_abs_smd_after < 0.1


def test_binary_outcome_uses_weighted_proportions():
    data = confounded()
    data["high"] = (data["outcome"] > data["outcome"].median()).astype(int)
    result = estimate_att(data, "treat", COVARIATES, [OutcomeSpec("high", kind="binary")])
    estimate = result.outcomes[0]
    weights = result.weights
    controls = (data["treat"] == 0) & (weights > 0)
    expected = np.average(data.loc[controls, "high"], weights=weights[controls])
    assert estimate.control_mean == pytest.approx(expected)
    assert estimate.test is not None
    assert "z" in estimate.test


def test_balance_before_matches_hand_computation():
    data = confounded(2000)
    encoded = encode_covariates(data, COVARIATES, drop_reference=False)
    rows = {row.term: row for row in balance_table(encoded, data["treat"].to_numpy(), None, None)}
    treated, control = data[data.treat == 1], data[data.treat == 0]
    pooled = np.sqrt((treated.age.var() + control.age.var()) / 2)
    assert rows["age"].smd_before == pytest.approx(
        (treated.age.mean() - control.age.mean()) / pooled
    )
    p_t, p_c = (treated.region == "west").mean(), (control.region == "west").mean()
    binary_sd = np.sqrt((p_t * (1 - p_t) + p_c * (1 - p_c)) / 2)
    assert rows["region=west"].smd_before == pytest.approx((p_t - p_c) / binary_sd)
    assert rows["region=north"].variance_ratio_before is None
    assert rows["age"].variance_ratio_before == pytest.approx(treated.age.var() / control.age.var())
    treated_sd = encode_covariates(data, COVARIATES, drop_reference=False)
    rows_t = {
        r.term: r
        for r in balance_table(treated_sd, data["treat"].to_numpy(), None, None, "treated")
    }
    assert rows_t["age"].smd_before == pytest.approx(
        (treated.age.mean() - control.age.mean()) / treated.age.std()
    )
    assert "age" in imbalanced_terms(list(rows.values()), 0.1)  # no "after" -> all flagged


def test_unmatched_treated_are_reported_with_reasons():
    data = confounded(3000)
    result = estimate_att(
        data, "treat", COVARIATES, [OutcomeSpec("outcome")], MatchingOptions(caliper=0.001)
    )
    assert result.n_treated_matched < result.n_treated
    assert sum(result.unmatched.values()) == result.n_treated - result.n_treated_matched
    assert set(result.unmatched) <= {"no_control_within_caliper", "no_control_left"}


def test_separated_level_is_refused_with_clear_error():
    data = confounded(1000)
    data.loc[data.treat == 1, "region"] = "east"  # treated only
    data.loc[data.index[:5], "region"] = "east"
    with pytest.raises(PropensityModelError, match="separation"):
        fit_propensity(encode_covariates(data, COVARIATES), data["treat"].to_numpy())


def test_numeric_perfect_separation_is_refused():
    data = confounded(1000)
    data["score"] = np.where(data.treat == 1, 1.0, -1.0) + np.linspace(0, 0.1, len(data))
    with pytest.raises(PropensityModelError):
        fit_propensity(encode_covariates(data, ["score", "age"]), data["treat"].to_numpy())


def test_collinear_covariates_are_refused():
    data = confounded(1000)
    data["age_again"] = data["age"] * 2
    with pytest.raises(PropensityModelError, match="linear combination"):
        fit_propensity(encode_covariates(data, ["age", "age_again"]), data["treat"].to_numpy())


def test_progress_is_reported_in_order():
    seen: list[float] = []
    estimate_att(
        confounded(1500),
        "treat",
        COVARIATES,
        [OutcomeSpec("outcome")],
        progress=lambda fraction, message: seen.append(fraction),
    )
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
