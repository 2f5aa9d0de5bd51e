"""The engine on public data: the NSW experimental sample of Dehejia & Wahba (1999), vendored in
tests/analysis/data (source and licence in its README).

Descriptive statistics are checked against the published sample means (Dehejia & Wahba 1999,
Table 1: NSW treated and NSW controls) and the experimental estimate of the effect on 1978
earnings ($1,794, their Table 3); the matched comparison against an independent implementation
written here (statsmodels' logit on the raw covariates, brute-force nearest neighbours,
Abadie & Imbens's 2006 variance written out) and against the experimental benchmark: the
controls were randomised, so matching treated people to them on an estimated propensity score
must recover the experimental effect within sampling error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from governance.analysis.engine import DisclosurePolicy, RunContext, run_analysis
from governance.analysis.engine.att import OutcomeSpec, estimate_att
from governance.analysis.engine.matching import MatchingOptions
from tests.analysis.test_matching_variance import reference_variance

DATA = Path(__file__).parent / "data" / "nsw_dehejia_wahba.csv"
COVARIATES = ["age", "educ", "black", "hisp", "married", "nodegr", "re74", "re75"]
# Dehejia & Wahba (1999), Table 1: sample means, NSW treated (185) and NSW controls (260);
# earnings to the dollar, the rest to two decimals (as printed).
PUBLISHED = {
    1: {
        "age": 25.81,
        "educ": 10.35,
        "black": 0.84,
        "hisp": 0.06,
        "married": 0.19,
        "nodegr": 0.71,
        "re74": 2096,
        "re75": 1532,
    },
    0: {
        "age": 25.05,
        "educ": 10.09,
        "black": 0.83,
        "hisp": 0.11,
        "married": 0.15,
        "nodegr": 0.83,
        "re74": 2107,
        "re75": 1267,
    },
}
EXPERIMENTAL_EFFECT = 1794  # Dehejia & Wahba (1999), Table 3, NSW treated minus NSW controls
KEY = b"public-lalonde-tests-key-0123456"


# Under xdist the module's tests stay on one worker: the data, read once.
pytestmark = pytest.mark.xdist_group("test_public_lalonde")


@pytest.fixture(scope="module")
def nsw() -> pd.DataFrame:
    data = pd.read_csv(DATA)
    data["person_id"] = np.arange(len(data))
    data["employed78"] = (data["re78"] > 0).astype(int)
    data["group"] = data["treat"].map({1: "treated", 0: "control"})
    return data


def test_the_vendored_file_is_the_published_sample(nsw):
    assert len(nsw) == 445
    assert nsw["treat"].value_counts().to_dict() == {0: 260, 1: 185}


@pytest.mark.parametrize("column", COVARIATES)
def test_descriptive_means_agree_with_the_published_table(nsw, column):
    result = run_analysis(
        "descriptive",
        {"records": nsw},
        {"group_by": ["group"], "mean_of": column},
        RunContext(DisclosurePolicy(), ledger_key=KEY),
    ).to_dict()
    means = next(t for t in result["tables"] if t["name"] == "means")
    shown = {c["labels"]["group"]: c["values"]["mean"] for c in means["cells"]}
    for treat, label in ((1, "treated"), (0, "control")):
        published = PUBLISHED[treat][column]
        # Printed to the dollar, or to two decimals (25.816 appears as 25.81: truncated).
        tolerance = 0.5 if column.startswith("re") else 0.01
        assert shown[label] == pytest.approx(published, abs=tolerance), (column, label)


def test_the_experimental_effect_and_welch_test(nsw):
    result = run_analysis(
        "descriptive",
        {"records": nsw},
        {"group_by": ["group"], "mean_of": "re78"},
        RunContext(DisclosurePolicy(), ledger_key=KEY),
    ).to_dict()
    welch = result["statistics"]["welch"]
    treated = nsw.loc[nsw["treat"] == 1, "re78"]
    control = nsw.loc[nsw["treat"] == 0, "re78"]
    # The copy's earnings are rounded to six significant figures: within a dollar.
    assert abs(treated.mean() - control.mean()) == pytest.approx(EXPERIMENTAL_EFFECT, abs=1)
    assert abs(welch["difference"]) == pytest.approx(treated.mean() - control.mean(), rel=1e-9)
    assert welch["standard_error"] == pytest.approx(
        math.sqrt(treated.var() / len(treated) + control.var() / len(control)), rel=1e-9
    )


def independent_match(nsw: pd.DataFrame, outcome: str) -> tuple[float, float]:
    """1:1 nearest neighbour with replacement on the propensity score (ties to the lower score,
    then the earlier row, as the engine documents), and the 2006 variance."""
    design = sm.add_constant(nsw[COVARIATES].astype(float))
    fit = sm.Logit(nsw["treat"], design).fit(disp=0, method="newton", maxiter=100, tol=1e-12)
    score = np.asarray(fit.predict(design))
    treated = nsw["treat"].to_numpy() == 1
    controls = np.flatnonzero(~treated)
    matches = {}
    for i in np.flatnonzero(treated):
        order = sorted(controls, key=lambda j: (abs(score[j] - score[i]), score[j], j))
        matches[int(i)] = [int(order[0])]
    values = nsw[outcome].to_numpy(dtype=float)
    att = float(np.mean([values[i] - values[js[0]] for i, js in matches.items()]))
    return att, math.sqrt(reference_variance(score, treated, values, matches))


@pytest.mark.parametrize(("outcome", "kind"), [("re78", "continuous"), ("employed78", "binary")])
def test_matching_agrees_with_an_independent_implementation(nsw, outcome, kind):
    options = MatchingOptions(
        replace=True, caliper=None, distance="propensity", variance="abadie_imbens_2006"
    )
    result = estimate_att(nsw, "treat", COVARIATES, [OutcomeSpec(outcome, kind)], options)
    att, standard_error = independent_match(nsw, outcome)
    assert result.outcomes[0].att == pytest.approx(att, rel=1e-9, abs=1e-9)
    # Many people share a score (same covariates, no earnings in 1974-75), so which equally
    # near same-group neighbours estimate each conditional variance is a tie-break the two
    # implementations make differently (the engine within a window of the sorted scores):
    # the standard errors agree to 1% (0.3% here), the estimates exactly.
    assert result.outcomes[0].test["standard_error"] == pytest.approx(standard_error, rel=0.01)


@pytest.mark.parametrize(
    "options",
    [
        MatchingOptions(),  # the engine's default: no replacement, caliper 0.2 SD of the logit
        MatchingOptions.matchit_defaults(),
        MatchingOptions(replace=True, caliper=None),
        MatchingOptions(method="radius", caliper=0.1),
    ],
    ids=["default", "matchit", "replacement", "radius"],
)
def test_matching_recovers_the_experimental_effect(nsw, options):
    """Controls were randomised: every design must land within two of its (2016-adjusted)
    standard errors of the experimental $1,794, and the interval must say its method."""
    result = estimate_att(nsw, "treat", COVARIATES, [OutcomeSpec("re78")], options)
    test = result.outcomes[0].test
    assert test["ci_method"] == "normal, Abadie-Imbens SE adjusted for the estimated score"
    assert abs(result.outcomes[0].att - EXPERIMENTAL_EFFECT) < 2 * test["standard_error"]
    assert test["ci_low"] < EXPERIMENTAL_EFFECT < test["ci_high"]
