"""Secondary (complementary) suppression for additive tables with margins.

A table with margins is a system of linear equations: along every *line* (all cells that share
the labels of every dimension but one) the level cells add up to the line's total cell. If a
suppressed cell is the only unknown in a line, subtraction recovers it; more subtle patterns
(a suppressed cell linked to the rest only through a "bridge") are recoverable too. This module
makes sure no suppressed cell can be recovered *exactly* by anyone who knows the published cells,
the additive structure and that counts are non-negative.

Method (iterated to a fixed point, suppression only ever grows, so it terminates):
1. line rule: while some line has exactly one suppressed cell, suppress the smallest published
   cell of that line (margins included) as its complement;
2. audit: find the suppressed cells still determined by the equations (row-space test, plus
   one linear programme per table when suppressed zeros sit on the non-negativity bound; see
   ``_determined_cells``); for each, suppress the smallest published cell on any of its lines
   (or, if all are hidden, the smallest published cell of the table), and go back to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

_TOLERANCE = 1e-7


@dataclass(frozen=True)
class AdditiveTable:
    """One additive measure over the cells (counts, events, sums); all share the same lines."""

    values: np.ndarray
    nonnegative: bool


def table_lines(
    labels: pd.DataFrame, dimensions: Sequence[str], total_label: str
) -> list[tuple[np.ndarray, int]]:
    """Each line as (positions of its level cells, position of its total cell)."""
    dims = list(dimensions)
    lines: list[tuple[np.ndarray, int]] = []
    if not dims:
        return lines
    for dim in dims:
        others = [other for other in dims if other != dim]
        groups = (
            labels.groupby(others, sort=False).indices.values()
            if others
            else [np.arange(len(labels))]
        )
        dim_values = labels[dim].to_numpy()
        for positions in groups:
            members = np.asarray(positions)
            is_total = dim_values[members] == total_label
            totals = members[is_total]
            if len(totals) != 1:
                raise ValueError(f"line along {dim!r} needs exactly one {total_label!r} cell")
            lines.append((members[~is_total], int(totals[0])))
    return lines


def complementary_suppression(
    labels: pd.DataFrame,
    dimensions: Sequence[str],
    total_label: str,
    primary: np.ndarray,
    tables: Sequence[AdditiveTable],
    cost: np.ndarray,
) -> np.ndarray:
    """Return the full suppression mask (primary plus complements) for the given cells."""
    suppressed = np.asarray(primary, dtype=bool).copy()
    lines = table_lines(labels, dimensions, total_label)
    if not lines or not suppressed.any():
        return suppressed
    line_cells = [np.append(levels, total) for levels, total in lines]
    lines_of_cell: list[list[int]] = [[] for _ in range(len(suppressed))]
    for index, members in enumerate(line_cells):
        for position in members:
            lines_of_cell[int(position)].append(index)
    # Ties between equal costs go to the earliest cell so results are reproducible.
    order_key = np.asarray(cost, dtype=float)
    while True:
        _apply_line_rule(line_cells, suppressed, order_key)
        determined = _determined_cells(lines, suppressed, tables)
        if not determined.size or suppressed.all():
            return suppressed
        before = int(suppressed.sum())
        for position in determined:
            candidates = np.unique(
                np.concatenate([line_cells[line] for line in lines_of_cell[int(position)]])
            )
            candidates = candidates[~suppressed[candidates]]
            if candidates.size:
                suppressed[_cheapest(candidates, order_key)] = True
        if int(suppressed.sum()) == before:
            # Every line through the determined cells is already hidden (this happens when
            # suppressed zeros pin each other down): widen the search to the whole table.
            suppressed[_cheapest(np.flatnonzero(~suppressed), order_key)] = True


def _cheapest(candidates: np.ndarray, cost: np.ndarray) -> int:
    ranked = np.lexsort((candidates, cost[candidates]))
    return int(candidates[ranked[0]])


def _apply_line_rule(
    line_cells: list[np.ndarray], suppressed: np.ndarray, cost: np.ndarray
) -> None:
    changed = True
    while changed:
        changed = False
        for members in line_cells:
            hidden = suppressed[members]
            if int(hidden.sum()) == 1:
                suppressed[_cheapest(members[~hidden], cost)] = True
                changed = True


def _determined_cells(
    lines: list[tuple[np.ndarray, int]], suppressed: np.ndarray, tables: Sequence[AdditiveTable]
) -> np.ndarray:
    """Positions of suppressed cells whose value the published cells pin down exactly.

    The unknowns x (suppressed cells) satisfy A x = b, one row per line holding a suppressed
    cell. A cell can move, keeping every equation, iff some direction v with A v = 0 has
    v_i != 0 (linear algebra: e_i is outside the row space of A). Non-negativity matters only
    at suppressed zeros Z: a feasible direction must have v_Z >= 0. The cone of such directions
    has a vector of maximal support, found by one linear programme; zeros outside that support
    are pinned at 0, and the other cells can move iff they can in the null space of A with the
    pinned columns removed. The polytope is convex, so "cannot move from the true table" is
    exactly "determined".
    """
    unknown = np.flatnonzero(suppressed)
    column_of = {int(position): column for column, position in enumerate(unknown)}
    rows: list[np.ndarray] = []
    for levels, total in lines:
        if not suppressed[levels].any() and not suppressed[total]:
            continue
        coefficients = np.zeros(len(unknown))
        for position in levels[suppressed[levels]]:
            coefficients[column_of[int(position)]] += 1.0
        if suppressed[total]:
            coefficients[column_of[total]] -= 1.0
        rows.append(coefficients)
    if not rows:
        return np.array([], dtype=int)
    matrix = np.vstack(rows)
    determined = _in_row_space(matrix)
    for table in tables:
        zeros = table.values[unknown] == 0
        if not table.nonnegative or not zeros.any():
            continue
        pinned = zeros & ~_cone_support(matrix, zeros)
        fixed = pinned.copy()
        fixed[~pinned] = _in_row_space(matrix[:, ~pinned])
        determined |= fixed
    return np.asarray(unknown[determined], dtype=int)


def _in_row_space(matrix: np.ndarray) -> np.ndarray:
    """For each column i: is the unit vector e_i in the row space of ``matrix``?"""
    from scipy.linalg import qr  # SciPy only when a table needs it, not with the service

    if matrix.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    q, r, _ = qr(matrix.T, mode="economic", pivoting=True)
    diagonal = np.abs(np.diag(r))
    rank = int(np.sum(diagonal > _TOLERANCE * max(1.0, float(diagonal.max(initial=0.0)))))
    basis = q[:, :rank]
    return np.asarray(np.sum(basis * basis, axis=1) > 1 - 1e-9)


def _cone_support(matrix: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """Which zero cells some direction v (A v = 0, v >= 0 on the zeros) can increase.

    Maximise sum t_j with 0 <= t_j <= v_j <= unbounded over the zero cells: the cone is closed
    under addition and scaling, so every coordinate any cone vector can raise gets t_j = 1.
    """
    from scipy.optimize import linprog

    n_unknown = matrix.shape[1]
    zero_columns = np.flatnonzero(zeros)
    n_zero = len(zero_columns)
    objective = np.concatenate([np.zeros(n_unknown), -np.ones(n_zero)])
    equality = np.hstack([matrix, np.zeros((matrix.shape[0], n_zero))])
    link = np.zeros((n_zero, n_unknown + n_zero))
    link[np.arange(n_zero), zero_columns] = -1.0
    link[np.arange(n_zero), n_unknown + np.arange(n_zero)] = 1.0
    bounds = [(0.0, None) if zero else (None, None) for zero in zeros] + [(0.0, 1.0)] * n_zero
    result = linprog(
        objective,
        A_ub=link,
        b_ub=np.zeros(n_zero),
        A_eq=equality,
        b_eq=np.zeros(matrix.shape[0]),
        bounds=bounds,
        method="highs",
    )
    support = np.zeros(n_unknown, dtype=bool)
    solution = result.x
    if result.status == 0 and solution is not None:
        support[zero_columns] = np.asarray(solution[n_unknown:]) > 0.5
    return support
