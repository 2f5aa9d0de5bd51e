"""Benchmark for the reporting toolkit (not collected by pytest: no test_ prefix).

Measures what docs/decisions/reports-toolkit.md reports: time to render each
chart kind, time to render a 2-page PDF with 3 charts (cold, i.e. including
the WeasyPrint and matplotlib imports, and warm), and CSV / JSON Lines
streaming throughput for 1,000,000 rows of 12 columns.

Run from the repository root:  .venv/bin/python tests/kernel/reports/bench_reports.py
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
# Same narrow filter as conftest: WeasyPrint's notice about libharfbuzz-subset.
warnings.filterwarnings("ignore", "HarfBuzz-Subset will be required", DeprecationWarning)

from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader  # noqa: E402
from pypdf import PdfReader  # noqa: E402

from governance.kernel.reports import charts, pdf, tabular  # noqa: E402

DAY = dt.date(2026, 1, 1)
ROWS = 1_000_000
HEADER = [f"col_{i}" for i in range(12)]

REPORT = """{% extends "reports/_base.html" %}
{% block content %}
<h2>Activity</h2>
<figure>{{ activity }}</figure>
<figure>{{ status }}</figure>
<figure>{{ outcome }}</figure>
<h2>Grants</h2>
<table><thead><tr><th>Dataset</th><th>Requester</th><th class="num">Rows</th></tr></thead>
<tbody>{% for r in rows %}<tr><td>{{ r[0] }}</td><td>{{ r[1] }}</td>
<td class="num">{{ r[2] }}</td></tr>{% endfor %}</tbody></table>
{% endblock %}"""


def chart_calls() -> dict[str, Callable[[], Any]]:
    counts = {DAY + dt.timedelta(days=i): (i * 37) % 23 for i in range(90)}
    return {
        "time_series (90 days)": lambda: charts.time_series(counts, title="Audit activity"),
        "bar_chart (8 datasets)": lambda: charts.bar_chart(
            {f"Dataset {i}": i * 3 for i in range(8)}, title="Grants by dataset"
        ),
        "grouped_bar_chart (4x3)": lambda: charts.grouped_bar_chart(
            {s: {"<=30 d": 3, "31-90 d": 5, ">90 d": 9} for s in ("A", "B", "C", "D")},
            title="Agreements by status and expiry",
        ),
        "interval_plot (2 groups)": lambda: charts.interval_plot(
            [("Cohort", 0.23, 0.18, 0.28), ("Comparison", 0.31, 0.26, 0.36)],
            title="Re-offending",
            percent=True,
        ),
        "balance_plot (10 covariates)": lambda: charts.balance_plot(
            {f"Covariate {i}": (0.05 * i - 0.2, 0.01 * i - 0.04) for i in range(10)}
        ),
    }


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def report_context() -> dict[str, Any]:
    calls = chart_calls()
    return {
        "title": "Benchmark report",
        "footer_note": "Benchmark",
        "activity": calls["time_series (90 days)"](),
        "status": calls["bar_chart (8 datasets)"](),
        "outcome": calls["interval_plot (2 groups)"](),
        "rows": [(f"Dataset {i}", "alice@example.org", i * 10) for i in range(25)],
    }


ENV = pdf.report_environment(
    ChoiceLoader([DictLoader({"bench.html": REPORT}), FileSystemLoader(REPO / "templates")])
)


def render_report(ctx: dict[str, Any] | None = None) -> pdf.RenderedPDF:
    """Render the benchmark report; charts are rendered too unless *ctx* is given."""
    return pdf.render_pdf(
        ENV, "bench.html", ctx or report_context(), stylesheet=pdf.load_stylesheet(ENV)
    )


def rows_12() -> Iterator[tuple[Any, ...]]:
    for i in range(ROWS):
        formula = "=HYPERLINK()" if i % 100 == 0 else "approved"
        yield (i, f"dataset-{i % 50}", formula, -i, i * 0.25, None, DAY,
               "alice@example.org", "-note", Decimal("1.50"), i % 7, "ok")  # fmt: skip


def throughput(label: str, make_chunks: Callable[[], Iterator[bytes]]) -> None:
    start = time.perf_counter()
    size = sum(len(c) for c in make_chunks())
    took = time.perf_counter() - start
    print(f"| {label} | {took:.2f} s | {ROWS / took:,.0f} rows/s | {size / 1e6:.0f} MB |")


def main() -> None:
    start = time.perf_counter()
    first = render_report()
    cold = time.perf_counter() - start
    warm = timed(render_report, 5)
    ctx = report_context()
    pdf_only = timed(lambda: render_report(ctx), 5)
    pages = len(PdfReader(io.BytesIO(first.content)).pages)
    print(f"| PDF: {pages} pages, 3 charts, 25-row table | time |")
    print("|---|---|")
    print(f"| cold: first render in the process (imports, fonts, charts) | {cold:.2f} s |")
    print(f"| warm: 3 charts + PDF, median of 5 | {statistics.median(warm):.2f} s |")
    print(f"| warm: PDF only (charts already rendered), median of 5 "
          f"| {statistics.median(pdf_only):.2f} s |")  # fmt: skip
    print(f"({len(first.content):,} bytes)\n")

    print("| chart | median | max (of 20, warm) |")
    print("|---|---|---|")
    for name, call in chart_calls().items():
        times = timed(call, 20)
        print(f"| {name} | {statistics.median(times) * 1000:.0f} ms "
              f"| {max(times) * 1000:.0f} ms |")  # fmt: skip

    print("\n| stream (1,000,000 rows x 12 columns) | time | throughput | output |")
    print("|---|---|---|---|")
    throughput("CSV, tuple rows", lambda: tabular.iter_csv(rows_12(), header=HEADER))
    throughput(
        "CSV, dict rows",
        lambda: tabular.iter_csv(dict(zip(HEADER, r, strict=True)) for r in rows_12()),
    )
    throughput(
        "JSON Lines, dict rows",
        lambda: tabular.iter_jsonl(dict(zip(HEADER, r, strict=True)) for r in rows_12()),
    )
    start = time.perf_counter()
    sum(1 for _ in rows_12())
    print(f"(generating the rows alone: {time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
