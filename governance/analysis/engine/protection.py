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

Cost. Count tables (1-D, and 2-D with margins, linked through common cells) are network
programmes: every hidden count's exact interval is two max-flows (protection_network.py). Rate
tables are bracketed by two networks, in events and non-events (protection_rates.py): a
relaxation that pins a count decides it is too narrow, a restriction that moves it far enough
decides it is protected, both exactly. Whatever is left goes to linear programming
(protection_lp.py): one pair of LPs per hidden quantity would be slow on tables of thousands of
cells, so hidden quantities are first *certified* wide by witnesses: the true table and the
optima of programmes that move many of them at once (any feasible table is a witness). The rest
get their own exact minimum and maximum, up to a budget per round; beyond it they are all
treated as too narrow, which only suppresses more (and the output says so). Within the budget
the decision depends only on the exact optima, not on the witnesses. The system itself is in
protection_system.py.
"""

from __future__ import annotations

import numpy as np

from .protection_lp import InfeasibleSystem, Program, intervals
from .protection_rates import rate_intervals
from .protection_system import TOLERANCE, Expression, LinkedTable, System

__all__ = ["LinkedTable", "protect"]


def protect(tables: list[LinkedTable], width: float) -> list[str]:
    """Suppress more cells of the mutable tables until no hidden count of any table can be
    narrowed to fewer than ``width`` people. Returns notes for the output (empty if nothing
    needed saying). Mutates ``suppressed`` and ``newly_suppressed`` of the mutable tables."""
    system = System(tables).build()
    system.close_suppression()
    seeds = system.truth()
    already_public: set[Expression] = set()
    notes: list[str] = []
    while True:
        found = [e for e in system.targets() if e not in already_public]
        if not found:
            return notes
        try:
            known = system.known()
            decided = rate_intervals(system, known, seeds, found, width)
            rest = [e for i, e in enumerate(found) if i not in decided]
            program = Program.of(system, known)
            solved = iter(intervals(program, rest, width, seeds) if rest else [])
            ranges = [decided[i] if i in decided else next(solved) for i in range(len(found))]
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
            if high - low < width - TOLERANCE
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


def _public_without_us(system: System, expression: Expression, width: float) -> bool:
    """True when earlier releases alone already pin the count down (nothing this output does
    can widen it): such a count is left as it is rather than suppressing everything."""
    if all(t.mutable for t in system.tables):
        return False
    program = Program.of(system, system.known(use_ours=False))
    ranges = intervals(program, [expression], width, {})
    low, high = ranges[0]
    return high - low < width - TOLERANCE


def _suppress_beside(system: System, expression: Expression) -> bool:
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
    # A cell another table publishes hides nothing when suppressed here.
    candidates = {(p, c) for p, c in candidates if c not in system.tables[p].public}
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
