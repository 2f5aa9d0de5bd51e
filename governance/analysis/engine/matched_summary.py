"""Outcome tables, test statistics and the plain-language summary of a matched comparison.

A test statistic is released only when both groups' figures survive disclosure control:
a difference and its confidence interval would otherwise let a reader rebuild a suppressed rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from .att import OutcomeEstimate, OutcomeSpec
from .disclosure import (
    RATE_DOMAIN,
    RULE_SPREAD,
    TOTAL_LABEL,
    ControlledTable,
    DisclosurePolicy,
    ValueDomain,
    control_table,
    published_summary,
)
from .matched_tables import COMPARISON, TREATMENT, group_table, interval_labels
from .results import AnalysisResult, ResultTable, jdl_rate_sentence, significance_sentence
from .stats import compare_proportions, compare_summaries, weighted_summary
from .tabulation import cells_from_wide_counts

FLOW_STAGE, FLOW_TREATED = "stage", "in_treatment_group"
FLOW_ORDER = (
    FLOW_TREATED,
    "invalid_name",
    "invalid_date_of_birth",
    "invalid_sex",
    "invalid_intervention_dates",
    "duplicate_in_cohort",
    "multiple_interventions",
    "ambiguous",
    "not_found",
    "no_index_event",
    "missing_age",
    "under_min_age",
    "excluded_offence_category",
    "incomplete_follow_up",
    "no_control_within_caliper",
    "no_control_left",
)


def flow_table(flow: Counter[str], policy: DisclosurePolicy) -> ResultTable:
    """How the submitted cohort became the treatment group, one count per outcome.

    The treatment group's size is published by the tables over the matched groups (their
    treatment-group totals), so the flow's ``in_treatment_group`` is never hidden as the
    complement of a small count, and the protection intervals take it as known: with it known
    from those tables, the flow's total less its other cells would give the small count
    back."""
    order = [key for key in FLOW_ORDER if flow.get(key)] + sorted(set(flow) - set(FLOW_ORDER))
    series = pd.Series([flow[key] for key in order], index=pd.Index(order, name=FLOW_STAGE))
    cells, dimensions = cells_from_wide_counts(series)
    # A treatment group under the threshold is suppressed in those tables too.
    elsewhere = (cells[FLOW_STAGE] == FLOW_TREATED).to_numpy(dtype=bool) & (
        flow.get(FLOW_TREATED, 0) >= policy.min_cell_size
    )
    return ResultTable(
        "cohort_flow",
        "What happened to the people submitted",
        control_table(cells, dimensions, "count", policy, published_elsewhere=elsewhere),
        "linked cohort",
        published_elsewhere=frozenset(np.flatnonzero(elsewhere).tolist()),
    )


def _released(table: ControlledTable) -> bool:
    """Both groups' figures are out with their intervals: the test's standard error gives
    what an interval withheld for its spread would (``RULE_SPREAD``)."""
    groups = [c for c in table.cells if c.labels["group"] in (TREATMENT, COMPARISON)]
    return all(not cell.suppressed and RULE_SPREAD not in cell.rules for cell in groups)


MATCHED_GROUPS = "treatment and comparison groups"
OUTCOME_SPECS = (
    # name, title, measure, column, among re-offenders only, scale, test label, quantities
    (
        "reoffending_rate",
        "One-year proven re-offending rate",
        "rate",
        "reoffended",
        False,
        1.0,
        "one-year proven re-offending rate",
        {"count": "count", "events": "events:reoffended"},
    ),
    (
        "reoffence_frequency",
        "Proven re-offences per 100 people",
        "mean",
        "reoffences",
        False,
        100.0,
        "frequency of proven re-offending",
        {"count": "count"},
    ),
    # The number behind the time to re-offence is the number of re-offenders: the same people
    # as the re-offending rate's events, which links the two tables for the protection check.
    (
        "time_to_reoffence",
        "Days to first proven re-offence (re-offenders only)",
        "mean",
        "days_to_first_reoffence",
        True,
        1.0,
        "time to first proven re-offence",
        {"count": "events:reoffended"},
    ),
)


def outcome_tables(
    matched: pd.DataFrame, weights: np.ndarray, policy: DisclosurePolicy
) -> tuple[list[ResultTable], dict[str, dict[str, dict[str, float]]]]:
    """The outcome tables (over the treatment and comparison groups) and, per table, the
    figures each group would show if its cell is released."""
    treated = matched["treated"].to_numpy() == 1
    reoffended = matched["reoffended"].to_numpy() == 1
    tables: list[ResultTable] = []
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for name, title, measure, column, among, scale, _, quantities in OUTCOME_SPECS:
        rows = reoffended if among else np.ones(len(matched), bool)
        values = matched[column].to_numpy(dtype=float)
        table, figure = group_table(
            measure,
            values[rows & treated],
            values[rows & ~treated],
            weights[rows & ~treated],
            policy,
            scale,
        )
        tables.append(
            ResultTable(
                name,
                title,
                table,
                MATCHED_GROUPS,
                measures=dict(quantities),
                intervals=interval_labels(measure),
            )
        )
        figures[name] = figure
    return tables, figures


def published_estimates(
    estimates: list[OutcomeEstimate],
    outcomes: pd.DataFrame,
    specs: Sequence[OutcomeSpec],
    is_treated: np.ndarray,
    weights: np.ndarray,
    policy: DisclosurePolicy,
) -> list[OutcomeEstimate]:
    """The outcome comparisons as released. Without rounding, the estimates themselves. Under
    the agreement's rounding, each is recomputed from the groups as the outcome tables publish
    them (``published_summary``: sizes rounded, rates from rounded counts): the weighted
    two-proportion or Welch test on those figures. A test on exact counts, printed to full
    precision, can be inverted over the few counts in a rounding interval; the matched
    variance (Abadie-Imbens) is a function of the exact matched sets, so it is not used here."""
    if policy.rounding_base is None:
        return estimates
    released = []
    for estimate, spec in zip(estimates, specs, strict=True):
        values = pd.to_numeric(outcomes[spec.column], errors="coerce").to_numpy(dtype=float)
        usable = (weights > 0) & np.isfinite(values)
        if spec.among is not None:
            usable &= outcomes[spec.among].fillna(0).to_numpy() == 1
        treated, control = usable & is_treated, usable & ~is_treated
        if estimate.test is None or not treated.any() or not control.any():
            released.append(estimate)
            continue
        binary = spec.kind == "binary"
        domain = RATE_DOMAIN if binary else ValueDomain.of(values[usable])
        first, second = (
            published_summary(weighted_summary(values[rows], w), domain, policy)
            for rows, w in ((treated, None), (control, weights[control]))
        )
        test: Any = (compare_proportions if binary else compare_summaries)(first, second)
        released.append(
            replace(
                estimate,
                treated_n=first.n_units,
                control_n=second.n_units,
                control_effective_n=second.effective_n,
                treated_mean=first.mean,
                control_mean=second.mean,
                att=first.mean - second.mean,
                test=test.to_dict(),
            )
        )
    return released


def describe_outcomes(
    result: AnalysisResult,
    figures: dict[str, dict[str, dict[str, float]]],
    estimates: list[OutcomeEstimate],
) -> None:
    """Statistics, figures and the summary, from the outcome tables as finally released."""
    by_name = {estimate.outcome: estimate for estimate in estimates}
    released_figures: dict[str, dict[str, dict[str, float]]] = {}
    sentences: list[str] = []
    for name, *_, label, _ in OUTCOME_SPECS:
        estimate = by_name[label]
        if not _released(result.table(name).table) or estimate.test is None:
            result.withheld[name] = (
                "Too few people behind one of the groups' figures to release this comparison."
            )
            continue
        released_figures[name] = figures[name]
        result.statistics[name] = {**estimate.to_dict(), "scale": OUTCOME_SCALES[name]}
        sentences.append(_sentence(name, figures[name], estimate))
    result.figures["outcomes"] = released_figures
    counts = [
        c for c in result.table("reoffending_rate").table.cells if c.labels["group"] != TOTAL_LABEL
    ]
    size = {c.labels["group"]: c.values["count"] for c in counts}
    result.summary = (
        f"The treatment group has {_shown(size.get(TREATMENT))} people and the matched "
        f"comparison group {_shown(size.get(COMPARISON))} people. " + " ".join(sentences)
    ).strip()


OUTCOME_SCALES = {spec[0]: spec[5] for spec in OUTCOME_SPECS}


def _shown(count: float | int | None) -> str:
    return "a suppressed number of" if count is None else f"{int(count)}"


def _sentence(name: str, figure: dict[str, dict[str, float]], estimate: OutcomeEstimate) -> str:
    treated, comparison = figure[TREATMENT]["value"], figure[COMPARISON]["value"]
    p_value = estimate.test.get("p_value") if estimate.test else None
    if name == "reoffending_rate":
        opening = jdl_rate_sentence(treated, comparison)
        measure = "one-year proven re-offending rate"
    elif name == "reoffence_frequency":
        opening = (
            f"For every 100 typical people in the treatment group, {treated:.0f} proven "
            f"re-offences were committed within one year, compared with {comparison:.0f} "
            "for every 100 typical people in the comparison group."
        )
        measure = "frequency of re-offending"
    else:
        opening = (
            f"Among those who re-offended, the first proven re-offence came after "
            f"{treated:.0f} days on average in the treatment group, compared with "
            f"{comparison:.0f} days in the comparison group."
        )
        measure = "time to first re-offence"
    return f"{opening} {significance_sentence(p_value, measure, intervention=True)}"
