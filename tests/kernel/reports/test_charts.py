"""Tests for governance.kernel.reports.charts (and statcharts): SVG validity, safety,
accessibility, reproducibility, speed and thread safety."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup

from governance.kernel.reports import charts
from governance.kernel.reports._svg import OKABE_ITO, PALETTE, TEXT_COLOUR

REPO = Path(__file__).resolve().parents[3]
SVG = "{http://www.w3.org/2000/svg}"
EVIL = "</svg><script>alert(1)</script>"
DAY = dt.date(2026, 1, 1)

CHARTS: dict[str, Callable[[], Markup]] = {
    "time_series": lambda: charts.time_series(
        {DAY + dt.timedelta(days=i): (i * 7) % 11 for i in range(0, 40, 2)},
        title="Audit activity per day",
    ),
    "bar": lambda: charts.bar_chart(
        [("Hospital episodes", 12), ("Prison releases", 7), (EVIL, 3)], title="Grants by dataset"
    ),
    "vertical_bar": lambda: charts.bar_chart(
        {"Active": 12, "Expired": 4, "Suspended": 1}, title="Agreements by status", horizontal=False
    ),
    "grouped": lambda: charts.grouped_bar_chart(
        {"Active": {"≤30 days": 3, "31–90 days": 5}, "Pending": {"≤30 days": 2, EVIL: 1}},  # noqa: RUF001  (real en dash: labels are unicode)
        title="Agreements by status and expiry window",
    ),
    "interval": lambda: charts.interval_plot(
        [("Cohort", 0.23, 0.18, 0.28), ("Comparison group", 0.31, 0.26, 0.36)],
        title="Re-offending within 12 months",
        value_label="Re-offending rate",
        percent=True,
    ),
    "balance": lambda: charts.balance_plot(
        {"Age": (0.42, 0.03), "Prior convictions": (0.35, -0.06), EVIL: (-0.2, 0.12)}
    ),
}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, parsed to check it)


@pytest.mark.parametrize("name", CHARTS)
def test_chart_is_an_embeddable_accessible_svg_fragment(name: str) -> None:
    svg = CHARTS[name]()
    assert isinstance(svg, Markup)
    assert svg.startswith("<svg ")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg
    assert "<metadata" not in svg
    root = parse(svg)  # well-formed XML
    assert root.get("role") == "img"
    assert root.get("aria-label")
    title, desc = root[0], root[1]
    assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
    assert title.text == root.get("aria-label")
    assert root.get("aria-describedby") == desc.get("id")
    assert desc.text
    assert len(desc.text) > 20
    # No scripts, no <style> leaking into the host page, no external refs.
    tags = {el.tag.removeprefix(SVG) for el in root.iter()}
    assert not tags & {"script", "style", "foreignObject", "image"}
    assert "style=" not in svg  # presentation attributes only (WeasyPrint-quiet)
    assert "http://" not in svg.replace("http://www.w3.org/", "")


@pytest.mark.parametrize("name", ["bar", "grouped", "balance"])
def test_hostile_label_is_text_not_markup(name: str) -> None:
    svg = CHARTS[name]()
    assert "<script" not in svg
    assert svg.count("</svg>") == 1
    root = parse(svg)
    texts = [el.text or "" for el in root.iter()]
    assert any(EVIL in t for t in texts)  # shown literally (desc and tick label)


def test_dollar_signs_are_not_mathtext() -> None:
    svg = charts.bar_chart([("Cost $5 and $10", 1)], title="Money $x$")
    texts = [el.text for el in parse(svg).iter()]
    assert "Cost $5 and $10" in texts
    assert "Money $x$" in texts


def test_descriptions_summarise_the_data() -> None:
    ts = parse(CHARTS["time_series"]())[1].text or ""
    assert "2026-01-01 to 2026-02-08 (39 days)" in ts
    assert "days with none" in ts
    ci = parse(CHARTS["interval"]())[1].text or ""
    assert "Cohort: 23.0% (95% CI 18.0% to 28.0%)" in ci
    love = parse(CHARTS["balance"]())[1].text or ""
    assert "Before matching: 3 of 3 exceed ±0.1, largest Age 0.42" in love
    assert "After matching: 1 of 3 exceed ±0.1" in love
    bar = parse(charts.bar_chart({"Active": 2, "Expired": 1}, title="t"))[1].text
    assert bar == "Count by category: Active 2; Expired 1. Total 3."


def test_time_series_fills_missing_days_with_zero() -> None:
    svg = charts.time_series([(DAY, 5), (DAY + dt.timedelta(days=3), 1), (DAY, 2)], title="t")
    desc = parse(svg)[1].text or ""
    assert "(4 days): total 8" in desc
    assert "peak 7 on 2026-01-01" in desc
    assert "2 days with none" in desc


def test_time_series_axis_is_the_period_asked_for_in_days() -> None:
    """A four-day report whose events fell on one day: four day ticks, not four years."""
    svg = charts.time_series(
        [(DAY + dt.timedelta(days=1), 3)], title="t", first=DAY, last=DAY + dt.timedelta(days=3)
    )
    ticks = [t.text for t in parse(svg).iter(f"{SVG}text")]
    assert ticks[:4] == ["01 Jan", "02 Jan", "03 Jan", "04 Jan"]
    assert not any(t and (":" in t or "2025" in t or "2027" in t) for t in ticks)
    single = [t.text for t in parse(charts.time_series([(DAY, 3)], title="t")).iter(f"{SVG}text")]
    assert single[0] == "01 Jan"
    assert not any(t and "2028" in t for t in single)


def test_balance_plot_draws_dashed_threshold_lines() -> None:
    svg = charts.balance_plot([("Age", 0.4, 0.05)], threshold=0.1)
    assert svg.count('stroke-dasharray="') >= 2  # the two ±0.1 lines


@pytest.mark.parametrize(
    "call",
    [
        lambda: charts.bar_chart({"a": float("nan")}, title="t"),
        lambda: charts.interval_plot([("a", 0.5, 0.6, 0.7)], title="t"),
        lambda: charts.balance_plot({"a": (float("inf"), 0.0)}),
    ],
)
def test_invalid_values_are_rejected(call: Callable[[], Markup]) -> None:
    with pytest.raises(ValueError, match=r"finite|lower <= estimate"):
        call()


def test_empty_data_gives_a_no_data_chart() -> None:
    for svg in (charts.bar_chart([], title="t"), charts.time_series({}, title="t")):
        assert parse(svg)[1].text == "No data."


def test_output_is_deterministic_and_ids_are_per_chart() -> None:
    a, b = CHARTS["bar"](), CHARTS["bar"]()
    assert a == b
    ids_bar = {el.get("id") for el in parse(a).iter()} - {None}
    ids_love = {el.get("id") for el in parse(CHARTS["balance"]()).iter()} - {None}
    assert ids_bar
    assert not ids_bar & ids_love


def test_rc_params_are_left_as_found() -> None:
    import matplotlib

    before = dict(matplotlib.rcParams)
    CHARTS["grouped"]()
    assert dict(matplotlib.rcParams) == before


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str = "#ffffff") -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_palette_contrast() -> None:
    assert contrast(TEXT_COLOUR) >= 7  # WCAG AAA for text
    for name in ("blue", "vermillion", "bluish_green"):  # lines and markers
        assert contrast(OKABE_ITO[name]) >= 3  # WCAG 1.4.11 graphical objects
    assert PALETTE[:3] == (OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"])


def test_threads_get_the_same_charts_as_serial_calls() -> None:
    serial = {name: fn() for name, fn in CHARTS.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [(name, pool.submit(fn)) for name, fn in list(CHARTS.items()) * 3]
        assert all(f.result() == serial[name] for name, f in futures)


def test_imports_are_lazy_and_pyplot_is_never_used() -> None:
    code = (
        "import sys\n"
        "from governance.kernel.reports import charts, pdf, tabular\n"
        "assert 'matplotlib' not in sys.modules and 'weasyprint' not in sys.modules\n"
        "charts.bar_chart({'a': 1}, title='t')\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO, check=True)


@pytest.mark.parametrize(
    ("draw", "names"),
    [
        (
            "grouped",
            ["Arrests", "Index events", "Probation supervision", "Proven offences"],
        ),
        ("grouped", [f"Dataset of probation records {i}" for i in range(7)]),
        ("vertical", ["within 7 days", "8 to 30 days", "31 to 60 days", "later"]),
    ],
)
def test_category_labels_do_not_overlap(
    monkeypatch: pytest.MonkeyPatch, draw: str, names: list[str]
) -> None:
    """The steward's chart printed "Index eventsProbation supervisionProven offences" as one
    run of text: every pair of neighbouring tick labels must be apart once drawn."""
    from governance.kernel.reports import _svg

    drawn: list[Any] = []
    real = _svg.to_svg

    def keep(fig: Any, title: str, desc: str) -> Markup:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()  # lay out, as savefig does
        renderer = canvas.get_renderer()
        drawn.append([t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()])
        return real(fig, title, desc)

    monkeypatch.setattr(_svg, "to_svg", keep)
    if draw == "grouped":
        charts.grouped_bar_chart(
            {n: {"Active grants": 2, "Requests waiting": 1} for n in names}, title="By dataset"
        )
    else:
        charts.bar_chart([(n, 1) for n in names], title="By window", horizontal=False)
    boxes = [b for b in drawn[0] if b.width > 0]
    assert len(boxes) == len(names)
    for left, right in itertools.pairwise(boxes):
        assert not left.overlaps(right), f"tick labels overlap: {names}"
