"""Outcome tables, test statistics and the plain-language summary of a matched comparison.

A test statistic is released only when both groups' figures survive disclosure control:
a difference and its confidence interval would otherwise let a reader rebuild a suppressed rate.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .att import OutcomeEstimate
from .disclosure import TOTAL_LABEL, ControlledTable, DisclosurePolicy
from .matched_tables import COMPARISON, TREATMENT, group_table
from .results import AnalysisResult, ResultTable, jdl_rate_sentence, significance_sentence
from .tabulation import control_count_table

FLOW_ORDER = (
    "in_treatment_group",
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
    """How the submitted cohort became the treatment group, one count per outcome."""
    order = [key for key in FLOW_ORDER if flow.get(key)] + sorted(set(flow) - set(FLOW_ORDER))
    series = pd.Series([flow[key] for key in order], index=pd.Index(order, name="stage"))
    return ResultTable(
        "cohort_flow",
        "What happened to the people submitted",
        control_count_table(series, policy),
        "linked cohort",
    )


def _released(table: ControlledTable) -> bool:
    groups = [c for c in table.cells if c.labels["group"] in (TREATMENT, COMPARISON)]
    return all(not cell.suppressed for cell in groups)


def describe_outcomes(
    result: AnalysisResult,
    matched: pd.DataFrame,
    weights: np.ndarray,
    estimates: list[OutcomeEstimate],
    policy: DisclosurePolicy,
) -> None:
    """Add outcome tables, statistics, figures and the summary to ``result``."""
    treated = matched["treated"].to_numpy() == 1
    reoffended = matched["reoffended"].to_numpy() == 1
    by_name = {estimate.outcome: estimate for estimate in estimates}
    specs = [
        (
            "reoffending_rate",
            "One-year proven re-offending rate",
            "rate",
            "reoffended",
            np.ones(len(matched), bool),
            1.0,
            "one-year proven re-offending rate",
        ),
        (
            "reoffence_frequency",
            "Proven re-offences per 100 people",
            "mean",
            "reoffences",
            np.ones(len(matched), bool),
            100.0,
            "frequency of proven re-offending",
        ),
        (
            "time_to_reoffence",
            "Days to first proven re-offence (re-offenders only)",
            "mean",
            "days_to_first_reoffence",
            reoffended,
            1.0,
            "time to first proven re-offence",
        ),
    ]
    figures: dict[str, dict[str, dict[str, float]]] = {}
    sentences: list[str] = []
    for name, title, measure, column, rows, scale, label in specs:
        values = matched[column].to_numpy(dtype=float)
        table, figure = group_table(
            measure,
            values[rows & treated],
            values[rows & ~treated],
            weights[rows & ~treated],
            policy,
            scale,
        )
        result.tables.append(ResultTable(name, title, table, "treatment group"))
        estimate = by_name[label]
        if not _released(table) or estimate.test is None:
            result.withheld[name] = (
                "Too few people behind one of the groups' figures to release this comparison."
            )
            continue
        figures[name] = figure
        result.statistics[name] = {**estimate.to_dict(), "scale": scale}
        sentences.append(_sentence(name, figure, estimate))
    result.figures["outcomes"] = figures
    counts = [
        c for c in result.table("reoffending_rate").table.cells if c.labels["group"] != TOTAL_LABEL
    ]
    size = {c.labels["group"]: c.values["count"] for c in counts}
    result.summary = (
        f"The treatment group has {_shown(size.get(TREATMENT))} people and the matched "
        f"comparison group {_shown(size.get(COMPARISON))} people. " + " ".join(sentences)
    ).strip()


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
    return f"{opening} {significance_sentence(p_value, measure)}"
