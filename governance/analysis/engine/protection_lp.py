"""The linear programmes behind the protection intervals (protection.py): the programme for one
suppression pattern, witnesses that certify many hidden counts at once, and exact minima and
maxima for the rest, within a budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

from .protection_network import NetworkIntervals
from .protection_system import TOLERANCE, Expression, System

# Hidden counts left uncertified after the witnesses get two exact LPs each, up to this many
# per round; beyond it they are all treated as too narrow (see ``intervals``).
EXACT_BUDGET = 60
# At most this many witness programmes per round (they stop earlier once they stall).
_PUSH_ROUNDS = 40
_CHUNK = 16
_CHUNKED_LIMIT = 20 * EXACT_BUDGET


@dataclass
class Program:
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
    def of(cls, system: System, known: Mapping[int, tuple[float, float]]) -> Program:
        from scipy import sparse

        fixed = {q: low for q, (low, high) in known.items() if high - low <= TOLERANCE}
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
        from scipy import sparse
        from scipy.optimize import linprog

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
        from scipy.optimize import linprog

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


def _network_intervals(
    program: Program, targets: Sequence[Expression], width: float, seeds: Mapping[int, float]
) -> dict[int, tuple[float, float]]:
    """Exact intervals by max-flow (protection_network.py) of the targets that are single
    counts, when the programme is a network programme; empty otherwise."""
    if not program.variables or any(q not in seeds for q in program.variables):
        return {}
    start = np.array([seeds[q] for q in program.variables], dtype=float)
    network = NetworkIntervals.of(
        program.a_eq, program.b_eq, program.a_ub is not None, program.bounds, start
    )
    if network is None:
        return {}
    single = {
        i: program.column[target[0][0]]
        for i, target in enumerate(targets)
        if len(target) == 1 and target[0][1] == 1.0 and target[0][0] in program.column
    }
    found = network.intervals(list(single.values()), width)
    return dict(zip(single, found, strict=True))


def intervals(
    program: Program,
    targets: Sequence[Expression],
    width: float,
    seeds: Mapping[int, float],
) -> list[tuple[float, float]]:
    """Exact [min, max] of each target where it is narrower than ``width``; for targets
    certified wide by witnesses, the witnessed range (at least ``width``)."""
    exact = _network_intervals(program, targets, width, seeds)
    if len(exact) == len(targets):
        return [exact[i] for i in range(len(targets))]
    matrix = np.zeros((len(targets), len(program.variables)))
    offset = np.zeros(len(targets))
    for i, target in enumerate(targets):
        matrix[i], offset[i] = program.vector(target)
    low = np.full(len(targets), np.inf)
    high = np.full(len(targets), -np.inf)
    for i, (network_low, network_high) in exact.items():
        low[i], high[i] = network_low, network_high
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

    decided = np.zeros(len(targets), dtype=bool)
    decided[list(exact)] = True

    def open_targets() -> np.ndarray:
        return np.flatnonzero(~(high - low >= width - TOLERANCE) & ~decided)

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
        if todo.size <= EXACT_BUDGET or todo.size > _CHUNKED_LIMIT:
            break
        for chunk in np.array_split(todo, -(-todo.size // _CHUNK)):
            chunk = chunk[~(high[chunk] - low[chunk] >= width - TOLERANCE)]
            if not chunk.size:
                continue
            signs = np.full(chunk.size, sign)
            limits = np.where(signs > 0, offset[chunk] - low[chunk], high[chunk] - offset[chunk])
            witness(program.push(matrix[chunk], limits, width, signs))
    left = open_targets()
    if left.size > EXACT_BUDGET:
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
        if high[i] - low[i] >= width - TOLERANCE:
            continue
        value, x = program.solve(matrix[i])
        if value is not None:
            witness(x)
            low[i] = min(low[i], value + offset[i])
    return list(zip(low.tolist(), high.tolist(), strict=True))
