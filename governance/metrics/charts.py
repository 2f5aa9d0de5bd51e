"""The metrics page's pictures, in the house style (kernel/reports/charts.py, as the
dashboards): requests per month, the time each step takes, overdue tasks and output checks."""

from __future__ import annotations

from governance.dashboard.charts import Chart
from governance.kernel.reports import charts
from governance.metrics.figures import Figures

_SERIES = ("Received", "Decided", "Approved", "Narrowed", "Rejected")


def pictures(figures: Figures) -> list[Chart]:
    per_month = {
        m.month: dict(
            zip(_SERIES, (m.received, m.decided, m.approved, m.narrowed, m.rejected), strict=True)
        )
        for m in figures.months
    }
    steps = [
        (s.label, round(s.median_hours, 1)) for s in figures.steps if s.median_hours is not None
    ]
    return [
        Chart(
            "Access requests per month",
            charts.grouped_bar_chart(
                per_month, title="Access requests per month", value_label="Requests", series=_SERIES
            ),
        ),
        Chart(
            "Median hours per step",
            charts.bar_chart(steps, title="Median hours per step", value_label="Hours"),
        ),
        Chart(
            "Overdue tasks by owner",
            charts.bar_chart(
                [(o.owner, o.overdue) for o in figures.overdue],
                title="Overdue tasks by owner",
                value_label="Tasks past their due date",
            ),
        ),
        Chart(
            "Output checks per checker",
            charts.grouped_bar_chart(
                {
                    c.checker: {"Approved": c.approved, "Returned": c.returned}
                    for c in figures.checkers
                },
                title="Output checks per checker",
                value_label="Checks",
                series=("Approved", "Returned"),
            ),
        ),
    ]
