"""The JDL-style matched comparison: link the partner's cohort, apply eligibility rules, build a
propensity-score matched comparison group from the administrative records, check balance and
compare one-year proven re-offending, its frequency and the time to first re-offence.

Source tables: ``cohort`` (partner file), ``index_events`` and ``offences`` (see
reoffending.py). Outcomes are withheld, with the covariates named, when any |SMD| after
matching exceeds ``max_abs_smd``: an unbalanced comparison would report the imbalance, not the
intervention.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .att import OutcomeSpec, compare_outcomes, estimate_att
from .balance import imbalanced_terms
from .errors import AnalysisParameterError, AnalysisRefused
from .kinds_base import AnalysisKind, RunContext, read_number, read_str_list, require_table
from .linkage import link_cohort
from .matched_summary import describe_outcomes, flow_table
from .matched_tables import balance_rows_published, characteristics_table, group_table
from .matching import MatchingOptions
from .normalise import parse_dates
from .reoffending import (
    OFFENCE_COLUMNS,
    EligibilityRules,
    comparison_pool,
    derive_outcomes,
    exclusion_reasons,
    treated_index_events,
)
from .results import COMPARISON_CAVEAT, AnalysisResult, ResultTable

DEFAULT_COVARIATES = (
    "age_at_index",
    "sex",
    "prior_offences",
    "prior_custodial_sentences",
    "index_disposal",
    "offence_category",
    "ethnicity",
    "employed",
)
IDENTITY_COLUMNS = ("person_id", "name", "date_of_birth", "sex", "index_date", "offence_category")
COHORT_COLUMNS = ("name", "date_of_birth", "sex", "intervention_start", "intervention_end")
OUTCOMES = (
    OutcomeSpec("reoffended", "binary", "one-year proven re-offending rate"),
    OutcomeSpec("reoffences", "continuous", "frequency of proven re-offending"),
    OutcomeSpec(
        "days_to_first_reoffence",
        "continuous",
        "time to first proven re-offence",
        among="reoffended",
    ),
)


@dataclass(frozen=True)
class MatchedParams:
    covariates: list[str]
    categorical: list[str]
    matching: MatchingOptions
    eligibility: EligibilityRules
    max_abs_smd: float
    day_first: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "covariates": self.covariates,
            "categorical": self.categorical,
            "matching": self.matching.to_dict(),
            "eligibility": self.eligibility.to_dict(),
            "max_abs_smd": self.max_abs_smd,
            "day_first": self.day_first,
        }


def _options(params: Mapping[str, Any], field: str, factory: Any) -> Any:
    values = params.get(field, {})
    if not isinstance(values, Mapping):
        raise AnalysisParameterError(field, "must be a mapping of settings")
    unknown = sorted(set(values) - set(factory.__dataclass_fields__))
    if unknown:
        raise AnalysisParameterError(f"{field}.{unknown[0]}", "is not a known setting")
    settings = dict(values)
    if "excluded_offence_categories" in settings and isinstance(
        settings["excluded_offence_categories"], list
    ):
        settings["excluded_offence_categories"] = tuple(settings["excluded_offence_categories"])
    return factory(**settings)


class MatchedComparisonKind(AnalysisKind):
    """Cohort linkage, eligibility, propensity matching, balance and re-offending outcomes."""

    name = "matched_comparison"
    label = "Matched comparison of re-offending (Justice Data Lab method)"
    parameters = {
        "covariates": "columns of the index events the propensity model balances.",
        "categorical": "those covariates whose values are categories (a subset).",
        "matching": "how to match: " + ", ".join(MatchingOptions.__dataclass_fields__) + ".",
        "eligibility": "eligibility and follow-up: "
                       + ", ".join(EligibilityRules.__dataclass_fields__) + ".",
        "max_abs_smd": "outcomes are withheld when any |standardised mean difference| after "
                       "matching exceeds this.",
        "day_first": "read ambiguous cohort dates as day/month (true) or month/day.",
    }

    def validate(self, params: Mapping[str, Any]) -> MatchedParams:
        self.refuse_unknown(params)
        covariates = read_str_list(params, "covariates", 1, default=DEFAULT_COVARIATES)
        categorical = read_str_list(params, "categorical", default=[])
        if not set(categorical) <= set(covariates):
            raise AnalysisParameterError("categorical", "must be a subset of covariates")
        day_first = params.get("day_first", True)
        if not isinstance(day_first, bool):
            raise AnalysisParameterError("day_first", "must be true or false")
        return MatchedParams(
            covariates=covariates,
            categorical=categorical,
            matching=_options(params, "matching", MatchingOptions),
            eligibility=_options(params, "eligibility", EligibilityRules),
            max_abs_smd=read_number(params, "max_abs_smd", 0.1, minimum=0.0),
            day_first=day_first,
        )

    def columns(self, params: Mapping[str, Any]) -> dict[str, list[str]]:
        p = self.validate(params)
        return {
            "cohort": list(COHORT_COLUMNS),
            "index_events": list(dict.fromkeys(IDENTITY_COLUMNS + tuple(p.covariates))),
            "offences": list(OFFENCE_COLUMNS),
        }

    def run(
        self, data: Mapping[str, pd.DataFrame], params: Mapping[str, Any], context: RunContext
    ) -> AnalysisResult:
        p = self.validate(params)
        read = self.columns(params)
        cohort = require_table(data, "cohort", COHORT_COLUMNS[:4])
        events = require_table(data, "index_events", read["index_events"])
        offences = require_table(data, "offences", OFFENCE_COLUMNS)
        context.check_columns(p.covariates)
        rules = p.eligibility
        result = AnalysisResult(kind=self.name, parameters=p.to_dict())
        context.report(0.02, "linking the cohort to administrative records")
        persons = events[["person_id", "name", "date_of_birth", "sex"]].drop_duplicates("person_id")
        linkage = link_cohort(cohort, persons, p.day_first)
        context.report(0.15, "selecting index events and applying eligibility rules")
        treated, flow = treated_index_events(linkage.linked, events, rules)
        reasons = exclusion_reasons(treated, treated["intervention_start"], rules)
        flow.update(Counter(linkage.dropped["reason"]))
        flow.update(Counter(reasons.dropna()))
        treated = treated[reasons.isna().to_numpy()]
        if len(treated) < rules.min_cohort_size:
            raise AnalysisRefused(
                "cohort_too_small",
                f"fewer than {rules.min_cohort_size} people in the cohort could be linked and are "
                "eligible, so a statistically meaningful comparison is not possible",
            )
        dates = parse_dates(treated["index_date"])
        pool = comparison_pool(events, linkage.reached_person_ids, dates.min(), dates.max())
        pool = pool[
            exclusion_reasons(pool, parse_dates(pool["index_date"]), rules).isna().to_numpy()
        ]
        columns = list(dict.fromkeys(["person_id", "index_date", *p.covariates]))
        sample = pd.concat(
            [treated[columns].assign(treated=1), pool[columns].assign(treated=0)], ignore_index=True
        )
        context.report(0.25, "fitting the propensity model and matching")
        att = estimate_att(
            sample,
            "treated",
            p.covariates,
            [],
            p.matching,
            p.categorical or None,
            progress=lambda f, m: context.report(0.25 + 0.45 * f, m),
        )
        weights = att.weights.to_numpy()
        flow.update(Counter(att.unmatched))
        flow["in_treatment_group"] = att.n_treated_matched
        is_treated = sample["treated"].to_numpy() == 1
        used = weights > 0
        treated_keys = sample.loc[used & is_treated, "person_id"]
        control_keys = sample.loc[used & ~is_treated, "person_id"]
        result.populations += [
            context.population("linked cohort", linkage.linked["person_id"]),
            context.population("treatment group", treated_keys),
            context.population("comparison group", control_keys),
        ]
        context.report(0.75, "computing outcomes and disclosure-controlled tables")
        result.tables.append(flow_table(flow, context.policy))
        result.statistics["matching"] = {
            "options": p.matching.to_dict(),
            "caliper_width": att.assignment.caliper_width,
        }
        self._characteristics(result, sample, p, att.encoded.levels, is_treated, weights, context)
        balance = balance_rows_published(
            att.balance,
            att.encoded.matrix,
            is_treated,
            used & is_treated,
            used & ~is_treated,
            context.policy,
        )
        result.figures["balance"] = [
            {k: row[k] for k in ("term", "smd_before", "smd_after", "disclosure")}
            for row in balance
        ]
        result.statistics["balance"] = balance
        unbalanced = imbalanced_terms(att.balance, p.max_abs_smd)
        if att.n_treated_matched < rules.min_cohort_size:
            # The cohort-size rule applies to the people actually compared, not only submitted.
            result.withheld["outcomes"] = (
                f"Fewer than {rules.min_cohort_size} people in the cohort have a comparison "
                "person within the caliper, so outcomes are withheld; a wider caliper or "
                "matching with replacement may help."
            )
            result.summary = result.withheld["outcomes"]
        elif unbalanced:
            result.withheld["outcomes"] = (
                f"Matching did not balance the groups: the absolute standardised mean difference "
                f"after matching exceeds {p.max_abs_smd} for {', '.join(unbalanced)}. Outcomes "
                "are withheld because the comparison would not be like for like."
            )
            result.summary = result.withheld["outcomes"]
        else:
            matched = sample[used].reset_index(drop=True)
            matched = pd.concat(
                [
                    matched,
                    derive_outcomes(matched, offences, rules.follow_up_days, rules.waiting_days),
                ],
                axis=1,
            )
            estimates = compare_outcomes(
                matched, OUTCOMES, matched["treated"].to_numpy() == 1, weights[used]
            )
            describe_outcomes(result, matched, weights[used], estimates, context.policy)
        result.caveats.append(COMPARISON_CAVEAT)
        if att.unmatched:
            result.notes.append(
                "Some treated people had no comparison person within the caliper "
                "and are not in the treatment group; see the cohort flow."
            )
        context.report(1.0, "done")
        return result

    @staticmethod
    def _characteristics(
        result: AnalysisResult,
        sample: pd.DataFrame,
        p: MatchedParams,
        levels: Mapping[str, list[str]],
        is_treated: np.ndarray,
        weights: np.ndarray,
        context: RunContext,
    ) -> None:
        used = weights > 0
        for covariate in p.covariates:
            if covariate in levels:
                table = characteristics_table(
                    covariate, sample[covariate], is_treated, weights, context.policy
                )
            else:
                values = sample[covariate].to_numpy(dtype=float)
                table, _ = group_table(
                    "mean",
                    values[used & is_treated],
                    values[used & ~is_treated],
                    weights[used & ~is_treated],
                    context.policy,
                )
            result.tables.append(
                ResultTable(
                    f"characteristics_{covariate}",
                    f"{covariate}: treatment vs matched comparison group",
                    table,
                    "treatment group",
                )
            )
