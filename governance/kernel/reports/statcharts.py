"""SVG charts for study results: estimates with confidence intervals and balance.

This module owns the two statistical chart kinds used when reporting an
analysis done under a data use agreement: point estimates with 95% confidence
intervals for two or more groups (e.g. re-offending rate of the cohort vs the
comparison group), and the covariate balance ("love") plot of standardised
mean differences before and after matching.  They share the conventions of
``charts`` (which re-exports them): plain data in, accessible SVG ``Markup``
out, labels escaped, values described in words in ``<desc>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from markupsafe import Markup

from governance.kernel.reports import _svg
from governance.kernel.reports._svg import GRID_COLOUR, OKABE_ITO, fmt

__all__ = ["Estimate", "balance_plot", "interval_plot"]

WIDTH = 6.3  # inches, as in charts: the text width of an A4 page


class Estimate(NamedTuple):
    """A point estimate with its 95% confidence interval."""

    label: str
    estimate: float
    lower: float
    upper: float


def interval_plot(
    estimates: Iterable[Estimate | tuple[str, float, float, float]],
    *,
    title: str,
    value_label: str = "Estimate",
    percent: bool = False,
    reference: float | None = None,
    width: float = WIDTH,
    height: float | None = None,
) -> Markup:
    """Point estimates with 95% confidence intervals, one row per group."""
    rows = [Estimate(str(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in estimates]
    height = height or max(1.6, 0.45 * len(rows) + 1.0)
    if not rows:
        return _svg.no_data(title, width, height)
    for r in rows:
        _svg.check_finite(r.estimate, r.lower, r.upper)
        if not r.lower <= r.estimate <= r.upper:
            raise ValueError(f"{r.label!r}: need lower <= estimate <= upper")

    def show(v: float) -> str:
        return f"{v * 100:.1f}%" if percent else fmt(v)

    from matplotlib.ticker import PercentFormatter

    with _svg.figure(width, height) as fig:
        ax = fig.add_subplot()
        ys = list(range(len(rows)))
        below = [r.estimate - r.lower for r in rows]
        above = [r.upper - r.estimate for r in rows]
        ax.errorbar(
            [r.estimate for r in rows],
            ys,
            xerr=[below, above],
            fmt="o",
            color=OKABE_ITO["blue"],
            ecolor=OKABE_ITO["blue"],
            elinewidth=1.6,
            capsize=4,
            markersize=6,
        )
        for y, r in zip(ys, rows, strict=True):
            ax.annotate(
                f"{show(r.estimate)} ({show(r.lower)} to {show(r.upper)})",
                (r.upper, y),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        if reference is not None:
            ax.axvline(reference, color="#555555", linestyle="--", linewidth=0.9)
        ax.set_yticks(ys, labels=[_svg.shorten(r.label) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first group on top
        ax.margins(x=0.25)
        if percent:
            ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_xlabel(f"{value_label} (point estimate and 95% confidence interval)")
        ax.grid(axis="x", color=GRID_COLOUR, linewidth=0.6)
        ax.set_title(title)
        desc = (
            f"{value_label} with 95% confidence intervals. "
            + _svg.listing(
                [
                    f"{r.label}: {show(r.estimate)} (95% CI {show(r.lower)} to {show(r.upper)})"
                    for r in rows
                ]
            )
            + "."
        )
        return _svg.to_svg(fig, title, desc)


def _balance_summary(when: str, names: list[str], smd: list[float], threshold: float) -> str:
    worst = max(range(len(smd)), key=lambda i: abs(smd[i]))
    over = sum(abs(v) > threshold for v in smd)
    return (
        f"{when}: {over} of {len(smd)} exceed \u00b1{fmt(threshold)}, "
        f"largest {names[worst]} {fmt(smd[worst])}"
    )


def balance_plot(
    smd: Mapping[str, tuple[float, float]] | Iterable[tuple[str, float, float]],
    *,
    title: str = "Covariate balance before and after matching",
    threshold: float = 0.1,
    sort: bool = False,
    width: float = WIDTH,
    height: float | None = None,
) -> Markup:
    """Love plot: standardised mean differences before/after matching, +-threshold lines."""
    rows = (
        [(str(k), float(b), float(a)) for k, (b, a) in smd.items()]
        if isinstance(smd, Mapping)
        else [(str(k), float(b), float(a)) for k, b, a in smd]
    )
    _svg.check_finite(threshold, *(v for _, b, a in rows for v in (b, a)))
    if sort:  # the conventional love plot: worst pre-matching imbalance on top
        rows.sort(key=lambda r: abs(r[1]), reverse=True)
    height = height or max(1.8, 0.3 * len(rows) + 1.2)
    if not rows:
        return _svg.no_data(title, width, height)
    with _svg.figure(width, height) as fig:
        ax = fig.add_subplot()
        ys = list(range(len(rows)))
        # Shape and fill differ as well as colour, so the two series stay
        # apart in greyscale and for every kind of colour vision.
        ax.scatter(
            [r[1] for r in rows],
            ys,
            marker="o",
            s=30,
            facecolors="none",
            edgecolors=OKABE_ITO["vermillion"],
            linewidths=1.4,
            label="Before matching",
        )
        ax.scatter(
            [r[2] for r in rows],
            ys,
            marker="D",
            s=26,
            color=OKABE_ITO["blue"],
            label="After matching",
        )
        ax.axvline(0, color="#555555", linewidth=0.8)
        for x in (-threshold, threshold):
            ax.axvline(x, color="#555555", linestyle="--", linewidth=0.9)
        ax.set_yticks(ys, labels=[_svg.shorten(r[0]) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        limit = max(threshold * 1.5, *(abs(v) for r in rows for v in r[1:])) * 1.1
        ax.set_xlim(-limit, limit)
        ax.set_xlabel(f"Standardised mean difference (dashed: \u00b1{fmt(threshold)})")
        ax.grid(axis="y", color=GRID_COLOUR, linewidth=0.4)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.set_title(title)
        names = [r[0] for r in rows]
        before = _balance_summary("Before matching", names, [r[1] for r in rows], threshold)
        after = _balance_summary("After matching", names, [r[2] for r in rows], threshold)
        desc = (
            f"Standardised mean differences for {len(rows)} covariates. "
            f"{before}. {after}. "
            + _svg.listing([f"{k} {fmt(b)} before, {fmt(a)} after" for k, b, a in rows])
            + "."
        )
        return _svg.to_svg(fig, title, desc)
