"""The headline of a comparison, as a reader of a report wants it: one table per outcome.

A result's statistics arrive flat (`{"id": "statistic.reoffending_rate.test.ci_low", "label":
..., "value": 0.03}`), as outputs store them. This module gathers each comparison's figures
into one row (the figure for each group, the difference, its interval with the interval's
method, the p-value and what it means in words) and leaves the rest as supporting figures
with human labels. The run page, the output pages, the public page and every PDF show the
same headline from the same function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.kernel.labels import label

ALPHA = 0.05
# (figure of the first group, of the second, of the difference) under each shape of statistic.
_SHAPES = (
    ("treated_mean", "control_mean", "att", ("Treatment group", "Comparison group")),
    ("rate_1", "rate_2", "difference", ("First group", "Second group")),
    ("mean_1", "mean_2", "difference", ("First group", "Second group")),
)
_METHOD = re.compile(r":\s*(.+?),\s*(?:lower|upper)\s*$")
# Keys that belong to the headline (never repeated among the supporting figures).
_CONSUMED = {
    "treated_mean",
    "control_mean",
    "att",
    "rate_1",
    "rate_2",
    "mean_1",
    "mean_2",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "confidence",
    "ci_method",
    "outcome",
    "kind",
    "scale",
}
_KEY_LABELS = {
    "treated_n": "People in the treatment group",
    "control_n": "People in the comparison group",
    "control_effective_n": "Effective size of the weighted comparison group",
    "events_1": "Events in the first group",
    "events_2": "Events in the second group",
    "n_1": "People in the first group",
    "n_2": "People in the second group",
    "z": "z statistic",
    "t": "t statistic",
    "df": "Degrees of freedom",
    "scale": "Scale of the figures",
    "caliper_width": "Caliper width",
}


@dataclass
class Headline:
    """One comparison: what each group shows, how they differ, and whether it is significant."""

    key: str
    title: str
    groups: tuple[str, str]
    first: float | None = None
    second: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    method: str = ""
    p_value: float | None = None
    percent: bool = False
    supporting: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def significance(self) -> str:
        if self.p_value is None:
            return "Significance could not be tested"
        if self.p_value < ALPHA:
            return "Statistically significant (p below 0.05)"
        return "Not statistically significant: no difference could be detected"

    def shown(self, value: float | None) -> str:
        if value is None:
            return "—"
        if self.percent:
            return f"{100 * value:.1f}%"
        return f"{value:.2f}"

    def shown_difference(self) -> str:
        if self.difference is None:
            return "—"
        if self.percent:
            return f"{100 * self.difference:+.1f} percentage points"
        return f"{self.difference:+.2f}"

    def shown_interval(self) -> str:
        if self.ci_low is None or self.ci_high is None:
            return "—"
        if self.percent:
            return f"{100 * self.ci_low:+.1f} to {100 * self.ci_high:+.1f} points"
        return f"{self.ci_low:+.2f} to {self.ci_high:+.2f}"

    def shown_p(self) -> str:
        if self.p_value is None:
            return "—"
        return "below 0.001" if self.p_value < 0.001 else f"{self.p_value:.3f}"


@dataclass
class Headlines:
    tables: list[Headline]
    supporting: list[tuple[str, Any]]


def _groups(
    statistics: Iterable[Mapping[str, Any]], loose: list[tuple[str, Any]]
) -> dict[str, dict[str, tuple[str, Any]]]:
    """statistic.<name>[.test].<key> -> {name: {key: (label, value)}}; a statistic of no
    comparison (`statistic.p_value`, as an output may state it) goes to `loose` as labelled."""
    grouped: dict[str, dict[str, tuple[str, Any]]] = {}
    for statistic in statistics:
        ident = str(statistic.get("id", ""))
        parts = ident.split(".")
        if len(parts) < 3 or parts[0] != "statistic":
            stated = str(statistic.get("label") or "")
            loose.append((stated or _capital(label(parts[-1])), statistic.get("value")))
            continue
        name = parts[1]
        grouped.setdefault(name, {})
        inner = ".".join(parts[2:])
        grouped[name][inner] = (str(statistic.get("label", "")), statistic.get("value"))
    return grouped


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _key_label(key: str) -> str:
    leaf = key.split(".")[-1]
    return _KEY_LABELS.get(leaf, _capital(label(leaf)))


def _pick(figures: Mapping[str, tuple[str, Any]], key: str) -> Any:
    for candidate in (key, f"test.{key}"):
        if candidate in figures:
            return figures[candidate][1]
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def flatten(statistics: Mapping[str, Any], prefix: str = "statistic") -> list[dict[str, Any]]:
    """A run's nested statistics in the flat form outputs keep (text leaves included, lists
    such as the balance rows left to their own tables)."""
    flat: list[dict[str, Any]] = []
    for key, value in statistics.items():
        ident = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            flat += flatten(value, ident)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            flat.append({"id": ident, "label": "", "value": value})
    return flat


# Titles of the comparisons that are not an outcome of their own.
DEFAULT_TITLES = {
    "test": "Difference between the two rates",
    "welch": "Difference between the two means",
}


def headlines(
    statistics: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None,
    titles: Mapping[str, str] | None = None,
) -> Headlines:
    """The headline tables of a result's statistics (flat, as outputs keep them, or nested,
    as a run returns them), and the figures that support them."""
    if statistics is None:
        return Headlines(tables=[], supporting=[])
    if isinstance(statistics, Mapping):
        statistics = flatten(statistics)
    tables: list[Headline] = []
    supporting: list[tuple[str, Any]] = []
    for name, figures in _groups(statistics, supporting).items():
        shape = next(
            (
                s
                for s in _SHAPES
                if _pick(figures, s[0]) is not None and _pick(figures, s[1]) is not None
            ),
            None,
        )
        if shape is None:
            supporting += [
                (f"{_capital(label(name))}: {_key_label(key)}", value)
                for key, (_, value) in figures.items()
                if _number(value) is not None
            ]
            continue
        first, second, difference, groups = shape
        low = figures.get("test.ci_low") or figures.get("ci_low")
        method_match = _METHOD.search(low[0]) if low else None
        named = _pick(figures, "ci_method")
        confidence = _number(_pick(figures, "confidence")) or 0.95
        method = (
            f"{round(100 * confidence):g}% CI ({named})"
            if isinstance(named, str)
            else method_match.group(1)
            if method_match
            else ""
        )
        headline = Headline(
            key=name,
            title={**DEFAULT_TITLES, **(titles or {})}.get(name, label(name)),
            groups=groups,
            first=_number(_pick(figures, first)),
            second=_number(_pick(figures, second)),
            difference=_number(_pick(figures, difference)),
            ci_low=_number(_pick(figures, "ci_low")),
            ci_high=_number(_pick(figures, "ci_high")),
            method=method,
            p_value=_number(_pick(figures, "p_value")),
            percent=name == "test" or name.endswith("_rate"),
        )
        headline.supporting = [
            (_key_label(key), value)
            for key, (_, value) in figures.items()
            if key.split(".")[-1] not in _CONSUMED and _number(value) is not None
        ]
        tables.append(headline)
    return Headlines(tables=tables, supporting=supporting)
