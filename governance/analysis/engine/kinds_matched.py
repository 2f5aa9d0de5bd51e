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
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .att import ATTResult, OutcomeSpec, compare_outcomes, estimate_att
from .balance import balance_table, imbalanced_terms
from .errors import AnalysisParameterError, AnalysisRefused
from .kinds_base import (
    AnalysisKind,
    RunContext,
    events_of,
    read_number,
    read_str_list,
    require_table,
)
from .linkage import LinkageResult, link_cohort, linkable_pairs
from .matched_summary import (
    MATCHED_GROUPS,
    describe_outcomes,
    flow_table,
    outcome_tables,
    published_estimates,
)
from .matched_tables import (
    COMPARISON,
    TREATMENT,
    balance_describes,
    balance_rows_published,
    characteristics_table,
    group_table,
    interval_labels,
)
from .matching import MatchingOptions
from .matching_variance import VARIANCE_NEIGHBOURS
from .normalise import parse_dates
from .probabilistic_linkage import (
    LinkageOptions,
    ProbabilisticLinkageResult,
    link_cohort_probabilistic,
)
from .reoffending import (
    OFFENCE_COLUMNS,
    EligibilityRules,
    exclusion_reasons,
    treated_index_events,
)
from .results import COMPARISON_CAVEAT, AnalysisResult, ResultTable
from .sources import Source, candidate_dates_of_birth, source_of, stack_groups

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
# Below the balance gate (0.1 by default) residual imbalance is still worth a reader's notice.
CAVEAT_SMD = 0.05
# The outcome whose count the outcome tables publish (``events:reoffended``, matched_summary.py).
REOFFENDED = "reoffended"
IDENTITY_COLUMNS = ("person_id", "name", "date_of_birth", "sex", "index_date", "offence_category")
COHORT_COLUMNS = ("name", "date_of_birth", "sex", "intervention_start", "intervention_end")
OUTCOMES = (
    OutcomeSpec(REOFFENDED, "binary", "one-year proven re-offending rate"),
    OutcomeSpec("reoffences", "continuous", "frequency of proven re-offending"),
    OutcomeSpec(
        "days_to_first_reoffence",
        "continuous",
        "time to first proven re-offence",
        among=REOFFENDED,
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
    linkage: LinkageOptions

    def to_dict(self) -> dict[str, Any]:
        return {
            "covariates": self.covariates,
            "categorical": self.categorical,
            "matching": self.matching.to_dict(),
            "eligibility": self.eligibility.to_dict(),
            "max_abs_smd": self.max_abs_smd,
            "day_first": self.day_first,
            "linkage": self.linkage.to_dict(),
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
    person_table = "index_events"
    parameters = {
        "covariates": "columns of the index events the propensity model balances.",
        "categorical": "those covariates whose values are categories (a subset).",
        "matching": "how to match: " + ", ".join(MatchingOptions.__dataclass_fields__) + ".",
        "eligibility": "eligibility and follow-up: "
        + ", ".join(EligibilityRules.__dataclass_fields__)
        + ".",
        "max_abs_smd": "outcomes are withheld when any |standardised mean difference| after "
        "matching exceeds this.",
        "day_first": "read ambiguous cohort dates as day/month (true) or month/day.",
        "linkage": "how the cohort is linked: method (deterministic or probabilistic, with "
        "Splink), accept_probability (at least the agreement's minimum) and "
        "review_probability (pairs between the two go to clerical review).",
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
            linkage=_options(params, "linkage", LinkageOptions),
        )

    def columns(self, params: Mapping[str, Any]) -> dict[str, list[str]]:
        p = self.validate(params)
        return {
            "cohort": list(COHORT_COLUMNS),
            "index_events": list(dict.fromkeys(IDENTITY_COLUMNS + tuple(p.covariates))),
            "offences": list(OFFENCE_COLUMNS),
        }

    @staticmethod
    def _link(
        cohort: pd.DataFrame,
        persons: pd.DataFrame,
        p: MatchedParams,
        context: RunContext,
        source: Source,
    ) -> LinkageResult:
        if p.linkage.method == "deterministic":
            return link_cohort(cohort, persons, p.day_first)
        return link_cohort_probabilistic(
            cohort,
            persons,
            p.linkage.thresholds(),
            p.day_first,
            progress=lambda f, m: context.report(0.02 + 0.12 * f, m),
            spark_session=source.spark_session(),
        )

    def run(
        self, data: Mapping[str, pd.DataFrame], params: Mapping[str, Any], context: RunContext
    ) -> AnalysisResult:
        p = self.validate(params)
        read = self.columns(params)
        cohort = require_table(data, "cohort", COHORT_COLUMNS[:4])
        # The register's tables may live on a SQL engine: the source reduces them there.
        source = source_of(data)
        source.require("index_events", read["index_events"])
        source.require("offences", OFFENCE_COLUMNS)
        context.check_columns(p.covariates)
        rules = p.eligibility
        result = AnalysisResult(kind=self.name, parameters=p.to_dict())
        context.report(0.02, "linking the cohort to administrative records")
        # On DuckDB and Spark the register is first reduced to people born on a date the
        # cohort could mean (the deterministic stages' blocking); pandas passes everyone.
        persons = source.persons(
            "index_events",
            candidate_dates_of_birth(cohort, p.day_first),
            # The deterministic stages join on name keys and dates of birth: only the people
            # whose record could meet a cohort row there need come back from the register.
            partial(linkable_pairs, cohort, day_first=p.day_first)
            if p.linkage.method == "deterministic"
            else None,
        )
        linkage = self._link(cohort, persons, p, context, source)
        if isinstance(linkage, ProbabilisticLinkageResult):
            result.linkage = {
                "report": linkage.report(),
                "review": linkage.review.to_dict(orient="records"),
            }
        context.report(0.15, "selecting index events and applying eligibility rules")
        events = source.events_of(
            "index_events", read["index_events"], linkage.linked["person_id"].tolist()
        )
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
        pool = source.pool(
            "index_events",
            [c for c in read["index_events"] if c != "name"],
            linkage.reached_person_ids,
            dates.min(),
            dates.max(),
            # The eligibility rules, row by row: ineligible rows are dropped as they arrive.
            keep=lambda rows: (
                exclusion_reasons(rows, parse_dates(rows["index_date"]), rules).isna().to_numpy()
            ),
        )
        # Where a numeric covariate's means are taken from under rounding: its declared lowest
        # value, the same for any cohort, pool and stored version (RunContext.origins).
        numeric = [c for c in p.covariates if c not in p.categorical]
        origins = context.origins("index_events", source.lowest("index_events", numeric))
        source.release("index_events")
        columns = list(dict.fromkeys(["person_id", "index_date", *p.covariates]))
        sample = stack_groups(treated, pool, columns)
        del pool  # nearly the register's people: the sample holds what is needed of it
        outcomes: pd.DataFrame | None = None
        if p.matching.variance == "abadie_imbens":
            # The 2016 adjustment for the estimated score needs every unit's outcomes, whatever
            # the match: derived now, the offences (a register's hundred million rows) leave
            # memory before the fit instead of after it.
            context.report(0.2, "deriving the re-offending outcomes")
            outcomes = self._outcomes_of(source, sample, np.ones(len(sample), dtype=bool), rules)
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
        unbalanced = imbalanced_terms(att.balance, p.max_abs_smd)
        withheld = self._outcomes_withheld(att.n_treated_matched, unbalanced, p)
        if withheld is None and outcomes is None:
            # Before the matched groups are declared, which carry each member's re-offending.
            # For the 2006 variance: the matched people and their nearest neighbours of the
            # same group by score.
            needed = used | _neighbourhood(att.score, is_treated, used)
            outcomes = self._outcomes_of(source, sample, needed, rules)
        result.populations += [
            # The cohort flow counts what happened to the people submitted; the treatment
            # group is one of its cells, so the difference between the two populations is the
            # flow's other cells, which cell suppression protects. It is checked against
            # earlier releases, not against the treatment group.
            context.population(
                "linked cohort", linkage.linked["person_id"], compare_within_output=False
            ),
            context.population("treatment group", treated_keys, essential=True),
            context.population("comparison group", control_keys, essential=True),
            context.population(
                MATCHED_GROUPS,
                pd.concat([treated_keys, control_keys]),
                essential=True,
                cells=_matched_cells(sample, used, is_treated, att.encoded.levels),
                events=None if withheld else _matched_events(outcomes, used, is_treated),
            ),
        ]
        context.report(0.75, "computing outcomes and disclosure-controlled tables")
        result.tables.append(flow_table(flow, context.policy))
        result.statistics["matching"] = {
            "options": p.matching.to_dict(),
            "caliper_width": att.assignment.caliper_width,
        }
        self._characteristics(
            result, sample, p, att.encoded.levels, is_treated, weights, context, origins
        )
        figures: dict[str, dict[str, dict[str, float]]] = {}
        if withheld is None and outcomes is not None:  # derived above when not withheld
            # The outcomes beside the sample's columns for the matched rows only: a copy of the
            # whole sample would be millions of rows (compare_outcomes reads the outcomes).
            matched = pd.concat([sample[used], outcomes[used]], axis=1).reset_index(drop=True)
            tables, figures = outcome_tables(matched, weights[used], context.policy)
            result.tables += tables
        context.report(0.85, "checking differencing and protection intervals")
        context.control(result)
        balance = self._balance(result, att, sample, is_treated, used, p, context, origins)
        result.figures["balance"] = [
            {k: row[k] for k in ("term", "smd_before", "smd_after", "disclosure")}
            for row in balance
        ]
        result.statistics["balance"] = balance
        if withheld is not None:
            result.withheld["outcomes"] = withheld
            result.summary = withheld
        elif outcomes is not None:  # derived above whenever they are not withheld
            estimates = published_estimates(
                compare_outcomes(outcomes, OUTCOMES, is_treated, weights, att.structure()),
                outcomes,
                OUTCOMES,
                is_treated,
                weights,
                context.policy,
            )
            describe_outcomes(result, figures, estimates)
        above = [
            row.term
            for row in att.balance
            if row.smd_after is not None and abs(row.smd_after) > CAVEAT_SMD
        ]
        if above:
            result.caveats.append(
                f"Some imbalance remains after matching: the absolute standardised mean "
                f"difference is above {CAVEAT_SMD} for {', '.join(above)}. Differences in "
                "these characteristics, not the intervention, may explain part of any "
                "difference in outcomes."
            )
        result.caveats.append(COMPARISON_CAVEAT)
        if att.unmatched:
            result.notes.append(
                "Some treated people had no comparison person within the caliper "
                "and are not in the treatment group; see the cohort flow."
            )
        context.report(1.0, "done")
        return result

    @staticmethod
    def _outcomes_of(
        source: Source, sample: pd.DataFrame, needed: np.ndarray, rules: EligibilityRules
    ) -> pd.DataFrame:
        """The three measures for the ``needed`` rows of the sample (NaN elsewhere); the
        offences are not read again, so the source may let them go."""
        # The measures need each row's person and index date, not a copy of its covariates.
        subset = sample.loc[needed, ["person_id", "index_date"]]
        derived = source.outcomes(subset, rules.follow_up_days, rules.waiting_days)
        source.release("offences")
        outcomes = pd.DataFrame(np.nan, index=sample.index, columns=derived.columns)
        outcomes.loc[subset.index] = derived.to_numpy(dtype=float)
        return outcomes

    @staticmethod
    def _outcomes_withheld(n_matched: int, unbalanced: list[str], p: MatchedParams) -> str | None:
        rules = p.eligibility
        if n_matched < rules.min_cohort_size:
            # The cohort-size rule applies to the people actually compared, not only submitted.
            return (
                f"Fewer than {rules.min_cohort_size} people in the cohort have a comparison "
                "person within the caliper, so outcomes are withheld; a wider caliper or "
                "matching with replacement may help."
            )
        if unbalanced:
            return (
                f"Matching did not balance the groups: the absolute standardised mean difference "
                f"after matching exceeds {p.max_abs_smd} for {', '.join(unbalanced)}. Outcomes "
                "are withheld because the comparison would not be like for like."
            )
        return None

    @staticmethod
    def _balance(
        result: AnalysisResult,
        att: ATTResult,
        sample: pd.DataFrame,
        is_treated: np.ndarray,
        used: np.ndarray,
        p: MatchedParams,
        context: RunContext,
        origins: Mapping[str, float],
    ) -> list[dict[str, Any]]:
        """Balance rows as released. When the treated people who found no comparison person
        are too few (1 to min_cell_size - 1), or some row's figures before less after would
        describe them as the rules forbid (3 women among 13), the "before" figures are computed
        over the matched treated people (the population made equal), so that before and after
        cannot be subtracted to describe them; a row is withheld when the characteristics cell
        behind it is."""
        rows, encoded = att.balance, att.encoded
        keep = np.ones(len(sample), dtype=bool)
        unmatched = is_treated & ~used
        if unmatched.any() and balance_describes(rows, encoded.matrix, unmatched, context.policy):
            keep = ~is_treated | used
            subset = replace(encoded, matrix=encoded.matrix[keep])
            weights = att.weights.to_numpy()[keep]
            flags = is_treated[keep]
            rows = balance_table(
                subset,
                flags.astype(int),
                weights[flags],
                weights[~flags],
                p.matching.smd_denominator,
            )
            result.notes.append(
                "Balance before matching is shown for the matched treatment group: the "
                "treated people without a comparison person are left out of it, so that the "
                "figures before and after matching cannot be subtracted to describe them."
            )
        published = balance_rows_published(
            rows,
            encoded.matrix[keep],
            is_treated[keep],
            ~is_treated[keep],
            (used & is_treated)[keep],
            (used & ~is_treated)[keep],
            context.policy,
            p.matching.smd_denominator,
            att.weights.to_numpy()[keep],
            origins,
        )
        return [_follow_characteristics(row, result) for row in published]

    @staticmethod
    def _characteristics(
        result: AnalysisResult,
        sample: pd.DataFrame,
        p: MatchedParams,
        levels: Mapping[str, list[str]],
        is_treated: np.ndarray,
        weights: np.ndarray,
        context: RunContext,
        origins: Mapping[str, float],
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
                    origin=origins.get(covariate),
                )
            result.tables.append(
                ResultTable(
                    f"characteristics_{covariate}",
                    f"{covariate}: treatment vs matched comparison group",
                    table,
                    MATCHED_GROUPS,
                    intervals=None if covariate in levels else interval_labels("mean"),
                )
            )


def _matched_cells(
    sample: pd.DataFrame,
    used: np.ndarray,
    is_treated: np.ndarray,
    levels: Mapping[str, list[str]],
) -> pd.DataFrame:
    """Each matched person's group and categorical characteristics, in the order of the
    matched groups' keys (the treated, then the comparison people): the cells of the tables
    over them (characteristics by level and group, outcomes by group)."""
    columns = [c for c in levels if c in sample.columns]
    return pd.concat(
        [
            sample.loc[used & chosen, columns].assign(group=group)
            for chosen, group in ((is_treated, TREATMENT), (~is_treated, COMPARISON))
        ]
    )[["group", *columns]]


def _matched_events(
    outcomes: pd.DataFrame | None, used: np.ndarray, is_treated: np.ndarray
) -> pd.DataFrame | None:
    """Each matched person's re-offending (0/1), in the order of the matched groups' keys: the
    outcome tables publish each group's re-offenders as a plain count (the rate's events, and
    the time to re-offence's people, unweighted whatever the matching's weights), so they are
    checked against earlier releases cell by cell as the other kinds' outcome counts are."""
    if outcomes is None:
        return None
    rows = pd.concat([outcomes[used & is_treated], outcomes[used & ~is_treated]])
    return events_of(rows, REOFFENDED)


def _neighbourhood(scores: np.ndarray, is_treated: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Rows among the nearest same-group neighbours (by score) of the used rows, enough for the
    within-group variance estimates of matching_variance.py."""
    found = np.zeros(len(scores), dtype=bool)
    reach = 2 * VARIANCE_NEIGHBOURS + 2
    for group in (is_treated, ~is_treated):
        rows = np.flatnonzero(group)
        order = rows[np.argsort(scores[rows], kind="stable")]
        slots = np.flatnonzero(used[order])
        near = (slots[:, None] + np.arange(-reach, reach + 1)[None, :]).ravel()
        found[order[near[(near >= 0) & (near < len(order))]]] = True
    return found


def _follow_characteristics(row: dict[str, Any], result: AnalysisResult) -> dict[str, Any]:
    """Withhold a balance row whose characteristics cell is suppressed: the row's means, times
    the released group sizes, would give the suppressed count back."""
    if row["disclosure"]["suppressed"]:
        return row
    try:
        table = result.table(f"characteristics_{row['covariate']}").table
    except KeyError:
        return row
    level = row["term"].split("=", 1)[1] if row["binary"] and "=" in row["term"] else None
    hidden = any(
        cell.suppressed
        for cell in table.cells
        if cell.labels.get("group") in (TREATMENT, COMPARISON)
        and (level is None or cell.labels.get(row["covariate"]) == level)
    )
    if not hidden:
        return row
    data = {k: (v if k in ("term", "covariate", "binary") else None) for k, v in row.items()}
    data["disclosure"] = {"suppressed": True, "rules": ["secondary"]}
    return data
