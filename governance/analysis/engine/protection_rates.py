"""Protection intervals of rate tables by maximum flow, bracketing the exact programme.

A rate output releases, per cell, a count and a count of people with the outcome (events),
linked by events <= count: not a network programme. Written in events e and non-events
n = count - e instead, every line of the counts table minus the same line of the events table
is a line of non-events, and e >= 0, n >= 0 are exactly the links; the only coupling left is a
cell whose count is published but whose events are hidden (e + n = the count). So:

* outer (a relaxation): drop those couplings; events and non-events are two independent
  networks (protection_network.py), and an interval there contains the true one, so a count it
  pins is pinned;
* inner (a restriction): hold the coupled cells at their true values (moving a coupled cell's
  events only as far as its non-events can follow the other way); a feasible range there is a
  witness, so a count it leaves wide enough is protected.

A hidden count's interval is the sum of its events' and non-events' intervals (independent).
Counts that neither decides, and programmes of other shapes (rounded or unknown earlier values,
several outcomes per count), are left to the linear programmes of protection_lp.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .protection_network import NetworkIntervals
from .protection_system import TOLERANCE, Expression, System

Interval = tuple[float, float]


def rate_intervals(
    system: System,
    known: Mapping[int, tuple[float, float]],
    seeds: Mapping[int, float],
    targets: Sequence[Expression],
    width: float,
) -> dict[int, Interval]:
    """Intervals of the targets the outer or inner networks decide (index -> interval)."""
    pairs = _pairs(system)
    if pairs is None or any(high - low > TOLERANCE for low, high in known.values()):
        return {}
    if any(q not in seeds for pair in pairs for q in pair):
        return {}
    slot = {q: p for p, pair in enumerate(pairs) for q in pair}
    events_ids = {e for e, _ in pairs}
    by_events = {(e, c) for e, c in pairs}
    events_lines: list[Expression] = []
    count_lines: list[Expression] = []
    for equation in system.equations:
        if all(q in events_ids for q, _ in equation):
            events_lines.append(equation)
        elif all(q not in events_ids for q, _ in equation):
            count_lines.append(equation)
        else:
            return {}
    partner = {c: e for e, c in by_events}
    # Non-events lines are count lines minus events lines: the two must match one to one.
    mapped = {tuple(sorted((partner[q], w) for q, w in line)) for line in count_lines}
    if mapped != set(events_lines):
        return {}
    e_true = np.array([seeds[e] for e, _ in pairs], dtype=float)
    n_true = np.array([seeds[c] - seeds[e] for e, c in pairs], dtype=float)
    e_known = np.array([e in known for e, _ in pairs])
    c_known = np.array([c in known for _, c in pairs])
    coupled = c_known & ~e_known
    lines = [tuple((slot[q], w) for q, w in line) for line in events_lines]
    networks = {}
    for name, values, fixed in (("e", e_true, e_known), ("n", n_true, c_known & e_known)):
        for frozen in (False, True):
            network = _network(lines, values, fixed, coupled if frozen else None)
            if network is None:
                return {}
            networks[name, frozen] = network
    truth = {"e": e_true, "n": n_true}
    ends = {key: _ends(network, truth[key[0]], width) for key, network in networks.items()}
    decided: dict[int, Interval] = {}
    counts = {c: p for p, (_, c) in enumerate(pairs)}
    events = {e: p for p, (e, _) in enumerate(pairs)}
    for i, target in enumerate(targets):
        found = _decide(target, counts, events, coupled, ends, e_true, n_true, width)
        if found is not None:
            decided[i] = found
    return decided


def _pairs(system: System) -> list[tuple[int, int]] | None:
    """(events, count) of every cell, when every quantity is in exactly one such pair."""
    pairs = list(system.links)
    quantities = [q for pair in pairs for q in pair]
    if len(set(quantities)) != len(quantities) or len(quantities) != len(system.index):
        return None
    return pairs


def _network(
    lines: list[Expression], values: np.ndarray, fixed: np.ndarray, frozen: np.ndarray | None
) -> NetworkIntervals | None:
    from scipy import sparse

    free = np.flatnonzero(~fixed)
    column = {int(p): k for k, p in enumerate(free)}
    kept = [line for line in lines if any(p in column for p, _ in line)]
    if not kept:
        return None
    triples = [(r, column[p], w) for r, line in enumerate(kept) for p, w in line if p in column]
    rhs = [-sum(w * values[p] for p, w in line if p not in column) for line in kept]
    rows, cols, data = (list(part) for part in zip(*triples, strict=True))
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(rhs), len(free)))
    network = NetworkIntervals.of(
        matrix, np.asarray(rhs), False, [(0.0, None)] * len(free), values[free]
    )
    if network is not None and frozen is not None:
        network.frozen = frozen[free]
    if network is not None:
        network.positions = column  # type: ignore[attr-defined]
    return network


def _ends(
    network: NetworkIntervals, values: np.ndarray, width: float
) -> dict[int, tuple[float, float]]:
    """How far each free cell can go (down, up) from its true value; inf where capped."""
    column: dict[int, int] = network.positions  # type: ignore[attr-defined]
    cap = np.ceil(width) + 1
    found = network.intervals(list(column.values()), width)
    result = {}
    for p, (low, high) in zip(column, found, strict=True):
        down, up = values[p] - low, high - values[p]
        result[p] = (
            np.inf if down >= cap and values[p] >= cap else down,
            np.inf if up >= cap else up,
        )
    return result


def _decide(
    target: Expression,
    counts: Mapping[int, int],
    events: Mapping[int, int],
    coupled: np.ndarray,
    ends: Mapping[tuple[str, bool], Mapping[int, tuple[float, float]]],
    e_true: np.ndarray,
    n_true: np.ndarray,
    width: float,
) -> Interval | None:
    """The target's interval if the outer network pins it or the inner one protects it."""
    if len(target) == 1 and target[0][1] == 1.0 and target[0][0] in counts:
        p = counts[target[0][0]]
        parts = ["e", "n"]
        value = e_true[p] + n_true[p]
    elif len(target) == 1 and target[0][1] == 1.0 and target[0][0] in events:
        p = events[target[0][0]]
        parts, value = ["e"], e_true[p]
    elif len(target) == 2 and target[0][0] in counts and target[1][0] in events:
        p = events[target[1][0]]
        parts, value = ["n"], n_true[p]
    elif len(target) == 2 and target[1][0] in counts and target[0][0] in events:
        p = events[target[0][0]]
        parts, value = ["n"], n_true[p]
    else:
        return None
    ranges = []
    for frozen in (False, True):
        down = up = 0.0
        for part in parts:
            if p not in ends[part, frozen]:
                continue
            d, u = ends[part, frozen][p]
            if coupled[p] and frozen:
                # Events and non-events of a coupled cell move together, opposite ways.
                other = ends["n" if part == "e" else "e", True].get(p, (0.0, 0.0))
                d, u = min(d, other[1]), min(u, other[0])
            elif coupled[p]:
                other = ends["n" if part == "e" else "e", False].get(p, (np.inf, np.inf))
                d, u = min(d, other[1]), min(u, other[0])
            down, up = down + d, up + u
        ranges.append((value - down, value + up))
    outer, inner = ranges
    if outer[1] - outer[0] < width - TOLERANCE:
        return outer
    if inner[1] - inner[0] >= width - TOLERANCE:
        return inner if np.all(np.isfinite(inner)) else (value - width, value + width)
    return None
