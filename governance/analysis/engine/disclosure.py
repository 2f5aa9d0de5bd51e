"""Statistical disclosure control applied to every table the engine releases.

This module owns the disclosure policy (the agreement's thresholds, with their defaults in one
dataclass), the primary rules (threshold and nk-dominance), the orchestration of secondary
suppression (see ``secondary.py``) and optional rounding, and the per-cell disclosure record
that travels with every published value.

Tables are handled in *long* form: one row per cell, one column per grouping dimension whose
value is a level label or ``TOTAL_LABEL`` for a margin, plus additive measure columns
(``count``; ``events`` for rates; ``value_sum``, ``abs_sum``, ``top_n_sum`` and the two counts
the mean implies, ``above_lowest`` and ``below_highest`` (``with_implied_counts``), for means).
``tabulation.py`` builds such tables from person-level data or from a wide table of counts.

A mean is a rate in disguise when its column takes few values: over a column with two values
(0/1, booleans, two codes) a cell's count and mean give the number of people at each value
exactly. So every mean is checked on the counts it implies, with the rate rule: the people
above the column's lowest value (the rate's events) and below its highest (the non-events).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import AnalysisParameterError
from .secondary import AdditiveTable, complementary_suppression
from .stats import WeightedSummary

TOTAL_LABEL = "Total"
RULE_THRESHOLD = "threshold"
RULE_DOMINANCE = "dominance"
RULE_SECONDARY = "secondary"
RULE_ROUNDING = "rounding"
# Not a suppression: the cell's mean is released, its confidence interval withheld.
RULE_SPREAD = "spread"

Measure = Literal["count", "rate", "mean"]
ABOVE_LOWEST = "above_lowest"
BELOW_HIGHEST = "below_highest"
IMPLIED_COUNTS = (ABOVE_LOWEST, BELOW_HIGHEST)


@dataclass(frozen=True)
class DisclosurePolicy:
    """The agreement's output-checking thresholds. Defaults follow common SDC practice.

    min_cell_size: smallest number of people (or events, or non-events) a published figure may
        rest on; the crime-lab agreements forbid groups under 10 people.
    dominance_n, dominance_k: nk-dominance rule for sums and means: a cell is unsafe when its
        ``dominance_n`` largest contributors make up at least ``dominance_k`` of its total.
    rounding_base: when set, every published count is rounded to a multiple of it.
    zeros_are_disclosive: a zero count or zero events says "nobody in this group did X",
        which is attribute disclosure, so by default zeros are suppressed like small counts.
    protect_non_events: a rate of 98 out of 100 discloses that 2 people did *not* re-offend;
        when true the non-event count (denominator minus numerator) must also meet the threshold.
    protection_width: a suppressed count must not be recoverable from everything released
        about its population to within fewer than this many people (the width of its feasible
        interval); None means the minimum cell size.
    """

    min_cell_size: int = 10
    dominance_n: int = 2
    dominance_k: float = 0.9
    rounding_base: int | None = None
    zeros_are_disclosive: bool = True
    protect_non_events: bool = True
    protection_width: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.min_cell_size, bool) or not isinstance(self.min_cell_size, int):
            raise AnalysisParameterError("min_cell_size", "must be an integer")
        if self.min_cell_size < 1:
            raise AnalysisParameterError("min_cell_size", "must be at least 1")
        if not isinstance(self.dominance_n, int) or self.dominance_n < 1:
            raise AnalysisParameterError("dominance_n", "must be a positive integer")
        if not 0.0 < float(self.dominance_k) <= 1.0:
            raise AnalysisParameterError("dominance_k", "must be in (0, 1]")
        if self.rounding_base is not None and (
            isinstance(self.rounding_base, bool)
            or not isinstance(self.rounding_base, int)
            or self.rounding_base < 2
        ):
            raise AnalysisParameterError("rounding_base", "must be None or an integer >= 2")
        if self.protection_width is not None and (
            isinstance(self.protection_width, bool)
            or not isinstance(self.protection_width, int)
            or self.protection_width < 1
        ):
            raise AnalysisParameterError("protection_width", "must be None or a positive integer")

    def published(self, count: float) -> int:
        """A count as it is released: rounded to the agreement's base when it sets one, else
        exact. Every released figure a count determines (a rate, a two-valued mean, a test's
        group sizes) is computed from this, never from the exact count, so that nothing
        released tells the exact count apart from the others in its rounding interval."""
        if self.rounding_base is None:
            return int(count)
        # Six places first: a weighted count of 12.4999999 is 12.5 people's worth.
        return int(round_to_base(np.round([float(count)], 6), self.rounding_base)[0])

    @property
    def interval_width(self) -> int:
        """The protection interval in force: the agreement's width, else the minimum cell size."""
        return self.min_cell_size if self.protection_width is None else self.protection_width

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DisclosurePolicy:
        """Build the policy from an agreement's stored thresholds, rejecting unknown keys."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise AnalysisParameterError(unknown[0], "is not a disclosure policy setting")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ControlledCell:
    """One published cell: its labels, its values (None when suppressed) and why. ``raw``
    keeps the true additive values (count, events) for the output-level checks; it is never
    published (``to_dict`` leaves it out)."""

    labels: dict[str, str]
    values: dict[str, float | int | None]
    suppressed: bool
    rules: list[str] = field(default_factory=list)
    raw: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "values": dict(self.values),
            "disclosure": {"suppressed": self.suppressed, "rules": list(self.rules)},
        }


@dataclass(frozen=True)
class ControlledTable:
    """A table after disclosure control; margins carry ``TOTAL_LABEL`` in their labels."""

    dimensions: list[str]
    measure: str
    cells: list[ControlledCell]
    policy: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimensions": list(self.dimensions),
            "measure": self.measure,
            "cells": [cell.to_dict() for cell in self.cells],
            "policy": dict(self.policy),
        }

    def to_frame(self) -> pd.DataFrame:
        """Published values as a long DataFrame (NaN where suppressed) plus a ``rules`` column."""
        rows = [
            {
                **cell.labels,
                **cell.values,
                "suppressed": cell.suppressed,
                "rules": ",".join(cell.rules),
            }
            for cell in self.cells
        ]
        return pd.DataFrame(rows)

    def cell(self, **labels: str) -> ControlledCell:
        """Look a cell up by its labels (use ``TOTAL_LABEL`` for margins)."""
        for candidate in self.cells:
            if all(candidate.labels.get(key) == value for key, value in labels.items()):
                return candidate
        raise KeyError(labels)


@dataclass(frozen=True)
class ValueDomain:
    """What a reader can use of the values a mean is taken over: its two lowest and two highest
    distinct values (all of them when there are at most four), sorted. A reader who knows them
    turns a cell's count n and sum S into counts of people: at most (S - n * lowest) /
    (second lowest - lowest) are above the lowest value, at most (n * highest - S) / (highest -
    second highest) below the highest. Over two values both are exact: the mean is a rate.

    ``origin`` is the value a released mean's sums are taken from under rounding
    (``published_mean``): the column's declared lowest value (``with_origin``,
    ``RunContext.origins``), the same for every table, group and population the column is
    released from; 0 where none is given (the sums themselves, as before)."""

    values: tuple[float, ...]
    origin: float = 0.0

    @classmethod
    def of(cls, values: Any, *, boolean: bool = False) -> ValueDomain:
        """The domain of ``values`` (numbers; others and missing values are left out, as the
        mean leaves them out); a ``boolean`` column's domain is {0, 1} whatever it holds."""
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").dropna()
        found = set(numbers.astype(float).tolist()) | ({0.0, 1.0} if boolean else set())
        return cls.from_values(found)

    @classmethod
    def from_values(cls, values: Any) -> ValueDomain:
        """The domain of distinct values already found (e.g. the lowest and highest two)."""
        distinct = sorted({float(v) for v in values if not pd.isna(v)})
        return cls(tuple(distinct if len(distinct) <= 4 else distinct[:2] + distinct[-2:]))

    def with_origin(self, origin: float | None) -> ValueDomain:
        """The domain with the sums of its means taken from ``origin`` under rounding (none, or
        not a finite number: from 0). It must be at most every value a released mean is over
        and the same for every table the column is read from (``RunContext.origins``)."""
        usable = origin is not None and bool(np.isfinite(origin))
        return replace(self, origin=float(origin) if usable else 0.0)  # type: ignore[arg-type]

    @property
    def two_valued(self) -> bool:
        """Exactly two values: the implied counts are the counts of people at each value."""
        return len(self.values) == 2

    def implied_counts(
        self, count: np.ndarray, value_sum: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per cell: at most how many people are above the lowest value, and below the highest.
        Over a single value nobody is above it (a reader learns everyone shares it), and the
        cell's count is the count below "the other value"."""
        count = np.asarray(count, dtype=float)
        value_sum = np.asarray(value_sum, dtype=float)
        if len(self.values) < 2:
            return np.zeros_like(count), count.copy()
        lowest, highest = self.values[0], self.values[-1]
        # Values a hair apart make the bounds huge (infinite past float range): not small.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            above = (value_sum - count * lowest) / (self.values[1] - lowest)
            below = (count * highest - value_sum) / (highest - self.values[-2])
        return _as_counts(above), _as_counts(below)


# Past this no count of people is near any minimum cell size, and rounding to six places
# (a multiplication by 10**6) could overflow: such bounds are kept as they are.
_ROUNDED_BELOW = 1e15


def _as_counts(bounds: np.ndarray) -> np.ndarray:
    """Bounds of counts as compared with the minimum: rounded to six places, so that the
    rounding error of the sums does not turn a count of 10 into 9.999999, and never below 0.
    Values a hair apart in the domain make a bound huge (inf past float range): not small."""
    rounded = np.round(np.clip(bounds, -_ROUNDED_BELOW, _ROUNDED_BELOW), 6)
    return np.maximum(np.where(np.abs(bounds) < _ROUNDED_BELOW, rounded, bounds), 0.0)


def with_implied_counts(cells: pd.DataFrame, domain: ValueDomain) -> pd.DataFrame:
    """A long table of means with the counts of people its means imply (see ``ValueDomain``);
    ``control_table`` holds them to the rate rule."""
    above, below = domain.implied_counts(
        cells["count"].to_numpy(dtype=float), cells["value_sum"].to_numpy(dtype=float)
    )
    return cells.assign(**{ABOVE_LOWEST: above, BELOW_HIGHEST: below})


def threshold_failures(
    cells: pd.DataFrame, measure: Measure, policy: DisclosurePolicy
) -> np.ndarray:
    """Cells where a count behind the published figure is below ``min_cell_size``: the count;
    for a rate its events and (``protect_non_events``) non-events; for a mean the counts its
    values imply, the same way (``with_implied_counts``)."""

    def small(values: np.ndarray) -> np.ndarray:
        return small_counts(values, policy)

    counts = cells["count"].to_numpy(dtype=float)
    failing = small(counts)
    if measure == "rate":
        events = cells["events"].to_numpy(dtype=float)
        non_events = counts - events
    elif measure == "mean":
        _require_implied(cells)
        events = cells[ABOVE_LOWEST].to_numpy(dtype=float)
        non_events = cells[BELOW_HIGHEST].to_numpy(dtype=float)
    else:
        return np.asarray(failing, dtype=bool)
    failing |= small(events) & (counts > 0)
    if policy.protect_non_events:
        failing |= small(non_events) & (counts > 0)
    return np.asarray(failing, dtype=bool)


def small_counts(values: np.ndarray, policy: DisclosurePolicy) -> np.ndarray:
    """Counts of people under the minimum cell size (zeros too, when they are disclosive)."""
    values = np.asarray(values, dtype=float)
    below = values < policy.min_cell_size
    return np.asarray(below if policy.zeros_are_disclosive else below & (values != 0), bool)


def spread_gives_exact_counts(domain: ValueDomain, policy: DisclosurePolicy) -> bool:
    """Whether, under the agreement's rounding, a spread over this column would give counts of
    people that rounding hides. Over exactly three values a, b, c the sum S and the sum of
    squares Q (both released with a published spread, ``published_variance``) give, for each
    count n in the rounding interval, the people at each value: with 0 among the values those
    at the other two do not depend on n at all (over 0, 1, 2: n_2 = (Q - S) / 2 and
    n_1 = 2S - Q, exactly), and over values such as 1, 2, 4 (n_4 = (Q - 3S + 2n) / 6) only
    every third n makes them whole, which can single out the count. So under rounding a spread
    over three values is withheld."""
    return policy.rounding_base is not None and len(domain.values) == 3


def spread_gives_small_counts(
    values: np.ndarray, domain: ValueDomain, policy: DisclosurePolicy
) -> bool:
    """Whether a group's spread (its mean's confidence interval, a standard error, a variance
    or a variance ratio) must be withheld beside its count and mean. Over a column of exactly
    three values, count, mean and variance give the number of people at each value, the middle
    one included, which the mean's own bounds (``ValueDomain.implied_counts``) never see; those
    numbers are held to the threshold rule. Over two values the spread adds nothing to the
    mean; over four or more it leaves the counts underdetermined. Under rounding any spread
    over three values is withheld (``spread_gives_exact_counts``)."""
    if len(domain.values) != 3:
        return False
    if spread_gives_exact_counts(domain, policy):
        return True
    values = np.asarray(values, dtype=float)
    at_each = np.array([np.count_nonzero(values == value) for value in domain.values])
    return bool(small_counts(at_each, policy).any())


def _require_implied(cells: pd.DataFrame) -> None:
    missing = [column for column in IMPLIED_COUNTS if column not in cells.columns]
    if missing:
        raise ValueError(
            "a table of means needs the counts its means imply (disclosure.with_implied_counts)"
        )


def dominance_failures(cells: pd.DataFrame, policy: DisclosurePolicy) -> np.ndarray:
    """nk-dominance: the ``dominance_n`` largest |contributions| are >= ``dominance_k`` of the
    total |contribution|. A cell whose contributions are all zero is not dominated."""
    abs_sum = cells["abs_sum"].to_numpy(dtype=float)
    top = cells["top_n_sum"].to_numpy(dtype=float)
    # A relative tolerance keeps the rule exact for shares that are k up to rounding error.
    return np.asarray(
        (abs_sum > 0) & (top >= policy.dominance_k * abs_sum * (1 - 1e-12)), dtype=bool
    )


def round_to_base(values: np.ndarray, base: int) -> np.ndarray:
    """Round to the nearest multiple of ``base``, halves away from zero (e.g. 2.5 -> 5)."""
    return np.asarray(np.floor(np.asarray(values, dtype=float) / base + 0.5) * base, dtype=float)


def control_table(
    cells: pd.DataFrame,
    dimensions: Sequence[str],
    measure: Measure,
    policy: DisclosurePolicy,
    published_elsewhere: np.ndarray | None = None,
    domain: ValueDomain | None = None,
) -> ControlledTable:
    """Apply primary, secondary and rounding rules to a long table that includes its margins.
    ``published_elsewhere`` marks cells whose count another table of the output publishes:
    suppressing one as a complement would hide nothing, so it is chosen only when no other
    cell of its lines can be. ``domain`` is the values a table of means is over: under
    rounding a mean over two values is published as the rate it is (``_published_values``)."""
    dims = list(dimensions)
    cells = cells.reset_index(drop=True)
    threshold = threshold_failures(cells, measure, policy)
    dominance = (
        dominance_failures(cells, policy) if measure == "mean" else np.zeros(len(cells), dtype=bool)
    )
    primary = threshold | dominance
    counts = cells["count"].to_numpy(dtype=float)
    additive = [AdditiveTable(counts, nonnegative=True)]
    if measure == "rate":
        events = cells["events"].to_numpy(dtype=float)
        additive += [AdditiveTable(events, True), AdditiveTable(counts - events, True)]
    if measure == "mean":
        sums = cells["value_sum"].to_numpy(dtype=float)
        nonnegative = bool(np.all(cells["abs_sum"].to_numpy(dtype=float) == np.abs(sums)))
        additive.append(AdditiveTable(sums, nonnegative))
        # The implied counts are additive and never negative, as a rate's events and
        # non-events are: a complement must not let a margin pin a hidden one at zero.
        additive += [
            AdditiveTable(cells[column].to_numpy(dtype=float), True) for column in IMPLIED_COUNTS
        ]
    labels = cells[dims].astype(str) if dims else pd.DataFrame(index=cells.index)
    cost = counts.copy()
    if published_elsewhere is not None:
        cost[np.asarray(published_elsewhere, dtype=bool)] = np.inf
    suppressed = complementary_suppression(labels, dims, TOTAL_LABEL, primary, additive, cost)
    secondary = suppressed & ~primary
    return ControlledTable(
        dimensions=dims,
        measure=measure,
        cells=_published_cells(
            cells, dims, measure, policy, threshold, dominance, secondary, domain
        ),
        policy=policy.to_dict(),
    )


def _published_cells(
    cells: pd.DataFrame,
    dims: list[str],
    measure: Measure,
    policy: DisclosurePolicy,
    threshold: np.ndarray,
    dominance: np.ndarray,
    secondary: np.ndarray,
    domain: ValueDomain | None,
) -> list[ControlledCell]:
    records: list[ControlledCell] = []
    for position, data in enumerate(cells.to_dict("records")):
        labels = {dim: str(data[dim]) for dim in dims}
        raw = {key: float(data[key]) for key in ("count", "events", *IMPLIED_COUNTS) if key in data}
        rules = [
            name
            for name, fired in (
                (RULE_THRESHOLD, threshold[position]),
                (RULE_DOMINANCE, dominance[position]),
                (RULE_SECONDARY, secondary[position]),
            )
            if fired
        ]
        if rules:
            records.append(ControlledCell(labels, _empty_values(measure), True, rules, raw))
            continue
        values = _published_values(data, measure, policy, domain)
        if policy.rounding_base is not None:
            rules.append(RULE_ROUNDING)
        records.append(ControlledCell(labels, values, False, rules, raw))
    return records


def _published_values(
    data: Mapping[str, Any],
    measure: Measure,
    policy: DisclosurePolicy,
    domain: ValueDomain | None,
) -> dict[str, float | int | None]:
    """A released cell's values. Without rounding: exact counts, rates and means. Under
    rounding every figure a count determines comes from the counts as published
    (``DisclosurePolicy.published``): a rate is rounded events over the rounded count (an
    exact rate beside a rounded count gives the count back: 0.4347826 over a published 25 is
    10/23); a mean over two values is that rate on the column's scale; a mean over more values
    is the exact sum (from the domain's origin, ``published_mean``) over the rounded count,
    which releases that sum (not a count of people: over three or more values it does not give
    the people at each) but not the count, which the exact mean would through the sum's
    granularity (2.347826 is 54/23)."""
    count = policy.published(float(data["count"]))
    values: dict[str, float | int | None] = {"count": count}
    exact = float(data["count"])
    if measure == "rate":
        values["events"] = policy.published(float(data["events"]))
        rate = float(data["events"]) / exact if exact > 0 else None
        values["rate"] = published_mean(rate, exact, policy, RATE_DOMAIN)
    elif measure == "mean":
        mean = float(data["value_sum"]) / exact if exact > 0 else None
        values["mean"] = published_mean(mean, exact, policy, domain)
    return values


RATE_DOMAIN = ValueDomain((0.0, 1.0))


def published_mean(
    mean: float | None, count: float, policy: DisclosurePolicy, domain: ValueDomain | None
) -> float | None:
    """A mean (or rate) as released beside its count, ``count`` being the (effective) number
    of people behind it. Without rounding, the mean itself. Under rounding, from the count as
    published: over two values (a rate is a mean over 0 and 1) the published number at the
    higher value over the published count, on the column's scale; over more values the sum
    over the published count (see ``_published_values`` for why), the sum taken from the
    domain's ``origin``: origin + S' / p with S' = S - n x origin, the sum of (x - origin).

    From the origin, because S alone pins the count of a column far from 0 against its
    spread: S / highest <= n <= S / lowest (years of birth 1980 to 1990 summing to 39,720 are
    20 people, whatever count is published). Every value is at least the origin, so people at
    it add nothing to S' and only n >= S' / (highest - origin) is left, the bound a column
    starting at 0 (ages, counts of offences) always had. The origin is the same for every
    group, population and table (the column's declared lowest value): two releases of one
    group from two origins c1, c2 would give the count back through their difference,
    (c1 - c2)(1 - n / p)."""
    if policy.rounding_base is None or mean is None:
        return mean
    published = policy.published(count)
    if published <= 0:
        return None
    if domain is not None and domain.two_valued:
        lowest, highest = domain.values
        above = policy.published((mean - lowest) / (highest - lowest) * count)
        return lowest + (highest - lowest) * min(above, published) / published
    origin = _origin(domain)
    return origin + _settled((mean - origin) * count) / published


def _origin(domain: ValueDomain | None) -> float:
    return 0.0 if domain is None else domain.origin


# Significant figures a sum is taken to before it is divided by the published count.
SUM_FIGURES = 12


def _settled(total: float) -> float:
    """A sum rebuilt from a mean and an exact count (S = mean x n), to ``SUM_FIGURES``
    significant figures. Rebuilt, its last bits depend on the exact count (fl(fl(S / n) x n)
    is not always S), and a reader who knows S (a whole number) could try each count in the
    rounding interval for the bits printed; settled, it is S itself for a whole-number sum
    under 10^12, and a function of S alone for almost every other."""
    return float(f"{total:.{SUM_FIGURES}g}")


def published_variance(
    summary: WeightedSummary, count: float, domain: ValueDomain | None, policy: DisclosurePolicy
) -> float | None:
    """A group's variance as released beside its mean, ``count`` being the size that mean is
    published over (``published_mean``). Without rounding, the group's own. Under rounding,
    the variance of the group as published: the exact variance over a whole-number column
    gives the count back, because its sum of squares Q is whole and v (n - 1) + S^2 / n is
    whole, of the counts in the rounding interval, mostly for the exact n only. So it is
    computed from the sum S and the sum of squares Q (both taken over ``count``, weighted as
    the summary is, from the domain's ``origin`` as the mean's S is, each ``_settled``) with
    the published count p: (Q - S^2 / p) / (p - 1), in exact arithmetic; over two values
    (where S is a count of people) from the published mean alone, (mean - lowest) (highest -
    mean) p / (p - 1). Either way a function of what is released and of Q, so the same for
    every count that rounds alike; what S and Q still say about the count is in
    docs/decisions/analysis-disclosure.md (rounding10, rounding11)."""
    if policy.rounding_base is None or summary.variance is None:
        return summary.variance
    published = policy.published(count)
    mean = published_mean(summary.mean, count, policy, domain)
    if published <= 1 or mean is None:
        return None
    if domain is not None and domain.two_valued:
        lowest, highest = domain.values
        return max((mean - lowest) * (highest - mean), 0.0) * published / (published - 1)
    n = summary.effective_n
    # From the origin as the mean's sum is: Q too pins a count far from 0 (n <= Q / lowest^2).
    shifted = summary.mean - _origin(domain)
    total = Fraction(_settled(shifted * count))
    squares = Fraction(_settled((shifted**2 + summary.variance * (n - 1) / n) * count))
    # Exactly, from the settled S and Q: no cancellation where Q is close to S^2 / p.
    return float(max(squares - total * total / published, Fraction(0)) / (published - 1))


def published_summary(
    summary: WeightedSummary, domain: ValueDomain | None, policy: DisclosurePolicy
) -> WeightedSummary:
    """A group's summary as its released figures show it: its (effective) size as published,
    its mean (``published_mean``) and its variance (``published_variance``) from that. The
    same summary when the agreement sets no rounding. Tests and intervals computed from it
    print no exact count."""
    if policy.rounding_base is None:
        return summary
    mean = published_mean(summary.mean, summary.effective_n, policy, domain)
    size = policy.published(summary.effective_n)
    return replace(
        summary,
        mean=summary.mean if mean is None else mean,
        variance=published_variance(summary, summary.effective_n, domain, policy),
        effective_n=float(size),
        sum_weights=float(policy.published(summary.sum_weights)),
        n_units=policy.published(summary.n_units),
    )


def _empty_values(measure: Measure) -> dict[str, float | int | None]:
    keys = {"count": ["count"], "rate": ["count", "events", "rate"], "mean": ["count", "mean"]}
    return dict.fromkeys(keys[measure])
