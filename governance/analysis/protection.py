"""Protection intervals: no suppressed count may be narrowed down to fewer than ``width`` people.

Cell suppression alone only stops *exact* recovery; a reader who solves the published tables
as a system of linear equations can still bound a hidden cell, and a hidden 1 pinned between 0
and 2 is as good as published. This module takes every table released about one population —
the tables of the output being made and the tables of earlier releases over exactly the same
people — and, for each hidden count, solves for its smallest and largest feasible value by
linear programming (scipy's HiGHS). A hidden count whose interval is narrower than ``width``
gets another cell of this output suppressed beside it, and the system is solved again, until
every hidden count is protected (suppression only grows, so this ends).

The system. Each additive value of a table is a *quantity*: a count of people (``count``) or of
people with an outcome (``events:<outcome>``) for the labels that are not a margin. Tables of
the same population that share a quantity for the same labels describe the same people (the
characteristics table's treatment-group total is the outcome table's treatment-group count),
so the tables are linked through their common cells, which is how tau-ARGUS treats linked
tables; for two tables this is exact (the LP relaxation of "some joint table of people
exists"), and a test checks it against an attacker who solves the full joint table. Along
every line of a table the level cells add up to the total; every count is non-negative; every
outcome count lies between 0 and its cell's count (so non-outcomes are non-negative too). A
published quantity is a known constant (this output's by its true value, earlier releases by
their published value, within half the rounding base when they were rounded).

Cost. One pair of LPs per hidden quantity would be slow on tables of thousands of cells, so a
hidden quantity is first *certified* wide by the values it takes at the true table and at the
optima of a few aggregate LPs (any feasible table is a witness); only the rest get their own
exact minimum and maximum. The decision (which counts are too narrow) depends only on the exact
optima, so it does not depend on the order or the witnesses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from .disclosure import TOTAL_LABEL
from .secondary import table_lines

_TOLERANCE = 1e-6
# Hidden counts left uncertified after the aggregate witnesses get two exact LPs each, up to
# this many per round; beyond it they are all treated as too narrow (see ``_intervals``).
_EXACT_BUDGET = 60
# At most this many witness programmes per round (they stop earlier once they stall).
_PUSH_ROUNDS = 40
_CHUNK = 16
_CHUNKED_LIMIT = 20 * _EXACT_BUDGET

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

    @classmethod
    def from_released(cls, table: Mapping[str, Any]) -> LinkedTable:
        """An earlier release's table, as stored (``ResultTable.to_dict``)."""
        measures = dict(table.get("measures") or {"count": "count"})
        cells = list(table.get("cells", []))
        policy = table.get("policy") or {}
        return cls(
            dimensions=list(table.get("dimensions", [])),
            measures=measures,
            labels=[{k: str(v) for k, v in cell["labels"].items()} for cell in cells],
            values=[{key: _number(cell["values"].get(key)) for key in measures} for cell in cells],
            suppressed=np.array([bool(c["disclosure"]["suppressed"]) for c in cells], bool),
            mutable=False,
            rounding_base=policy.get("rounding_base"),
        )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class _System:
    """Quantities, line equations and outcome links of a family of linked tables."""

    tables: list[LinkedTable]
    index: dict[Quantity, int] = field(default_factory=dict)
    carriers: list[list[tuple[int, int]]] = field(default_factory=list)
    cell_quantities: list[list[dict[str, int]]] = field(default_factory=list)
    equations: list[Expression] = field(default_factory=list)
    links: list[tuple[int, int]] = field(default_factory=list)
    lines: list[list[np.ndarray]] = field(default_factory=list)

    def build(self) -> _System:
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
                if table.suppressed[cell] or (table.mutable and not use_ours):
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
                quantities = self.cell_quantities[position][int(cell)]
                for quantity in quantities.values():
                    found[((quantity, 1.0),)] = None
                count = quantities.get("count")
                for key, quantity in quantities.items():
                    if key != "count" and count is not None:
                        found[((count, 1.0), (quantity, -1.0))] = None
        return list(found)


@dataclass
class _Program:
    """The linear programme for the current suppression pattern."""

    variables: list[int]
    column: dict[int, int]
    constant: dict[int, float]
    a_eq: sparse.csr_matrix | None
    b_eq: np.ndarray
    a_ub: sparse.csr_matrix | None
    b_ub: np.ndarray
    bounds: list[tuple[float, float | None]]

    @classmethod
    def of(cls, system: _System, known: Mapping[int, tuple[float, float]]) -> _Program:
        fixed = {q: low for q, (low, high) in known.items() if high - low <= _TOLERANCE}
        variables = [q for q in range(len(system.index)) if q not in fixed]
        column = {q: i for i, q in enumerate(variables)}

        def rows_of(
            expressions: Sequence[Expression],
        ) -> tuple[sparse.csr_matrix | None, np.ndarray]:
            """Each expression (= 0 or <= 0) with known quantities moved to the right."""
            rows: list[int] = []
            cols: list[int] = []
            data: list[float] = []
            rhs: list[float] = []
            for expression in expressions:
                terms = [(column[q], c) for q, c in expression if q not in fixed]
                if not terms:
                    continue
                for col, coefficient in terms:
                    rows.append(len(rhs))
                    cols.append(col)
                    data.append(coefficient)
                rhs.append(-sum(c * fixed[q] for q, c in expression if q in fixed))
            if not rhs:
                return None, np.zeros(0)
            shape = (len(rhs), len(variables))
            return sparse.csr_matrix((data, (rows, cols)), shape=shape), np.asarray(rhs, float)

        a_eq, b_eq = rows_of(system.equations)
        links = [((events, 1.0), (count, -1.0)) for events, count in system.links]
        a_ub, b_ub = rows_of(links)
        bounds: list[tuple[float, float | None]] = []
        for quantity in variables:
            low, high = known.get(quantity, (0.0, float("inf")))
            bounds.append((low, None if np.isinf(high) else high))
        return cls(variables, column, fixed, a_eq, b_eq, a_ub, b_ub, bounds)

    def vector(self, expression: Expression) -> tuple[np.ndarray, float]:
        """Objective coefficients over the variables, and the constant part."""
        coefficients = np.zeros(len(self.variables))
        constant = 0.0
        for quantity, weight in expression:
            if quantity in self.column:
                coefficients[self.column[quantity]] += weight
            else:
                constant += weight * self.constant[quantity]
        return coefficients, constant

    def push(
        self, rows: np.ndarray, limits: np.ndarray, width: float, signs: np.ndarray
    ) -> np.ndarray | None:
        """A feasible table that moves each row's value away from its witnessed extreme (up
        where ``signs`` is 1, down where -1) by as much as possible, capped at ``width``
        each: maximise sum t_k with t_k <= width and t_k <= sign_k * rows_k x + limits_k."""
        n, k = len(self.variables), len(rows)
        if not n:
            return None
        moves = sparse.hstack(
            [sparse.csr_matrix(-signs[:, None] * rows), sparse.identity(k)]
        ).tocsr()
        blocks = [moves]
        bounds_ub = [limits]
        if self.a_ub is not None:
            blocks.insert(0, sparse.hstack([self.a_ub, sparse.csr_matrix((self.a_ub.shape[0], k))]))
            bounds_ub.insert(0, self.b_ub)
        a_eq = (
            sparse.hstack([self.a_eq, sparse.csr_matrix((self.a_eq.shape[0], k))]).tocsr()
            if self.a_eq is not None
            else None
        )
        result = linprog(
            np.concatenate([np.zeros(n), -np.ones(k)]),
            A_ub=sparse.vstack(blocks).tocsr(),
            b_ub=np.concatenate(bounds_ub),
            A_eq=a_eq,
            b_eq=self.b_eq if a_eq is not None else None,
            # t_k may be negative: raising one count can lower another below its witness.
            bounds=[*self.bounds, *([(None, width)] * k)],
            method="highs",
        )
        if result.status != 0 or result.x is None:
            raise InfeasibleSystem(result.message)
        return np.asarray(result.x[:n])

    def solve(self, objective: np.ndarray) -> tuple[float | None, np.ndarray | None]:
        """Minimise ``objective @ x``; (None, None) when unbounded below."""
        if not len(self.variables):
            return 0.0, np.zeros(0)
        result = linprog(
            objective,
            A_ub=self.a_ub,
            b_ub=self.b_ub if self.a_ub is not None else None,
            A_eq=self.a_eq,
            b_eq=self.b_eq if self.a_eq is not None else None,
            bounds=self.bounds,
            method="highs",
        )
        if result.status == 3:
            return None, None
        if result.status != 0 or result.x is None:
            raise InfeasibleSystem(result.message)
        return float(result.fun), np.asarray(result.x)


class InfeasibleSystem(RuntimeError):
    """The released tables contradict each other (for example an earlier release over the same
    people but from a corrected dataset version)."""


def _intervals(
    program: _Program,
    targets: Sequence[Expression],
    width: float,
    seeds: Mapping[int, float],
) -> list[tuple[float, float]]:
    """Exact [min, max] of each target where it is narrower than ``width``; for targets
    certified wide by witnesses, the witnessed range (at least ``width``)."""
    matrix = np.zeros((len(targets), len(program.variables)))
    offset = np.zeros(len(targets))
    for i, target in enumerate(targets):
        matrix[i], offset[i] = program.vector(target)
    low = np.full(len(targets), np.inf)
    high = np.full(len(targets), -np.inf)
    # The true table is feasible, so the true value of a count of ours is a witness.
    for i, target in enumerate(targets):
        if all(q in seeds for q, _ in target):
            low[i] = high[i] = sum(w * seeds[q] for q, w in target)

    def witness(x: np.ndarray | None) -> None:
        if x is None:
            return
        values = matrix @ x + offset
        np.minimum(low, values, out=low)
        np.maximum(high, values, out=high)

    def open_targets() -> np.ndarray:
        return np.flatnonzero(~(high - low >= width - _TOLERANCE))

    if not np.all(np.isfinite(low)):
        witness(program.solve(np.zeros(len(program.variables)))[1])
    # Certify many at once: a table that moves open targets away from their witnessed values
    # (each up or down, up to the width) is a witness for all of them. All up, all down, then
    # random directions: hidden cells move in cycles (one up, its neighbours down), so mixed
    # directions certify far more per programme. The seed only affects speed, never which
    # counts are found narrow (the exact programmes below decide that).
    rng = np.random.default_rng(0)
    stalls = 0
    for round_number in range(_PUSH_ROUNDS):
        todo = open_targets()
        if not todo.size:
            break
        if round_number == 0:
            signs = np.ones(todo.size)
        elif round_number == 1:
            signs = -np.ones(todo.size)
        else:
            signs = rng.choice([-1.0, 1.0], size=todo.size)
        limits = np.where(signs > 0, offset[todo] - low[todo], high[todo] - offset[todo])
        witness(program.push(matrix[todo], limits, width, signs))
        certified = todo.size - open_targets().size
        stalls = stalls + 1 if certified < max(1, todo.size // 50) else 0
        if stalls >= 3:
            break
    # Then in small groups, where few targets compete for the same cells (worth it only when
    # that can bring the rest within the exact budget).
    for sign in (1.0, -1.0):
        todo = open_targets()
        if todo.size <= _EXACT_BUDGET or todo.size > _CHUNKED_LIMIT:
            break
        for chunk in np.array_split(todo, -(-todo.size // _CHUNK)):
            chunk = chunk[~(high[chunk] - low[chunk] >= width - _TOLERANCE)]
            if not chunk.size:
                continue
            signs = np.full(chunk.size, sign)
            limits = np.where(signs > 0, offset[chunk] - low[chunk], high[chunk] - offset[chunk])
            witness(program.push(matrix[chunk], limits, width, signs))
    left = open_targets()
    if left.size > _EXACT_BUDGET:
        # Too many to solve one by one in reasonable time (large, sparse tables): treat them
        # all as too narrow. That only suppresses more; the next round certifies again.
        high[left] = -np.inf
        return list(zip(low.tolist(), high.tolist(), strict=True))
    for i in left:
        value, x = program.solve(-matrix[i])
        if value is None:
            high[i] = np.inf
        else:
            witness(x)
            high[i] = max(high[i], -value + offset[i])
        if high[i] - low[i] >= width - _TOLERANCE:
            continue
        value, x = program.solve(matrix[i])
        if value is not None:
            witness(x)
            low[i] = min(low[i], value + offset[i])
    return list(zip(low.tolist(), high.tolist(), strict=True))


def protect(tables: list[LinkedTable], width: float) -> list[str]:
    """Suppress more cells of the mutable tables until no hidden count of any table can be
    narrowed to fewer than ``width`` people. Returns notes for the output (empty if nothing
    needed saying). Mutates ``suppressed`` and ``newly_suppressed`` of the mutable tables."""
    system = _System(tables).build()
    system.close_suppression()
    seeds = system.truth()
    already_public: set[Expression] = set()
    notes: list[str] = []
    while True:
        found = [e for e in system.targets() if e not in already_public]
        if not found:
            return notes
        try:
            program = _Program.of(system, system.known())
            ranges = _intervals(program, found, width, seeds)
        except InfeasibleSystem:
            if all(t.mutable for t in tables):
                raise
            # An earlier release over the same people disagrees with this output (the data
            # changed in between): it is left out, and the output says so.
            ours = [t for t in tables if t.mutable]
            return [EARLIER_DISAGREES, *protect(ours, width)]
        narrow = [
            expression
            for expression, (low, high) in zip(found, ranges, strict=True)
            if high - low < width - _TOLERANCE
        ]
        if any(high == -np.inf for _, high in ranges):
            notes = [SPARSE]
        if not narrow:
            return notes
        progressed = False
        for expression in narrow:
            if _public_without_us(system, expression, width):
                already_public.add(expression)
                progressed = True
            elif _suppress_beside(system, expression):
                progressed = True
        system.close_suppression()
        if not progressed:
            return [*notes, UNPROTECTED]


EARLIER_DISAGREES = (
    "An earlier release over the same people disagrees with this output (the data changed in "
    "between), so the protection intervals were checked on this output's tables alone."
)
SPARSE = (
    "A table is large and sparse: to show within reasonable time that no suppressed count can "
    "be worked out, more cells were suppressed than strictly necessary. Grouping by fewer or "
    "coarser columns releases more."
)
UNPROTECTED = (
    "Some suppressed counts could not be given their full protection interval because every "
    "other figure about them was already released."
)


def _public_without_us(system: _System, expression: Expression, width: float) -> bool:
    """True when earlier releases alone already pin the count down (nothing this output does
    can widen it): such a count is left as it is rather than suppressing everything."""
    if all(t.mutable for t in system.tables):
        return False
    program = _Program.of(system, system.known(use_ours=False))
    ranges = _intervals(program, [expression], width, {})
    low, high = ranges[0]
    return high - low < width - _TOLERANCE


def _suppress_beside(system: _System, expression: Expression) -> bool:
    """Suppress the cheapest published cell of ours on a line through the hidden count (in any
    of our tables carrying one of its quantities); failing that, the cheapest published cell of
    ours anywhere in the family."""
    candidates: set[tuple[int, int]] = set()
    quantities = {q for q, _ in expression}
    for quantity in quantities:
        for position, carried in system.carriers[quantity]:
            table = system.tables[position]
            if not table.mutable:
                continue
            for line in system.lines[position]:
                if carried in line:
                    candidates.update((position, int(c)) for c in line if not table.suppressed[c])
    if not candidates:
        for position, table in enumerate(system.tables):
            if table.mutable:
                candidates.update((position, int(c)) for c in np.flatnonzero(~table.suppressed))
    if not candidates:
        return False

    def cost(candidate: tuple[int, int]) -> tuple[float, int, int]:
        position, index = candidate
        value = system.tables[position].values[index].get("count")
        return (float("inf") if value is None else float(value), position, index)

    position, index = min(candidates, key=cost)
    table = system.tables[position]
    table.suppressed[index] = True
    table.newly_suppressed.add(index)
    return True
