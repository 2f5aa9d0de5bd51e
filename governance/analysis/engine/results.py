"""The result object every analysis kind returns, and the JDL-style plain-language wording.

A result is plain data: headline tables (each cell with its value and disclosure record),
figure data derived only from published cells, notes, caveats, a summary paragraph and the
populations behind each output for the differencing ledger. ``to_dict`` gives JSON-ready data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .disclosure import ControlledTable
from .ledger import Population

Progress = Callable[[float, str], None]

NON_SIGNIFICANT_CAVEAT = (
    "A result that is not statistically significant does not mean the intervention had no "
    "effect: it means this analysis could not detect one with these numbers of people."
)
# The same caution where the groups compared are not an intervention and its comparison
# group (women and men, two regions): no effect is being estimated.
NO_DIFFERENCE_CAVEAT = (
    "A difference that is not statistically significant does not mean the groups do not "
    "differ: it means this analysis could not detect a difference with these numbers of people."
)
COMPARISON_CAVEAT = (
    "These rates describe the people in this analysis only. They should not be compared with "
    "national re-offending rates or with the results of other analyses."
)


@dataclass(frozen=True)
class ResultTable:
    """A named, titled, disclosure-controlled table and the population it describes.

    ``measures`` says which count of people each additive value is (value key -> quantity):
    ``count`` is the number of people in the cell, ``events:<outcome>`` the number with the
    outcome. Tables over one population that name the same quantity for the same labels
    describe the same people, which is how the protection intervals link tables within an
    output and across releases. ``intervals`` names the method of each interval it shows;
    ``published_elsewhere`` the cells whose counts the output publishes in a table over
    another population.
    """

    name: str
    title: str
    table: ControlledTable
    population: str | None = None
    measures: dict[str, str] | None = None
    intervals: dict[str, str] | None = None
    value_labels: dict[str, dict[str, str]] | None = None
    # Positions of cells whose count another table of the output publishes over another
    # population (the cohort flow's treatment group): protection takes them as known.
    published_elsewhere: frozenset[int] = frozenset()

    def quantities(self) -> dict[str, str]:
        if self.measures is not None:
            return dict(self.measures)
        if self.table.measure == "rate":
            return {"count": "count", "events": f"events:{self.name}"}
        return {"count": "count"}

    def to_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "title": self.title,
            "population": self.population,
            "measures": self.quantities(),
            **self.table.to_dict(),
        }
        if self.intervals:
            data["intervals"] = dict(self.intervals)
        if self.value_labels:
            data["value_labels"] = {k: dict(v) for k, v in self.value_labels.items()}
        return data


@dataclass
class AnalysisResult:
    """What a kind's ``run`` returns; outcomes may be withheld with a stated reason."""

    kind: str
    parameters: dict[str, Any]
    tables: list[ResultTable] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    summary: str = ""
    populations: list[Population] = field(default_factory=list)
    withheld: dict[str, str] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)
    # Kept by the caller, never released: probabilistic linkage's report and the pairs for
    # clerical review (row numbers and person keys). ``to_dict`` leaves it out.
    linkage: dict[str, Any] | None = None

    def table(self, name: str) -> ResultTable:
        for candidate in self.tables:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    def to_dict(
        self, include_member_hashes: bool = False, include_keys: bool = False
    ) -> dict[str, Any]:
        """JSON-ready result; member hashes and raw keys are for the caller's private ledger."""
        return {
            "kind": self.kind,
            "parameters": self.parameters,
            "tables": [table.to_dict() for table in self.tables],
            "figures": self.figures,
            "notes": list(self.notes),
            "caveats": list(self.caveats),
            "summary": self.summary,
            "withheld": dict(self.withheld),
            "statistics": self.statistics,
            "populations": [
                p.to_dict(include_member_hashes, include_keys) for p in self.populations
            ],
        }


def per_hundred(rate: float | None) -> str:
    return "an unknown number" if rate is None else f"{round(100 * rate):d}"


def format_p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def fixed(value: float, places: int) -> str:
    """`value` to `places` decimals, never "-0.0": a difference that rounds to nothing has no
    sign to show."""
    text = f"{value:.{places}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def significance_sentence(
    p_value: float | None, measure: str, alpha: float = 0.05, *, intervention: bool = False
) -> str:
    """Whether the difference is significant; when it is not, the caution that fits what was
    compared (an intervention's effect, or a difference between groups)."""
    if p_value is None:
        return f"No significance test could be computed for the {measure}."
    if p_value < alpha:
        return (
            f"The difference in the {measure} is statistically significant at the "
            f"{round(100 * alpha)}% level ({format_p(p_value)})."
        )
    return (
        f"The difference in the {measure} is not statistically significant at the "
        f"{round(100 * alpha)}% level ({format_p(p_value)}). "
        + (NON_SIGNIFICANT_CAVEAT if intervention else NO_DIFFERENCE_CAVEAT)
    )


def jdl_rate_sentence(
    treated_rate: float | None,
    comparison_rate: float | None,
    what: str = "committed a proven re-offence within one year",
) -> str:
    """ "For every 100 typical people in the treatment group, X ..." in the JDL's wording."""
    return (
        f"For every 100 typical people in the treatment group, {per_hundred(treated_rate)} "
        f"{what}, compared with {per_hundred(comparison_rate)} for every 100 typical people "
        "in the comparison group."
    )


def all_published(tables: Sequence[ControlledTable]) -> bool:
    """True when no cell of the given tables was suppressed."""
    return all(not cell.suppressed for table in tables for cell in table.cells)
