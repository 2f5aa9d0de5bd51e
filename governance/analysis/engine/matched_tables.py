"""Disclosure-controlled tables for a matched comparison: outcomes, characteristics, balance.

The number of people behind a comparison-group figure is the number of distinct comparison
people with positive weight, so thresholds and dominance are checked on distinct people and
their unweighted values; the published rate or mean of the comparison group is the *weighted*
one (ATT weights), which is what the significance tests compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .balance import BalanceRow, smd, smd_scale, variance_ratio
from .disclosure import (
    RATE_DOMAIN,
    RULE_DOMINANCE,
    RULE_SPREAD,
    RULE_THRESHOLD,
    TOTAL_LABEL,
    ControlledCell,
    ControlledTable,
    DisclosurePolicy,
    ValueDomain,
    control_table,
    published_mean,
    published_summary,
    published_variance,
    spread_gives_small_counts,
    threshold_failures,
    with_implied_counts,
)
from .stats import WeightedSummary, summary_interval, weighted_summary, wilson_interval
from .tabulation import cells_from_wide_counts

TREATMENT, COMPARISON = "treatment", "comparison"


def _cells(
    values_t: np.ndarray, values_c: np.ndarray, measure: str, top_n: int, domain: ValueDomain
) -> pd.DataFrame:
    rows = []
    for label, values in ((TREATMENT, values_t), (COMPARISON, values_c), (TOTAL_LABEL, None)):
        data = np.concatenate([values_t, values_c]) if values is None else values
        magnitude = np.sort(np.abs(data))[::-1]
        rows.append(
            {
                "group": label,
                "count": float(len(data)),
                "events": float(data.sum()),
                "value_sum": float(data.sum()),
                "abs_sum": float(magnitude.sum()),
                "top_n_sum": float(magnitude[:top_n].sum()),
            }
        )
    cells = pd.DataFrame(rows)
    if measure == "rate":
        return cells
    # A mean over few values gives counts of people: held to the rate rule (disclosure.py).
    return with_implied_counts(cells, domain)


def group_table(
    measure: str,
    values_t: np.ndarray,
    values_c: np.ndarray,
    weights_c: np.ndarray,
    policy: DisclosurePolicy,
    scale: float = 1.0,
    origin: float | None = None,
) -> tuple[ControlledTable, dict[str, dict[str, float]]]:
    """Treatment vs comparison table of a rate ("rate") or mean ("mean") under control.

    Returns the controlled table (comparison values weighted; ``scale`` multiplies published
    means, e.g. 100 for "per 100 people") and the unrounded published figures per group.
    ``origin``: the column's origin (``RunContext.origins``: its declared lowest value under
    rounding), which the means' sums are taken from (``disclosure.ValueDomain.origin``; None: 0).
    """
    values_t = np.asarray(values_t, dtype=float)
    values_c = np.asarray(values_c, dtype=float)
    domain = (
        RATE_DOMAIN
        if measure == "rate"
        else ValueDomain.of(np.concatenate([values_t, values_c])).with_origin(origin)
    )
    raw = control_table(
        _cells(values_t, values_c, measure, policy.dominance_n, domain),
        ["group"],
        "rate" if measure == "rate" else "mean",
        policy,
        domain=domain,
    )
    # A group with nobody in it (no re-offenders, so no time to re-offence) has no mean: its
    # cell carries no figures, as a suppressed one, whatever the zero rule says of its count.
    summaries = {
        group: weighted_summary(values, weights) if values.size else None
        for group, values, weights in (
            (TREATMENT, values_t, None),
            (COMPARISON, values_c, weights_c),
        )
    }
    figures: dict[str, dict[str, float]] = {}
    cells: list[ControlledCell] = []
    for cell in raw.cells:
        group = cell.labels["group"]
        exact = None if group == TOTAL_LABEL else summaries[group]
        if cell.suppressed or exact is None:
            values: dict[str, float | int | None] = {"count": cell.values["count"]}
            if group != TOTAL_LABEL:
                values.update(dict.fromkeys(("value", "ci_low", "ci_high", "effective_n")))
            cells.append(
                ControlledCell(cell.labels, values, cell.suppressed, list(cell.rules), cell.raw)
            )
            continue
        # Under rounding the figures are the group's as published (disclosure.py).
        summary = published_summary(exact, domain, policy)
        group_values = values_t if group == TREATMENT else values_c
        rules = list(cell.rules)
        interval: tuple[float, float] | None
        if measure == "rate":
            interval = wilson_interval(summary.mean, summary.effective_n)
        elif spread_gives_small_counts(group_values, domain, policy):
            # The interval's width is the group's variance: over three values, with the
            # count and the mean, the number of people at each (disclosure.py). The mean
            # stays; the interval, and the comparison's test, are withheld.
            interval = None
            rules.append(RULE_SPREAD)
        else:
            interval = _mean_interval(summary)
        published: dict[str, float | int | None] = {
            "count": cell.values["count"],
            "value": summary.mean * scale,
            "ci_low": None if interval is None else interval[0] * scale,
            "ci_high": None if interval is None else interval[1] * scale,
            "effective_n": summary.effective_n,
        }
        if interval is not None:
            figures[group] = {
                key: float(value)
                for key, value in published.items()
                if key != "count" and value is not None
            }
        cells.append(ControlledCell(cell.labels, published, False, rules, cell.raw))
    return ControlledTable(["group"], measure, cells, policy.to_dict()), figures


INTERVAL_METHODS = {"rate": "Wilson", "mean": "t"}


def interval_labels(measure: str, confidence: float = 0.95) -> dict[str, str]:
    """How the group tables' interval columns are named wherever they are shown."""
    method = INTERVAL_METHODS[measure]
    level = f"{round(100 * confidence)}% CI ({method})"
    return {"ci_low": f"{level}, lower", "ci_high": f"{level}, upper"}


def _mean_interval(summary: WeightedSummary) -> tuple[float, float]:
    interval = summary_interval(summary)
    return (summary.mean, summary.mean) if interval is None else interval


def characteristics_table(
    covariate: str,
    labels: pd.Series,
    is_treated: np.ndarray,
    weights: np.ndarray,
    policy: DisclosurePolicy,
) -> ControlledTable:
    """Level x group counts of distinct people, with the comparison share weighted."""
    used = weights > 0
    frame = pd.DataFrame(
        {
            covariate: labels.astype("string").fillna("Missing").astype(str).to_numpy()[used],
            "group": np.where(is_treated[used], TREATMENT, COMPARISON),
            "weight": weights[used],
        }
    )
    counts = frame.pivot_table(
        index=covariate, columns="group", values="weight", aggfunc="size", fill_value=0
    ).reindex(columns=[TREATMENT, COMPARISON], fill_value=0)
    shares = frame.pivot_table(
        index=covariate, columns="group", values="weight", aggfunc="sum", fill_value=0.0
    ).reindex(columns=[TREATMENT, COMPARISON], fill_value=0.0)
    totals = shares.sum(axis=0)
    shares = shares / totals
    counts.columns.name = "group"
    long, dims = cells_from_wide_counts(counts)
    raw = control_table(long, dims, "count", policy)
    cells = []
    for cell in raw.cells:
        level, group = cell.labels[covariate], cell.labels["group"]
        values = dict(cell.values)
        if not cell.suppressed and level != TOTAL_LABEL and group != TOTAL_LABEL:
            # A share of the group's (weighted) people: under rounding, of the numbers as
            # published, as a rate is.
            share = float(shares.loc[level, group])
            values["percent"] = 100 * float(
                published_mean(share, float(totals[group]), policy, RATE_DOMAIN) or 0.0
            )
        cells.append(
            ControlledCell(cell.labels, values, cell.suppressed, list(cell.rules), cell.raw)
        )
    return ControlledTable(dims, "count", cells, policy.to_dict())


def _small(values: np.ndarray, domain: ValueDomain, policy: DisclosurePolicy) -> bool:
    """The threshold rule on a group's mean: its count and the counts of people its mean
    implies (for a 0/1 column, those with and without the characteristic)."""
    cells = pd.DataFrame({"count": [float(len(values))], "value_sum": [float(values.sum())]})
    return bool(threshold_failures(with_implied_counts(cells, domain), "mean", policy)[0])


def _dominated(values: np.ndarray, policy: DisclosurePolicy) -> bool:
    magnitude = np.abs(values)
    total = magnitude.sum()
    n = min(policy.dominance_n, len(magnitude))
    # The n largest without sorting the pool (nearly the register) for each balance row.
    top = np.partition(magnitude, len(magnitude) - n)[len(magnitude) - n :] if n else magnitude[:0]
    return bool(total > 0 and top.sum() >= policy.dominance_k * total)


def _domain(column: np.ndarray) -> ValueDomain:
    """The values a reader knows of a balance row: those of everyone the row is over. The
    pool is nearly the register: distinct values first (ValueDomain.of goes through objects),
    the same domain for a column of numbers."""
    return ValueDomain.from_values(np.unique(np.asarray(column, dtype=float)))


def _row_rules(
    groups: list[np.ndarray], binary: bool, domain: ValueDomain, policy: DisclosurePolicy
) -> list[str]:
    """The rules a balance row breaks through any of the groups its means describe."""
    rules = []
    if any(_small(g, domain, policy) for g in groups):
        rules.append(RULE_THRESHOLD)
    if not binary and any(_dominated(g, policy) for g in groups):
        rules.append(RULE_DOMINANCE)
    # A numeric row's SMD and variance ratio give each group's variance.
    if not binary and any(spread_gives_small_counts(g, domain, policy) for g in groups):
        rules.append(RULE_SPREAD)
    return rules


def balance_describes(
    rows: list[BalanceRow], matrix: np.ndarray, group: np.ndarray, policy: DisclosurePolicy
) -> bool:
    """Whether some balance row, its "before" figures less its "after" ones, would describe
    ``group`` (rows of ``matrix``, e.g. the treated people without a comparison person) as
    the rules forbid."""
    return any(
        _row_rules(
            [np.asarray(matrix[group, i], dtype=float)], row.binary, _domain(matrix[:, i]), policy
        )
        for i, row in enumerate(rows)
    )


def balance_rows_published(
    rows: list[BalanceRow],
    matrix: np.ndarray,
    treated_before: np.ndarray,
    controls_before: np.ndarray,
    treated_after: np.ndarray,
    controls_after: np.ndarray,
    policy: DisclosurePolicy,
    smd_denominator: str = "pooled",
    weights: np.ndarray | None = None,
    origins: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Balance rows as dicts; a row's means and SMDs are withheld (``suppressed``) when the
    people behind a group's mean are too few, or the counts of people it implies are (for a
    level or a 0/1 covariate, those with and without it; for a covariate of two codes the same),
    or a numeric covariate is dominated by a few values.

    The groups are the four whose means the row publishes, the comparison pool before matching
    (``controls_before``) among them: its size is not published, but the denominators of its
    exact means over 0/1 columns give it, so its means are counts like the others'. So are the
    people in a group before matching and not after (treated people without a comparison
    person, the pool's unused people): the group sizes are published or derivable, and before
    less after describes them. The values a reader knows are those of all the groups: a value
    only the pool holds (a middle risk tier two pool members have) is one of them.

    Under the agreement's rounding a released row's means, SMDs and variance ratios come from
    the counts as published (``_rounded_figures``); ``weights`` are the matching weights of
    ``matrix``'s rows, which the "after" figures are weighted by (None: all 1); ``origins``
    per covariate its origin (``RunContext.origins``), which a numeric
    row's sums are taken from (``disclosure.ValueDomain.origin``; none: 0), as its
    characteristics table's are."""
    masks = [
        np.asarray(mask, dtype=bool)
        for mask in (treated_before, controls_before, treated_after, controls_after)
    ]
    # Before less after, where someone is left out (none are when the "before" figures are
    # computed over the matched treated people, kinds_matched.py).
    masks += [m for m in (masks[0] & ~masks[2], masks[1] & ~masks[3]) if m.any()]
    published = []
    for position, row in enumerate(rows):
        column = matrix[:, position]
        groups = [np.asarray(column[mask], dtype=float) for mask in masks]
        domain = _domain(column).with_origin((origins or {}).get(row.covariate))
        rules = _row_rules(groups, row.binary, domain, policy)
        unsafe = bool(rules)
        data = row.to_dict()
        if unsafe:
            for key in data:
                if key not in ("term", "covariate", "binary"):
                    data[key] = None
        elif policy.rounding_base is not None:
            weighted = [None, None] + [
                None if weights is None else np.asarray(weights[mask], dtype=float)
                for mask in masks[2:4]
            ]
            data |= _rounded_figures(
                row, list(zip(groups[:4], weighted, strict=True)), domain, policy, smd_denominator
            )
        data["disclosure"] = {"suppressed": unsafe, "rules": rules}
        published.append(data)
    return published


def _rounded_figures(
    row: BalanceRow,
    groups: list[tuple[np.ndarray, np.ndarray | None]],
    domain: ValueDomain,
    policy: DisclosurePolicy,
    smd_denominator: str,
) -> dict[str, float | None]:
    """A balance row's means and SMDs from the counts as published, under rounding. Its exact
    means over 0/1 columns are fractions k / n whose denominators give each group's exact size
    (the pool's least common multiple, pool9), the very counts rounding hides; so each mean is
    released as ``published_mean`` over its group's size (treated and pool before, the matched
    groups after; the matched controls' weighted mean over their number), and a 0/1 row's SMDs
    are computed from those published means. A numeric row's SMDs and variance ratios use each
    group's variance as published over the same size (``published_variance``): its exact
    variance over whole numbers gives the exact size too (rounding10)."""
    means = [
        None if mean is None else published_mean(mean, len(values), policy, domain)
        for mean, values in zip(
            (
                row.mean_treated_before,
                row.mean_control_before,
                row.mean_treated_after,
                row.mean_control_after,
            ),
            (values for values, _ in groups),
            strict=True,
        )
    ]
    treated_before, control_before, treated_after, control_after = means
    variances = [
        None
        if row.binary or not len(values)
        else published_variance(weighted_summary(values, weights), len(values), domain, policy)
        for values, weights in groups
    ]
    if row.binary:
        spread = [p * (1 - p) for p in (treated_before, control_before) if p is not None]
    else:
        spread = [0.0 if v is None else v for v in variances[:2]]
    scale = float(smd_scale(spread[0], spread[1], smd_denominator)) if len(spread) == 2 else None

    def difference(treated: float | None, control: float | None) -> float | None:
        if scale is None or treated is None or control is None:
            return None
        return smd(treated - control, scale)

    return {
        "mean_treated_before": treated_before,
        "mean_control_before": control_before,
        "mean_treated_after": treated_after,
        "mean_control_after": control_after,
        "smd_before": difference(treated_before, control_before),
        "smd_after": difference(treated_after, control_after),
        "variance_ratio_before": None
        if row.variance_ratio_before is None
        else variance_ratio(variances[0], variances[1]),
        "variance_ratio_after": None
        if row.variance_ratio_after is None
        else variance_ratio(variances[2], variances[3]),
    }
