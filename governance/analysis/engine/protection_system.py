"""The linear system of a family of linked tables, for the protection intervals (protection.py).

Each additive value of a table is a *quantity*: a count of people (``count``) or of people with
an outcome (``events:<outcome>``) for the labels that are not a margin; tables that share a
quantity for the same labels describe the same people. ``System`` holds the quantities, one
equation per line of every table (the level cells add up to the total), the links "outcome
count <= count", what a reader knows (published values, within half the rounding base for a
rounded earlier release) and the hidden counts to protect.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .disclosure import TOTAL_LABEL
from .secondary import table_lines
from .tabulation import MISSING_LABEL

TOLERANCE = 1e-6
_INTEGER = re.compile(r"-?[0-9]+")
_INTEGER_AS_FLOAT = re.compile(r"-?[0-9]+\.0")

Labels = frozenset[tuple[str, str]]
Quantity = tuple[str, Labels]
Expression = tuple[tuple[int, float], ...]


@dataclass
class LinkedTable:
    """One table in the system: ours (``mutable``; ``values`` are the true counts) or an
    earlier release's (``values`` are what was published, None where suppressed)."""

    dimensions: list[str]
    measures: dict[str, str]
    labels: list[dict[str, str]]
    values: list[dict[str, float | None]]
    suppressed: np.ndarray
    mutable: bool
    rounding_base: int | None = None
    newly_suppressed: set[int] = field(default_factory=set)
    # Cells of ours whose value another table of the output publishes (over another
    # population): known to a reader even when suppressed here, so never a cell to protect or
    # to hide for another's sake.
    public: frozenset[int] = frozenset()

    @classmethod
    def from_released(cls, table: Mapping[str, Any], integers: Collection[str] = ()) -> LinkedTable:
        """An earlier release's table, as stored (``ResultTable.to_dict``). In the
        dimensions named in ``integers`` (those this output labels with integers, see
        ``integer_dimensions``) a level "7.0" is the level "7": tables grouped by an integer
        column with a gap were labelled so while such columns reached the engine as floats."""
        measures = dict(table.get("measures") or {"count": "count"})
        cells = list(table.get("cells", []))
        policy = table.get("policy") or {}
        return cls(
            dimensions=list(table.get("dimensions", [])),
            measures=measures,
            labels=[
                {
                    k: _as_integer(str(v)) if k in integers else str(v)
                    for k, v in cell["labels"].items()
                }
                for cell in cells
            ],
            values=[{key: _number(cell["values"].get(key)) for key in measures} for cell in cells],
            suppressed=np.array([bool(c["disclosure"]["suppressed"]) for c in cells], bool),
            mutable=False,
            rounding_base=policy.get("rounding_base"),
        )


def integer_dimensions(tables: Sequence[LinkedTable]) -> frozenset[str]:
    """The dimensions whose levels in ``tables`` are all integers ("7"; margins and the
    missing level aside), at least one of them."""
    levels: dict[str, set[str]] = {}
    for table in tables:
        for labels in table.labels:
            for dimension, label in labels.items():
                if label not in (TOTAL_LABEL, MISSING_LABEL):
                    levels.setdefault(dimension, set()).add(label)
    return frozenset(
        dimension
        for dimension, found in levels.items()
        if all(_INTEGER.fullmatch(label) for label in found)
    )


def _as_integer(label: str) -> str:
    """ "7" for "7.0" (how pandas wrote an integer held as a float), any other label as is."""
    return label[:-2] if _INTEGER_AS_FLOAT.fullmatch(label) else label


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class System:
    """Quantities, line equations and outcome links of a family of linked tables."""

    tables: list[LinkedTable]
    index: dict[Quantity, int] = field(default_factory=dict)
    carriers: list[list[tuple[int, int]]] = field(default_factory=list)
    cell_quantities: list[list[dict[str, int]]] = field(default_factory=list)
    equations: list[Expression] = field(default_factory=list)
    links: list[tuple[int, int]] = field(default_factory=list)
    lines: list[list[np.ndarray]] = field(default_factory=list)

    def build(self) -> System:
        seen: set[Expression] = set()
        for position, table in enumerate(self.tables):
            per_cell: list[dict[str, int]] = []
            for cell, labels in enumerate(table.labels):
                key = frozenset((d, v) for d, v in labels.items() if v != TOTAL_LABEL)
                quantities = {}
                for value_key, name in table.measures.items():
                    quantity = self._id((name, key))
                    self.carriers[quantity].append((position, cell))
                    quantities[value_key] = quantity
                per_cell.append(quantities)
            self.cell_quantities.append(per_cell)
            frame = pd.DataFrame(table.labels, columns=table.dimensions)
            table_lines_list = []
            for levels, total in table_lines(frame, table.dimensions, TOTAL_LABEL):
                table_lines_list.append(np.append(levels, total))
                for value_key in table.measures:
                    terms: dict[int, float] = {}
                    for cell in levels:
                        q = per_cell[int(cell)][value_key]
                        terms[q] = terms.get(q, 0.0) + 1.0
                    q = per_cell[total][value_key]
                    terms[q] = terms.get(q, 0.0) - 1.0
                    equation = tuple(sorted((q, c) for q, c in terms.items() if c != 0))
                    if equation and equation not in seen:
                        seen.add(equation)
                        self.equations.append(equation)
            self.lines.append(table_lines_list)
        for (name, key), quantity in self.index.items():
            if name.startswith("events:") and ("count", key) in self.index:
                self.links.append((quantity, self.index[("count", key)]))
        return self

    def _id(self, quantity: Quantity) -> int:
        if quantity not in self.index:
            self.index[quantity] = len(self.index)
            self.carriers.append([])
        return self.index[quantity]

    def close_suppression(self) -> None:
        """A quantity hidden in one of our cells must be hidden in every one of our cells that
        carries it (the counts table and the rates table both show each cell's count)."""
        changed = True
        while changed:
            changed = False
            for position, table in enumerate(self.tables):
                if not table.mutable:
                    continue
                for cell in np.flatnonzero(table.suppressed):
                    for quantity in self.cell_quantities[position][int(cell)].values():
                        for other, other_cell in self.carriers[quantity]:
                            target = self.tables[other]
                            if target.mutable and not target.suppressed[other_cell]:
                                target.suppressed[other_cell] = True
                                target.newly_suppressed.add(other_cell)
                                changed = True

    def known(
        self, use_earlier: bool = True, use_ours: bool = True
    ) -> dict[int, tuple[float, float]]:
        """Quantities a reader knows: (low, high) bounds, equal unless a release was rounded."""
        bounds: dict[int, tuple[float, float]] = {}
        for quantity, carriers in enumerate(self.carriers):
            for position, cell in carriers:
                table = self.tables[position]
                hidden = table.suppressed[cell] and cell not in table.public
                if hidden or (table.mutable and not use_ours):
                    continue
                if not table.mutable and not use_earlier:
                    continue
                key = next(
                    k for k, q in self.cell_quantities[position][cell].items() if q == quantity
                )
                value = table.values[cell][key]
                if value is None:
                    continue
                slack = 0.0 if table.mutable or not table.rounding_base else table.rounding_base / 2
                low, high = max(0.0, value - slack), value + slack
                if quantity in bounds:
                    old_low, old_high = bounds[quantity]
                    low, high = max(low, old_low), min(high, old_high)
                bounds[quantity] = (low, high)
        return bounds

    def truth(self) -> dict[int, float]:
        """True values of the quantities our own tables carry."""
        values: dict[int, float] = {}
        for position, table in enumerate(self.tables):
            if not table.mutable:
                continue
            for cell, quantities in enumerate(self.cell_quantities[position]):
                for key, quantity in quantities.items():
                    value = table.values[cell][key]
                    if value is not None:
                        values[quantity] = value
        return values

    def targets(self) -> list[Expression]:
        """Every hidden count: each quantity of a suppressed cell, and the non-outcome count
        (count minus outcome) of a suppressed rate cell."""
        found: dict[Expression, None] = {}
        for position, table in enumerate(self.tables):
            for cell in np.flatnonzero(table.suppressed):
                if int(cell) in table.public:
                    continue
                quantities = self.cell_quantities[position][int(cell)]
                for quantity in quantities.values():
                    found[((quantity, 1.0),)] = None
                count = quantities.get("count")
                for key, quantity in quantities.items():
                    if key != "count" and count is not None:
                        found[((count, 1.0), (quantity, -1.0))] = None
        return list(found)
