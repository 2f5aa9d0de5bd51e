"""Server-side SVG charts for governance web pages and PDF reports.

This module owns the operational chart kinds (daily counts over time, bars
by category, grouped bars) and the words that describe each one, and
re-exports the statistical ones from ``statcharts`` (estimates with 95% CIs,
covariate balance) so callers have one import.  Every function takes plain
Python data and returns an SVG fragment (``markupsafe.Markup``, a ``str``)
that reads without JavaScript, carries a ``<title>`` and a ``<desc>``
summarising the data in words, and can be inlined with ``{{ chart }}`` in an
autoescaping Jinja template.

Labels are user data: matplotlib escapes them in the SVG, ``_svg`` escapes
them in ``<title>``/``<desc>``, and mathtext is off so ``$`` is just a dollar.
Why matplotlib rather than pygal or hand-written SVG: see
``docs/decisions/reports-charts.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from governance.kernel.reports import _svg
from governance.kernel.reports._svg import (
    EDGE_COLOUR,
    GRID_COLOUR,
    HATCHES,
    OKABE_ITO,
    PALETTE,
    fmt,
)
from governance.kernel.reports.statcharts import Estimate, balance_plot, interval_plot

__all__ = [
    "Estimate",
    "balance_plot",
    "bar_chart",
    "grouped_bar_chart",
    "interval_plot",
    "time_series",
]

WIDTH = 6.3  # inches: the text width of an A4 page with 2 cm margins


def _pairs(data: Mapping[str, float] | Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    items = list(data.items() if isinstance(data, Mapping) else data)
    pairs = [(str(k), float(v)) for k, v in items]
    _svg.check_finite(*(v for _, v in pairs))
    return pairs


@_svg.remembered
def time_series(
    counts: Mapping[dt.date, int] | Iterable[tuple[dt.date, int]],
    *,
    title: str,
    value_label: str = "Events per day",
    width: float = WIDTH,
    height: float = 2.6,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> Markup:
    """Daily counts (e.g. audit activity) as a line; missing days count as zero. The axis
    spans `first` to `last` (the period asked for) when given, else the days with counts."""
    totals: dict[dt.date, int] = {}
    for day, n in counts.items() if isinstance(counts, Mapping) else counts:
        day = day.date() if isinstance(day, dt.datetime) else day
        totals[day] = totals.get(day, 0) + int(n)  # repeated days add up
    if not totals:
        return _svg.no_data(title, width, height)
    start, end = (
        min([*totals, *([first] if first else [])]),
        max([*totals, *([last] if last else [])]),
    )
    # A day with no events is a zero, not a gap: a line drawn straight over a
    # missing day would invent activity that never happened.
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    values = [totals.get(d, 0) for d in days]

    from matplotlib.dates import (
        AutoDateLocator,
        ConciseDateFormatter,
        DateFormatter,
        DayLocator,
        date2num,
    )

    # matplotlib's unit converters plot dates; its type stubs only admit numbers.
    x: Any = days
    with _svg.figure(width, height) as fig:
        ax = fig.add_subplot()
        ax.fill_between(x, values, color=OKABE_ITO["sky_blue"], alpha=0.25, linewidth=0)
        ax.plot(
            x,
            values,
            color=OKABE_ITO["blue"],
            linewidth=1.6,
            marker="o" if len(days) <= 62 else None,
            markersize=2.5,
        )
        # The axis is the period, half a day either side: matplotlib would otherwise widen a
        # single day to four years, and mark hours on a chart of whole days.
        ax.set_xlim(date2num(start) - 0.5, date2num(end) + 0.5)  # type: ignore[no-untyped-call]
        if len(days) <= 31:
            step = -(-len(days) // 8)
            ax.xaxis.set_major_locator(DayLocator(interval=step))  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_formatter(DateFormatter("%d %b"))  # type: ignore[no-untyped-call]
        else:
            locator = AutoDateLocator()  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        # A quiet period still shows a readable 0-to-1 scale rather than matplotlib's ±0.05.
        ax.set_ylim(bottom=0, top=None if max(values) > 0 else 1)
        _whole_number_ticks(ax.yaxis, values)
        ax.set_ylabel(value_label)
        ax.grid(axis="y", color=GRID_COLOUR, linewidth=0.6)
        ax.set_title(title)
        peak = max(values)
        peak_day = days[values.index(peak)]
        desc = (
            f"{value_label} from {start.isoformat()} to {end.isoformat()} ({len(days)} days): "
            f"total {fmt(sum(values))}, mean {fmt(round(sum(values) / len(days), 2))} per day, "
            f"peak {fmt(peak)} on {peak_day.isoformat()}, "
            f"{values.count(0)} days with none."
        )
        return _svg.to_svg(fig, title, desc)


def _whole_number_ticks(axis: Any, values: Iterable[float]) -> None:
    """Counts are whole: a scale of 0.25 agreements would be nonsense."""
    if all(float(v).is_integer() for v in values):
        from matplotlib.ticker import MaxNLocator

        axis.set_major_locator(MaxNLocator(integer=True))


@_svg.remembered
def bar_chart(
    data: Mapping[str, float] | Iterable[tuple[str, float]],
    *,
    title: str,
    value_label: str = "Count",
    horizontal: bool = True,
    width: float = WIDTH,
    height: float | None = None,
) -> Markup:
    """One bar per category, in the order given (e.g. agreements by status)."""
    pairs = _pairs(data)
    n = len(pairs)
    height = height or (max(1.8, 0.32 * n + 1.0) if horizontal else 3.0)
    if not pairs:
        return _svg.no_data(title, width, height)
    labels = [_svg.shorten(k) for k, _ in pairs]
    values = [v for _, v in pairs]
    with _svg.figure(width, height) as fig:
        ax = fig.add_subplot()
        positions = range(n)
        style = {"color": OKABE_ITO["blue"], "edgecolor": EDGE_COLOUR, "linewidth": 0.6}
        if horizontal:
            bars = ax.barh(positions, values, height=0.65, **style)  # type: ignore[arg-type]
            ax.set_yticks(list(positions), labels=labels)
            ax.invert_yaxis()  # first category on top, as it reads in a table
            ax.set_xlabel(value_label)
            ax.grid(axis="x", color=GRID_COLOUR, linewidth=0.6)
        else:
            bars = ax.bar(positions, values, width=0.65, **style)  # type: ignore[arg-type]
            rotate = max(map(len, labels)) > 8  # long names would overlap
            ax.set_xticks(
                list(positions),
                labels=labels,
                rotation=30 if rotate else 0,
                ha="right" if rotate else "center",
            )
            ax.set_ylabel(value_label)
            ax.grid(axis="y", color=GRID_COLOUR, linewidth=0.6)
        ax.set_axisbelow(True)
        _whole_number_ticks(ax.xaxis if horizontal else ax.yaxis, values)
        ax.bar_label(bars, labels=[fmt(v) for v in values], padding=2)
        if horizontal:  # room for the value labels at the bar ends
            ax.margins(x=0.08)
        else:
            ax.margins(y=0.1)
        ax.set_title(title)
        desc = f"{value_label} by category: " + _svg.listing([f"{k} {fmt(v)}" for k, v in pairs])
        return _svg.to_svg(fig, title, desc + f". Total {fmt(sum(values))}.")


def _slot_chars(categories: int, width: float) -> int:
    """Characters of a tick label that fit under one category of a chart `width` inches wide
    (the axes take about 70% of it beside the legend; about 15 characters an inch)."""
    return max(6, int(width * 0.7 * 15 / max(categories, 1)) - 1)


def category_labels(categories: Sequence[str], width: float) -> list[str]:
    """Tick labels wrapped onto at most two lines so that neighbours do not overlap; a label
    that still does not fit makes the caller slant them all."""
    import textwrap

    room = _slot_chars(len(categories), width)
    labels = []
    for category in categories:
        lines = textwrap.wrap(_svg.shorten(category, 2 * room), room) or [""]
        labels.append("\n".join(lines[:2]) if len(lines) <= 2 else _svg.shorten(category, room))
    return labels


@_svg.remembered
def grouped_bar_chart(
    data: Mapping[str, Mapping[str, float]],
    *,
    title: str,
    value_label: str = "Count",
    series: Sequence[str] | None = None,
    width: float = WIDTH,
    height: float = 3.0,
) -> Markup:
    """Bars grouped by category, one colour+hatch per series (e.g. status x expiry)."""
    if series is None:  # union of inner keys, first-seen order
        series = list(dict.fromkeys(s for inner in data.values() for s in inner))
    if not data or not series:
        return _svg.no_data(title, width, height)
    categories = [str(c) for c in data]
    table = [[float(data[c].get(s, 0)) for c in data] for s in series]
    _svg.check_finite(*(v for row in table for v in row))
    step = 0.8 / len(series)
    with _svg.figure(width, height) as fig:
        ax = fig.add_subplot()
        for i, (name, values) in enumerate(zip(series, table, strict=True)):
            offsets = [c - 0.4 + step * (i + 0.5) for c in range(len(categories))]
            bars = ax.bar(
                offsets,
                values,
                width=step * 0.95,
                label=_svg.shorten(str(name), 30),
                color=PALETTE[i % len(PALETTE)],
                edgecolor=EDGE_COLOUR,
                linewidth=0.6,
                hatch=HATCHES[i % len(HATCHES)],
            )
            ax.bar_label(bars, labels=[fmt(v) for v in values], padding=1, fontsize=7)
        labels = category_labels(categories, width)
        crowded = any(
            len(line) > _slot_chars(len(categories), width)
            for c in labels
            for line in c.split("\n")
        )
        ax.set_xticks(
            range(len(categories)),
            labels=labels,
            rotation=30 if crowded else 0,
            ha="right" if crowded else "center",
        )
        ax.set_ylabel(value_label)
        _whole_number_ticks(ax.yaxis, [v for row in table for v in row])
        ax.margins(y=0.12)
        ax.grid(axis="y", color=GRID_COLOUR, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.set_title(title)
        parts = [
            f"{c}: " + ", ".join(f"{s} {fmt(row[j])}" for s, row in zip(series, table, strict=True))
            for j, c in enumerate(categories)
        ]
        return _svg.to_svg(
            fig, title, f"{value_label} by category and series. " + _svg.listing(parts) + "."
        )
