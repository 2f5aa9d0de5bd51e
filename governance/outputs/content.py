"""What an output may contain, checked before it is stored: only aggregate, disclosure-
controlled figures.

The released result has this shape (`released_from_analysis` builds it from the analysis
engine's `AnalysisResult.to_dict()`):

    {"tables": [{"id", "title", "dimensions": [...], "measure", "population"?,
                 "cells": [{"id", "labels": {dimension: level}, "suppressed": bool,
                            "values": {"count", "events"?, "rate"?, "mean"?}}]}],
     "figures": [{"id", "title", "description"?}],
     "statistics": [{"id", "label", "value"}],
     "notes": [text], "caveats": [text]}

Every cell that is not suppressed rests on at least the agreement's `min_cell_size` people
(its count, its events and its non-events), and a suppressed cell carries no value at all: a
table of person-level rows (counts of one) cannot pass. The CSV released with an output is
made from the result (released_csv.py), so it carries the checked figures and nothing else.
No machine reads the PDF's figures: it must open, and the checkers read it. The parts a preview
flag can point at are derived from the result.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from governance.analysis.engine.stats import statistic_label
from governance.kernel.errors import ValidationFailed
from governance.kernel.pdf_files import pdf_problem

# The analysis kinds, all of which release aggregate tables only (a test keeps this equal to
# governance.analysis.engine.list_kinds()); anything else is refused at production.
AGGREGATE_KINDS = frozenset({"descriptive", "rate_comparison", "matched_comparison"})
RESULT_KEYS = frozenset({"tables", "figures", "statistics", "notes", "caveats"})
TABLE_KEYS = frozenset({"id", "title", "dimensions", "measure", "population", "cells"})
CELL_KEYS = frozenset({"id", "labels", "values", "suppressed"})
VALUE_KEYS = ("count", "events", "rate", "mean")
MAX_CELLS = 5000  # the engine refuses tables over 5,000 cells
PART_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,119}$")
FIXED_PARTS = (
    {"id": "summary", "label": "Plain-language summary"},
    {"id": "report", "label": "The PDF report (say where in your comment)"},
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"The output cannot be stored: {message}", {field: message})


def _text(value: Any, field: str, limit: int = 2000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise refuse(field, f"{field} must be text of 1 to {limit} characters.")
    return value


def _number(value: Any, field: str) -> float | int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise refuse(field, f"{field} must be a number or null.")
    return value


def _part_id(value: Any, field: str, seen: set[str]) -> str:
    if not isinstance(value, str) or not PART_ID.match(value):
        raise refuse(field, f"{field} must be an identifier (letters, digits, _ . : / -).")
    if value in seen:
        raise refuse(field, f"the identifier {value!r} is used twice.")
    seen.add(value)
    return value


def _check_cell(
    cell: Any, table: Mapping[str, Any], min_cell_size: int, seen: set[str], where: str
) -> dict[str, str]:
    if not isinstance(cell, dict) or not set(cell) <= CELL_KEYS:
        raise refuse(where, f"each cell has only {', '.join(sorted(CELL_KEYS))}.")
    cell_id = _part_id(cell.get("id"), f"{where}.id", seen)
    labels = cell.get("labels")
    if (
        not isinstance(labels, dict)
        or not set(labels) <= set(table["dimensions"])
        or not all(isinstance(v, str) and len(v) <= 200 for v in labels.values())
    ):
        raise refuse(where, "cell labels name the table's dimensions with text levels.")
    values = cell.get("values")
    if not isinstance(values, dict) or not set(values) <= set(VALUE_KEYS):
        raise refuse(where, f"cell values are among {', '.join(VALUE_KEYS)}.")
    numbers = {key: _number(value, f"{where}.{key}") for key, value in values.items()}
    if not isinstance(cell.get("suppressed"), bool):
        raise refuse(where, "each cell says whether it is suppressed.")
    if cell["suppressed"]:
        if any(v is not None for v in numbers.values()):
            raise refuse(where, f"suppressed cell {cell_id} still carries a value.")
    else:
        _check_threshold(numbers, min_cell_size, f"cell {cell_id}", where)
    label = ", ".join(f"{k} {v}" for k, v in labels.items()) or "all"
    return {"id": cell_id, "label": f"{table['title']}: {label}"}


def _rests_on(numbers: Mapping[str, float | int | None]) -> dict[str, float | int]:
    """The numbers of people a released figure rests on: its count, and with events also its
    events and non-events."""
    count, events = numbers.get("count"), numbers.get("events")
    if count is None:
        return {}
    if events is None:
        return {"count": count}
    return {"count": count, "events": events, "non_events": count - events}


def _check_threshold(
    numbers: Mapping[str, float | int | None], min_cell_size: int, what: str, field: str
) -> None:
    """A released figure rests on at least min_cell_size people, events and non-events."""
    rests_on = _rests_on(numbers)
    if not rests_on:
        raise refuse(field, f"{what} is released without the count of people it rests on.")
    for name, value in rests_on.items():
        if value < min_cell_size:
            raise refuse(
                field,
                f"{what} releases a {name.replace('_', '-')} of {value:g}, "
                f"below the agreement's minimum cell size of "
                f"{min_cell_size}.",
            )


def check_result(result: Any, *, min_cell_size: int) -> list[dict[str, str]]:
    """Validate a released result; returns the parts a flag can point at."""
    if not isinstance(result, dict) or not set(result) <= RESULT_KEYS:
        raise refuse("result", f"a result has only {', '.join(sorted(RESULT_KEYS))}.")
    seen = {part["id"] for part in FIXED_PARTS}
    parts: list[dict[str, str]] = [dict(p) for p in FIXED_PARTS]
    tables = result.get("tables", [])
    if not isinstance(tables, list) or not tables:
        raise refuse("result.tables", "an output releases at least one table.")
    cells = 0
    for t, table in enumerate(tables):
        where = f"result.tables[{t}]"
        if not isinstance(table, dict) or not set(table) <= TABLE_KEYS:
            raise refuse(where, f"a table has only {', '.join(sorted(TABLE_KEYS))}.")
        parts.append(
            {
                "id": _part_id(table.get("id"), f"{where}.id", seen),
                "label": f"Table: {_text(table.get('title'), f'{where}.title', 200)}",
            }
        )
        dimensions = table.get("dimensions")
        if not isinstance(dimensions, list) or not all(isinstance(d, str) for d in dimensions):
            raise refuse(where, "dimensions are a list of names.")
        rows = table.get("cells")
        if not isinstance(rows, list) or not rows:
            raise refuse(where, "a table has cells.")
        cells += len(rows)
        if cells > MAX_CELLS:
            raise refuse("result.tables", f"more than {MAX_CELLS} cells in all.")
        parts += [
            _check_cell(cell, table, min_cell_size, seen, f"{where}.cells[{c}]")
            for c, cell in enumerate(rows)
        ]
    for f, figure in enumerate(_list(result, "figures")):
        where = f"result.figures[{f}]"
        if not isinstance(figure, dict) or not set(figure) <= {"id", "title", "description"}:
            raise refuse(where, "a figure has an id, a title and a description.")
        parts.append(
            {
                "id": _part_id(figure.get("id"), f"{where}.id", seen),
                "label": f"Figure: {_text(figure.get('title'), f'{where}.title', 200)}",
            }
        )
    for s, statistic in enumerate(_list(result, "statistics")):
        where = f"result.statistics[{s}]"
        if not isinstance(statistic, dict) or set(statistic) != {"id", "label", "value"}:
            raise refuse(where, "a statistic has an id, a label and a value.")
        _number(statistic["value"], f"{where}.value")
        parts.append(
            {
                "id": _part_id(statistic["id"], f"{where}.id", seen),
                "label": _text(statistic["label"], f"{where}.label", 200),
            }
        )
    for key in ("notes", "caveats"):
        for n, note in enumerate(_list(result, key)):
            _text(note, f"result.{key}[{n}]", 5000)
        if result.get(key):
            parts.append({"id": key, "label": key.capitalize()})
    return parts


def _list(result: Mapping[str, Any], key: str) -> list[Any]:
    value = result.get(key, [])
    if not isinstance(value, list):
        raise refuse(f"result.{key}", f"{key} is a list.")
    return value


def check_pdf(data: bytes) -> None:
    """The report must open: nothing reads its figures by machine, so the output checkers
    must be able to read it before they approve."""
    problem = pdf_problem(data) if isinstance(data, bytes) else "it is not a file"
    if problem is not None:
        raise refuse("pdf", f"the report must be a PDF that opens: {problem}.")


def correction_record(
    result: Mapping[str, Any], *, min_cell_size: int, revision: int
) -> dict[str, Any]:
    """The disclosure record of figures a correction uploaded. The engine's record describes
    the cells it controlled, not these; what the service checked here is the minimum cell size
    (`check_result`), so that is recorded cell by cell with the smallest number each released
    figure rests on, and the record says what was not run again."""
    cells = [
        {
            "part": cell["id"],
            "suppressed": cell["suppressed"],
            "rules": [],
            "smallest_base": None
            if cell["suppressed"]
            else min(_rests_on(cell["values"]).values()),
        }
        for table in result["tables"]
        for cell in table["cells"]
    ]
    return {
        "policy": {"min_cell_size": min_cell_size, "checked_at_revision": revision},
        "note": CORRECTION_NOTE,
        "cells": cells,
    }


CORRECTION_NOTE = (
    "These figures were uploaded with a correction. The service checked that every released "
    "figure rests on at least the minimum cell size (count, events and non-events) and that "
    "suppressed cells carry no value. The engine's other rules (dominance, secondary "
    "suppression, differencing against earlier outputs) were not run again: check the tables "
    "by eye, and read the statistics, the summary and the PDF."
)


def check_json(value: Any, field: str, kind: type) -> None:
    if not isinstance(value, kind):
        raise refuse(field, f"{field} must be a JSON {kind.__name__}.")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise refuse(field, f"{field} must be plain JSON.") from exc


def table_view(table: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of a released table for pages: dimensions, then the values present."""
    present = [k for k in VALUE_KEYS if any(k in c["values"] for c in table["cells"])]
    rows = [
        {
            "id": c["id"],
            "labels": [c["labels"].get(d, "Total") for d in table["dimensions"]],
            "values": [c["values"].get(k) for k in present],
            "suppressed": c["suppressed"],
        }
        for c in table["cells"]
    ]
    return [*table["dimensions"], *present], rows


def released_from_analysis(analysis: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the engine's `AnalysisResult.to_dict()` into the released result and the
    disclosure record checkers see (which rule fired on which cell, and the thresholds)."""
    tables, records = [], []
    for table in analysis.get("tables", []):
        cells = []
        for n, cell in enumerate(table["cells"], start=1):
            cell_id = f"{table['name']}/{n}"
            disclosure = cell.get("disclosure", {})
            cells.append(
                {
                    "id": cell_id,
                    "labels": dict(cell["labels"]),
                    "values": {k: v for k, v in cell["values"].items() if k in VALUE_KEYS},
                    "suppressed": bool(disclosure.get("suppressed")),
                }
            )
            records.append(
                {
                    "part": cell_id,
                    "suppressed": bool(disclosure.get("suppressed")),
                    "rules": list(disclosure.get("rules", [])),
                }
            )
        tables.append(
            {
                "id": table["name"],
                "title": table["title"],
                "dimensions": list(table["dimensions"]),
                "measure": table["measure"],
                "population": table.get("population"),
                "cells": cells,
            }
        )
    policies = [t.get("policy", {}) for t in analysis.get("tables", [])]
    notes = [
        *analysis.get("notes", []),
        *(f"Withheld ({name}): {reason}" for name, reason in analysis.get("withheld", {}).items()),
    ]
    result = {
        "tables": tables,
        "figures": [
            {"id": f"figure.{name}", "title": name.replace("_", " ").capitalize()}
            for name in analysis.get("figures", {})
        ],
        "statistics": _flat_statistics(analysis.get("statistics", {})),
        "notes": notes,
        "caveats": list(analysis.get("caveats", [])),
    }
    return result, {"policy": policies[0] if policies else {}, "cells": records}


def _flat_statistics(statistics: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for key, value in statistics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat += _flat_statistics(value, f"{name}.")
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (not isinstance(value, float) or math.isfinite(value))
        ):
            flat.append(
                {
                    "id": f"statistic.{name}",
                    "label": statistic_label(prefix, key, statistics),
                    "value": value,
                }
            )
    return flat
