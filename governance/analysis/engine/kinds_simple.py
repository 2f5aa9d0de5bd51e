"""The two kinds that work on one person-level table: descriptive tables and rate comparison.

Both read a ``records`` table (one row per person, or per person and index event, in which
case each person's earliest record is used). A rate or mean may name a re-offending measure
(``reoffended``, ``reoffences``, ``days_to_first_reoffence``) that the records lack: it is then
derived from the ``offences`` table as reoffending.py defines, which needs ``person_id`` and
``index_date`` in the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .disclosure import (
    ABOVE_LOWEST,
    TOTAL_LABEL,
    ValueDomain,
    control_table,
    published_summary,
    small_counts,
    spread_gives_exact_counts,
    with_implied_counts,
)
from .errors import AnalysisParameterError
from .kinds_base import (
    AnalysisKind,
    RunContext,
    events_of,
    read_optional_str,
    read_str,
    read_str_list,
)
from .records import CATEGORY_COLUMN, PERSON_KEY, Records, load_records, needs_offences
from .reoffending import OFFENCE_COLUMNS, OUTCOME_COLUMNS
from .results import (
    COMPARISON_CAVEAT,
    AnalysisResult,
    ResultTable,
    fixed,
    significance_sentence,
)
from .stats import (
    CI_WILSON,
    PROPORTION_INTERVALS,
    WeightedSummary,
    compare_summaries,
    interval_label,
    two_proportion_test,
    wilson_interval,
)

EXCLUDED = "excluded_offence_categories"
EXCLUDED_HELP = (
    "index offence categories whose records are left out (the governance layer "
    "adds the agreement's, which apply to every kind)."
)


def _excluded(params: Mapping[str, Any]) -> list[str]:
    return read_str_list(params, EXCLUDED, default=[])


def _columns(
    base: list[str], *measures: str | None, excluded: list[str] | None = None
) -> dict[str, list[str]]:
    records = [PERSON_KEY, *base, *([CATEGORY_COLUMN] if excluded else [])]
    if needs_offences(*measures):
        records.append("index_date")
        read = {"records": records, "offences": list(OFFENCE_COLUMNS)}
    else:
        read = {"records": records}
    read["records"] += [m for m in measures if m is not None and m not in OUTCOME_COLUMNS]
    read["records"] = list(dict.fromkeys(read["records"]))
    return read


@dataclass(frozen=True)
class DescriptiveParams:
    group_by: list[str]
    rate_of: str | None
    mean_of: str | None
    excluded_offence_categories: list[str]


class DescriptiveKind(AnalysisKind):
    """Counts, rates and means by up to three grouping columns, under disclosure control; with
    one grouping column of exactly two groups, the two means are compared by Welch's test."""

    name = "descriptive"
    label = "Descriptive tables"
    parameters = {
        "group_by": "1 to 3 columns to count people by.",
        "rate_of": "a 0/1 column, or reoffended, whose rate is shown per group.",
        "mean_of": "a number column (or reoffences, days_to_first_reoffence) whose mean is "
        "shown per group; the counts of people a mean implies (over a column of two values, "
        "the count at each) are held to the rate rule.",
        EXCLUDED: EXCLUDED_HELP,
    }

    def validate(self, params: Mapping[str, Any]) -> DescriptiveParams:
        self.refuse_unknown(params)
        return DescriptiveParams(
            group_by=read_str_list(params, "group_by", 1, 3),
            rate_of=read_optional_str(params, "rate_of"),
            mean_of=read_optional_str(params, "mean_of"),
            excluded_offence_categories=_excluded(params),
        )

    def columns(self, params: Mapping[str, Any]) -> dict[str, list[str]]:
        p = self.validate(params)
        return _columns(p.group_by, p.rate_of, p.mean_of, excluded=p.excluded_offence_categories)

    def run(
        self, data: Mapping[str, pd.DataFrame], params: Mapping[str, Any], context: RunContext
    ) -> AnalysisResult:
        p = self.validate(params)
        context.check_columns(p.group_by)
        result = AnalysisResult(kind=self.name, parameters=asdict(p))
        context.report(0.1, "loading records")
        records = load_records(
            data,
            self.columns(params)["records"],
            [p.rate_of, p.mean_of],
            result.notes,
            p.excluded_offence_categories,
            mean_of=p.mean_of,
            origins_of=context.origins,
        )
        people = records.people([*p.group_by, *([p.rate_of] if p.rate_of else [])])
        population = context.population(
            "records",
            people[PERSON_KEY],
            essential=True,
            cells=people[p.group_by],
            events=events_of(people, p.rate_of),
        )
        result.populations.append(population)
        policy = context.policy
        context.report(0.4, "tabulating counts")
        counts = control_table(records.cells(p.group_by), p.group_by, "count", policy)
        result.tables.append(ResultTable("counts", "Number of people", counts, population.label))
        if p.rate_of is not None:
            cells = records.cells(p.group_by, event_column=p.rate_of)
            rates = control_table(cells, p.group_by, "rate", policy)
            result.tables.append(
                ResultTable(
                    "rates",
                    f"Rate of {p.rate_of}",
                    rates,
                    population.label,
                    measures={"count": "count", "events": f"events:{p.rate_of}"},
                )
            )
        valued, domain = records, ValueDomain(())
        if p.mean_of is not None:
            valued = records.valued(p.mean_of)
            label = population.label
            if len(valued) != len(records):
                valued_people = valued.people(p.group_by)
                with_value = context.population(
                    f"records with {p.mean_of}",
                    valued_people[PERSON_KEY],
                    cells=valued_people[p.group_by],
                )
                result.populations.append(with_value)
                label = with_value.label
            cells = valued.cells(p.group_by, value_column=p.mean_of, dominance_n=policy.dominance_n)
            # A mean over two values is a rate (count and mean give both counts): it is held
            # to the rate rule, and its people at the higher value are that rate's events.
            domain = valued.domain(p.mean_of)
            means = control_table(
                with_implied_counts(cells, domain), p.group_by, "mean", policy, domain=domain
            )
            quantities = (
                {"count": "count", ABOVE_LOWEST: f"events:{p.mean_of}"}
                if domain.two_valued
                else None
            )
            result.tables.append(
                ResultTable("means", f"Mean of {p.mean_of}", means, label, measures=quantities)
            )
        context.report(0.7, "checking differencing and protection intervals")
        context.control(result)
        counts = result.table("counts").table
        total = counts.cell(**dict.fromkeys(p.group_by, TOTAL_LABEL)).values["count"]
        shown = "a suppressed number of" if total is None else f"{total}"
        result.summary = (
            f"Tables of {shown} people by {', '.join(p.group_by)}; cells resting "
            f"on fewer than {policy.min_cell_size} people are suppressed."
        )
        if p.mean_of is not None and len(p.group_by) == 1:
            self._compare_two_means(result, valued, p.group_by[0], p.mean_of, domain, context)
        result.caveats.append(COMPARISON_CAVEAT)
        context.report(1.0, "done")
        return result

    @staticmethod
    def _compare_two_means(
        result: AnalysisResult,
        valued: Records,
        column: str,
        measure: str,
        domain: ValueDomain,
        context: RunContext,
    ) -> None:
        """Welch's test between the two groups of a two-group table of means, released only
        when both groups' means are, and, over a column of three values, when the counts of
        people at each value are safe: its standard error and degrees of freedom give each
        group's variance, and count, mean and variance over three values give the three counts."""
        try:
            means = result.table("means").table
        except KeyError:
            return
        groups = [c for c in means.cells if c.labels[column] != TOTAL_LABEL]
        if len(groups) != 2 or any(cell.suppressed for cell in groups):
            if len(groups) == 2:
                result.withheld["welch"] = (
                    "A group's mean is suppressed by disclosure control, so the difference "
                    "and its test cannot be released."
                )
            return
        codes = [cell.labels[column] for cell in groups]
        # Welch's test needs only each group's count, mean and variance.
        first, second = valued.summaries(column, measure, codes)
        if len(domain.values) == 3 and (
            spread_gives_exact_counts(domain, context.policy)
            or any(
                small_counts(_counts_at_three_values(summary, domain), context.policy).any()
                for summary in (first, second)
            )
        ):
            result.withheld["welch"] = (
                f"The test would give the number of people at each of the three values of "
                f"{measure} in a group, and some are too few to release, or the agreement "
                f"rounds counts and these would be exact."
            )
            return
        # Under rounding the test sees each group as published (its rounded count and the
        # mean released with it): group sizes printed exactly would give the counts back.
        first, second = (
            published_summary(summary, domain, context.policy) for summary in (first, second)
        )
        test = compare_summaries(first, second)
        result.statistics["welch"] = {
            "groups": codes,
            "labels": [context.label(column, code) for code in codes],
            **test.to_dict(),
        }
        if test.ci_low is None or test.ci_high is None:
            return
        names = [context.label(column, code) for code in codes]
        result.summary += (
            f" The mean of {measure} was {fixed(test.mean_1, 1)} for {names[0]} and "
            f"{fixed(test.mean_2, 1)} for {names[1]}, a difference of {fixed(test.difference, 2)} "
            f"({interval_label(test.ci_method)} {fixed(test.ci_low, 2)} to "
            f"{fixed(test.ci_high, 2)}). "
            + significance_sentence(test.p_value, f"mean of {measure}")
        )


def _counts_at_three_values(summary: WeightedSummary, domain: ValueDomain) -> np.ndarray:
    """The people at each of three values, from a group's count, mean and sample variance."""
    n = float(summary.n_units)
    variance = summary.variance or 0.0
    squares = (n - 1) * variance + n * summary.mean**2
    values = np.asarray(domain.values, dtype=float)
    system = np.vstack([np.ones(3), values, values**2])
    counts = np.linalg.solve(system, np.array([n, n * summary.mean, squares]))
    return np.maximum(np.round(counts, 6), 0.0)


@dataclass(frozen=True)
class RateComparisonParams:
    group_column: str
    group_a: str
    group_b: str
    outcome: str
    interval: str = "wald"
    excluded_offence_categories: list[str] | None = None


class RateComparisonKind(AnalysisKind):
    """Rate of a 0/1 outcome in two groups, their difference, z-test and 95% CI (Wald,
    unpooled by default; Newcombe's hybrid score interval on request)."""

    name = "rate_comparison"
    label = "Comparison of two rates"
    parameters = {
        "group_column": "the column whose values define the two groups.",
        "group_a": "the first group's value.",
        "group_b": "the second group's value (not the first's).",
        "outcome": "a 0/1 column, or reoffended.",
        "interval": "the interval for the difference of the two rates: wald (Wald, unpooled; "
        "the default) or newcombe (Newcombe's hybrid score, for small groups).",
        EXCLUDED: EXCLUDED_HELP,
    }

    def validate(self, params: Mapping[str, Any]) -> RateComparisonParams:
        self.refuse_unknown(params)
        interval = params.get("interval", "wald")
        if interval not in PROPORTION_INTERVALS:
            raise AnalysisParameterError(
                "interval", f"must be one of {', '.join(PROPORTION_INTERVALS)}"
            )
        p = RateComparisonParams(
            group_column=read_str(params, "group_column"),
            group_a=read_str(params, "group_a"),
            group_b=read_str(params, "group_b"),
            outcome=read_str(params, "outcome"),
            interval=interval,
            excluded_offence_categories=_excluded(params),
        )
        if p.group_a == p.group_b:
            raise AnalysisParameterError("group_b", "must differ from group_a")
        return p

    def columns(self, params: Mapping[str, Any]) -> dict[str, list[str]]:
        p = self.validate(params)
        return _columns([p.group_column], p.outcome, excluded=p.excluded_offence_categories)

    def run(
        self, data: Mapping[str, pd.DataFrame], params: Mapping[str, Any], context: RunContext
    ) -> AnalysisResult:
        p = self.validate(params)
        context.check_columns([p.group_column])
        result = AnalysisResult(kind=self.name, parameters=asdict(p))
        records = load_records(
            data,
            self.columns(params)["records"],
            [p.outcome],
            result.notes,
            p.excluded_offence_categories,
            origins_of=context.origins,
        )
        chosen = records.within(p.group_column, [p.group_a, p.group_b])
        people = chosen.people([p.group_column, p.outcome])
        result.populations.append(
            context.population(
                "compared groups",
                people[PERSON_KEY],
                essential=True,
                cells=people[[p.group_column]],
                events=events_of(people, p.outcome),
            )
        )
        cells = chosen.cells([p.group_column], event_column=p.outcome)
        wanted = cells[p.group_column].isin([p.group_a, p.group_b, TOTAL_LABEL])
        cells = _with_both_groups(cells[wanted], p)
        result.tables.append(
            ResultTable(
                "rates",
                f"Rate of {p.outcome} by {p.group_column}",
                control_table(cells, [p.group_column], "rate", context.policy),
                "compared groups",
                measures={"count": "count", "events": f"events:{p.outcome}"},
            )
        )
        context.control(result)
        table = result.table("rates").table
        first, second = (
            table.cell(**{p.group_column: p.group_a}),
            table.cell(**{p.group_column: p.group_b}),
        )
        if (
            first.suppressed
            or second.suppressed
            or not (first.values["count"] and second.values["count"])
        ):
            # A group rounded to no people has no rate to compare.
            result.withheld["test"] = (
                "A group's numbers are suppressed by disclosure control, so "
                "the difference and its test cannot be released."
            )
            result.summary = "The comparison cannot be released: " + result.withheld["test"]
            return result
        # The test and intervals are computed from the counts as published: under rounding a
        # test on exact counts, printed to full precision, could be inverted over the few
        # counts in each rounding interval (docs/decisions/analysis-disclosure.md).
        (events_a, count_a), (events_b, count_b) = (
            (float(cell.values["events"] or 0), float(cell.values["count"] or 0))
            for cell in (first, second)
        )
        test = two_proportion_test(events_a, count_a, events_b, count_b, interval=p.interval)
        result.statistics["test"] = test.to_dict()
        result.figures["rates"] = [
            {
                "group": group,
                "label": context.label(p.group_column, group),
                "rate": rate,
                "ci": list(wilson_interval(rate, size)),
                "ci_method": CI_WILSON,
            }
            for group, rate, size in (
                (p.group_a, test.rate_1, count_a),
                (p.group_b, test.rate_2, count_b),
            )
        ]
        name_a = context.label(p.group_column, p.group_a)
        name_b = context.label(p.group_column, p.group_b)
        result.summary = (
            f"The rate of {p.outcome} was {100 * test.rate_1:.1f}% for {name_a} and "
            f"{100 * test.rate_2:.1f}% for {name_b}, a difference of "
            f"{fixed(100 * test.difference, 1)} percentage points "
            f"({interval_label(test.ci_method)} {fixed(100 * test.ci_low, 1)} to "
            f"{fixed(100 * test.ci_high, 1)}). "
            + significance_sentence(test.p_value, f"rate of {p.outcome}")
        )
        return result


def _with_both_groups(cells: pd.DataFrame, p: RateComparisonParams) -> pd.DataFrame:
    """Two-group table whose total is recomputed from the two groups only."""
    groups = cells[cells[p.group_column] != TOTAL_LABEL].set_index(p.group_column)
    groups = groups.reindex([p.group_a, p.group_b], fill_value=0.0)
    total = (
        groups.sum().to_frame().T.assign(**{p.group_column: TOTAL_LABEL}).set_index(p.group_column)
    )
    return pd.concat([groups, total]).reset_index()
