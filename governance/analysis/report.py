"""The report of an analysis run, in the Justice Data Lab manner, and the CSV of its figures.

Both are built only from the released result (every figure already through disclosure control)
and the run's provenance: a headline table, the rates with 95% confidence intervals for the
treatment and comparison groups, the balance chart, the other tables (suppressed cells marked,
with the rule that fired for each cell), the plain-language summary, caveats, the
disclosure-control notes and the provenance (dataset versions and hashes, engine version, the
audit chain head). A report is a summary: a table longer than `PDF_ROWS` cells is cut in the
PDF (the CSV has every cell), so rendering stays well under ten seconds.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from governance.analysis.engine.stats import statistic_label
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.reports import charts, pdf, tabular
from governance.kernel.reports.statcharts import Estimate

PDF_ROWS = 60
TEMPLATE = "reports/analysis.html"
SUPPRESSED = "[suppressed]"
GROUP_LABELS = {"treatment": "Treatment group", "comparison": "Comparison group"}
OUTCOME_CHARTS = (
    ("reoffending_rate", "One-year proven re-offending rate", "Re-offending rate", True),
    ("reoffence_frequency", "Proven re-offences per 100 people", "Re-offences per 100", False),
    ("time_to_reoffence", "Days to first proven re-offence", "Days", False),
)
RULE_TEXT = {
    "threshold": "fewer people (or events, or non-events) than the minimum cell size",
    "secondary": "suppressed so that another suppressed cell cannot be worked out",
    "dominance": "a few people make up most of the total (dominance)",
    "rounding": "count rounded",
    "spread": "interval withheld: with the count and the mean it would give the number of "
    "people at each of the column's three values, some fewer than the minimum cell size",
}


@dataclass(frozen=True)
class RenderedRun:
    pdf: bytes
    pdf_sha256: str
    csv: bytes
    csv_sha256: str


@dataclass(frozen=True)
class TableView:
    name: str
    title: str
    population: str | None
    header: list[str]
    rows: list[list[str]]
    suppressed: list[bool]
    hidden_rows: int
    rule_counts: dict[str, int]


def _number(key: str, value: Any, suppressed: bool = True) -> str:
    if value is None:
        return SUPPRESSED if suppressed else "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key in ("rate",):
            return f"{100 * value:.1f}%"
        if key == "percent":
            return f"{value:.1f}%"
        return f"{value:,.2f}"
    return str(value)


def label_of(table: Mapping[str, Any], dimension: str, code: str) -> str:
    """A cell label with its declared value label beside the code: "those with aid (1)"."""
    label = (table.get("value_labels") or {}).get(dimension, {}).get(code)
    return f"{label} ({code})" if label else code


def value_name(table: Mapping[str, Any], key: str) -> str:
    """A value column's name; interval bounds say their method ("95% CI (Wilson), lower")."""
    return str((table.get("intervals") or {}).get(key, key))


def table_view(table: Mapping[str, Any], limit: int | None = None) -> TableView:
    """A controlled table as header and formatted rows; suppressed cells are marked, never
    with the rule that suppressed them. The report becomes the output's PDF, which the team,
    the provider and, once published, anyone read: naming a cell's rule says whether its
    hidden count is under the minimum ("threshold") or not ("secondary"), which narrows the
    hidden counts more than the protection intervals allow (explore6 F7). Which rule fired on
    which cell is the disclosure record, for output checkers only (docs/decisions/outputs.md
    item 15)."""
    dims = list(table.get("dimensions", []))
    cells = list(table.get("cells", []))
    keys: list[str] = list(dict.fromkeys(k for cell in cells for k in cell["values"]))
    rows: list[list[str]] = []
    marks: list[bool] = []
    rules: Counter[str] = Counter()
    for cell in cells:
        disclosure = cell.get("disclosure", {})
        fired = list(disclosure.get("rules", []))
        rules.update(fired)
        if limit is not None and len(rows) >= limit:
            continue
        rows.append(
            [label_of(table, d, str(cell["labels"].get(d, ""))) for d in dims]
            + [_number(k, cell["values"].get(k), bool(disclosure.get("suppressed"))) for k in keys]
        )
        marks.append(bool(disclosure.get("suppressed")))
    return TableView(
        name=str(table.get("name", "")),
        title=str(table.get("title", "")),
        population=table.get("population"),
        header=dims + [value_name(table, k) for k in keys],
        rows=rows,
        suppressed=marks,
        hidden_rows=len(cells) - len(rows),
        rule_counts=dict(rules),
    )


def headline_name(result: Mapping[str, Any]) -> str:
    names = [t["name"] for t in result.get("tables", [])]
    for name in ("reoffending_rate", "rates", "counts"):
        if name in names:
            return name
    return names[0] if names else ""


def result_charts(result: Mapping[str, Any]) -> dict[str, Markup]:
    """The interval plots of the released rates (95% CIs) and the balance chart."""
    figures = result.get("figures", {})
    made: dict[str, Markup] = {}
    for name, title, label, percent in OUTCOME_CHARTS:
        groups = figures.get("outcomes", {}).get(name)
        if groups and all(g in groups for g in GROUP_LABELS):
            made[name] = charts.interval_plot(
                [
                    Estimate(
                        GROUP_LABELS[g],
                        groups[g]["value"],
                        groups[g]["ci_low"],
                        groups[g]["ci_high"],
                    )
                    for g in GROUP_LABELS
                ],
                title=f"{title}: 95% CI ({'Wilson' if percent else 't'})",
                value_label=label,
                percent=percent,
            )
    if figures.get("rates"):
        method = figures["rates"][0].get("ci_method", "Wilson")
        made["rates"] = charts.interval_plot(
            [
                Estimate(str(r.get("label", r["group"])), r["rate"], r["ci"][0], r["ci"][1])
                for r in figures["rates"]
            ],
            title=f"Rates with 95% confidence intervals ({method})",
            value_label="Rate",
            percent=True,
        )
    balance = [
        (str(r["term"]), r["smd_before"], r["smd_after"])
        for r in figures.get("balance", [])
        if r.get("smd_before") is not None and r.get("smd_after") is not None
    ]
    if balance:
        threshold = float(result.get("parameters", {}).get("max_abs_smd", 0.1))
        made["balance"] = charts.balance_plot(balance, threshold=threshold)
    return made


def disclosure_record(result: Mapping[str, Any]) -> dict[str, Any]:
    """For the output checker: the policy, and per table which rule fired for which cell."""
    tables = []
    policy: dict[str, Any] = {}
    for table in result.get("tables", []):
        policy = policy or dict(table.get("policy", {}))
        tables.append(
            {
                "name": table["name"],
                "title": table["title"],
                "cells": [
                    {
                        "labels": cell["labels"],
                        "suppressed": cell["disclosure"]["suppressed"],
                        "rules": cell["disclosure"]["rules"],
                    }
                    for cell in table["cells"]
                    if cell["disclosure"]["rules"]
                ],
                "suppressed": sum(1 for c in table["cells"] if c["disclosure"]["suppressed"]),
                "cells_total": len(table["cells"]),
            }
        )
    balance = [
        row
        for row in result.get("statistics", {}).get("balance", [])
        if row.get("disclosure", {}).get("suppressed")
    ]
    return {
        "policy": policy,
        "tables": tables,
        "withheld": dict(result.get("withheld", {})),
        "balance_rows_withheld": [row["term"] for row in balance],
        "notes": list(result.get("notes", [])),
    }


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, (str, int, float, bool)) or value is None:
        yield prefix, value


def _lookup(value: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    for part in [p for p in path.split(".") if p]:
        inner = value.get(part)
        if not isinstance(inner, Mapping):
            return {}
        value = inner
    return value


def csv_rows(result: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    """One row per released value: table, cell labels, statistic, value, suppressed, rules."""
    for table in result.get("tables", []):
        for cell in table["cells"]:
            labels = "; ".join(
                f"{k}={label_of(table, k, str(v))}" for k, v in cell["labels"].items()
            )
            disclosure = cell["disclosure"]
            for key, value in cell["values"].items():
                yield (
                    table["name"],
                    labels,
                    value_name(table, key),
                    value,
                    disclosure["suppressed"],
                    ",".join(disclosure["rules"]),
                )
    for name, value in result.get("statistics", {}).items():
        if isinstance(value, list):
            for row in value:
                label = f"term={row.get('term', '')}"
                suppressed = bool(row.get("disclosure", {}).get("suppressed"))
                for key, inner in _flatten(
                    "", {k: v for k, v in row.items() if k not in ("term", "disclosure")}
                ):
                    yield (
                        name,
                        label,
                        key,
                        inner,
                        suppressed,
                        ",".join(row.get("disclosure", {}).get("rules", [])),
                    )
        elif isinstance(value, Mapping):
            for key, inner in _flatten("", value):
                parent = key.rsplit(".", 1)[0] if "." in key else ""
                container = _lookup(value, parent)
                leaf = key.rsplit(".", 1)[-1]
                prefix = f"{name}.{parent}." if parent else f"{name}."
                shown = (
                    statistic_label(prefix, leaf, container)
                    if leaf in ("ci_low", "ci_high")
                    else key
                )
                yield ("statistics", name, shown, inner, False, "")


def render_csv(result: Mapping[str, Any], provenance: Mapping[str, Any], run_id: int) -> bytes:
    head = provenance.get("audit_chain_head", {})
    preamble = [
        f"analysis run {run_id}: {result.get('kind')} under agreement "
        f"{provenance['agreement']['reference']} version "
        f"{provenance['agreement']['version']}",
        f"engine {provenance['engine_version']}; result sha256 {provenance['result_sha256']}",
        "only disclosure-controlled figures; suppressed values are empty",
    ]
    if head:
        preamble.append(tabular.chain_head_line(int(head["seq"]), str(head["sha256"])))
    chunks = tabular.iter_csv(
        csv_rows(result),
        header=["table", "cell", "statistic", "value", "suppressed", "rules"],
        preamble=[p.replace('"', "'") for p in preamble],
        trailer=True,
    )
    return b"".join(chunks)


@functools.cache
def environment() -> Environment:
    return pdf.report_environment(FileSystemLoader(str(PROJECT_ROOT / "templates")))


def report_context(
    *,
    run: Any,
    result: Mapping[str, Any],
    provenance: Mapping[str, Any],
    requester: str,
    limit: int | None = PDF_ROWS,
) -> dict[str, Any]:
    """What the PDF template and the run page show."""
    tables = [table_view(t, limit) for t in result.get("tables", [])]
    headline = headline_name(result)
    return {
        "run": run,
        "result": result,
        "provenance": provenance,
        "requester": requester,
        "headline": next((t for t in tables if t.name == headline), None),
        "tables": [t for t in tables if t.name != headline],
        "charts": result_charts(result),
        "rule_text": RULE_TEXT,
        "disclosure": disclosure_record(result),
        "parameters_json": json.dumps(provenance.get("parameters", {}), indent=1, sort_keys=True),
    }


def render_pdf(
    *, run: Any, result: Mapping[str, Any], provenance: Mapping[str, Any], requester: str
) -> pdf.RenderedPDF:
    env = environment()
    head = provenance.get("audit_chain_head", {})
    context = report_context(run=run, result=result, provenance=provenance, requester=requester)
    context.update(
        title=run.title,
        subtitle=f"{result.get('kind', '')} analysis, run {run.id}",
        kicker="Analysis under a data use agreement",
        facts=[
            (
                "Agreement",
                f"{provenance['agreement']['reference']} version "
                f"{provenance['agreement']['version']}",
            ),
            ("Requested by", requester),
            ("Engine", provenance["engine_version"]),
        ],
        audit_chain_head=tabular.chain_head_line(int(head["seq"]), str(head["sha256"]))
        if head
        else "",
        footer_note=f"Analysis run {run.id}: disclosure-controlled figures only",
    )
    return pdf.render_pdf(env, TEMPLATE, context, stylesheet=pdf.load_stylesheet(env))


def render(
    *, run: Any, result: Mapping[str, Any], provenance: Mapping[str, Any], requester: str
) -> RenderedRun:
    from governance.analysis.provenance import sha256_of

    csv = render_csv(result, provenance, run.id)
    provenance = {**provenance, "outputs": {"csv_sha256": sha256_of(csv)}}
    rendered = render_pdf(run=run, result=result, provenance=provenance, requester=requester)
    return RenderedRun(
        pdf=rendered.content, pdf_sha256=rendered.sha256, csv=csv, csv_sha256=sha256_of(csv)
    )


def without_rules(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result as the run's API answers it: each cell and statistics row says whether it
    is suppressed, not which rule suppressed it (see `table_view`)."""

    def plain(disclosure: Any) -> Any:
        if not isinstance(disclosure, Mapping):
            return disclosure
        return {k: v for k, v in disclosure.items() if k != "rules"}

    def cell(value: Mapping[str, Any]) -> dict[str, Any]:
        return (
            {**value, "disclosure": plain(value["disclosure"])}
            if "disclosure" in value
            else dict(value)
        )

    tables = [
        {**table, "cells": [cell(c) for c in table.get("cells", [])]}
        for table in result.get("tables", [])
    ]
    statistics = {
        name: [cell(row) if isinstance(row, Mapping) else row for row in value]
        if isinstance(value, list)
        else value
        for name, value in result.get("statistics", {}).items()
    }
    plain_result = dict(result)
    if "tables" in result:
        plain_result["tables"] = tables
    if "statistics" in result:
        plain_result["statistics"] = statistics
    return plain_result
