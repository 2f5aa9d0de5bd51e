"""Differencing cell by cell: two releases over overlapping populations, subtracted.

Two tables over populations far apart (everyone, and everyone but fraud offenders) pass the
population check, yet subtracting them cell by cell gives, in each cell both publish, the
number of fraud offenders there. So for every earlier release over the same people, the new
release is checked cell by cell: in each cell published (unsuppressed) by a table of each,
the people in that cell of the new population but not of the earlier one, and those in the
earlier one's but not the new one's, must each be none or at least the minimum cell size.

A cell is named by its labels with the margins left out (``{"region": "london"}`` is the
region's margin of a table by region and sex, and the cell of a table by region alone); its
people are those of the population whose labels agree on those dimensions. To know which of an
earlier release's people fell in which cell, a population carries ``PersonCells``: for each
of its members (in the order of the sorted keyed member hashes) the level of each dimension its
tables are grouped by. The ledger keeps them beside the member hashes, sealed under a subkey of
the ledger key: keyed hashes and cell levels, never a person key
(docs/decisions/analysis-ledger.md).

A population may also carry its members' outcomes (``events``): two tables that both publish
an outcome's count (``events:<outcome>``) in a cell must then not differ there, on either side,
by an event count (or a non-event count) that a single table would suppress
(``disclosure.threshold_failures`` of the difference). The check runs between two populations
of one output (counts over everyone, means over those with a value) and against earlier
releases, whose rows keep one bit per member and outcome their tables publish, sealed apart
from the cells (``pack_events``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .disclosure import TOTAL_LABEL, DisclosurePolicy, threshold_failures
from .tabulation import level_codes

CODE_TYPE = np.dtype("<u2")  # a table has at most 5,000 cells, so a level fits 16 bits
Cell = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PersonCells:
    """The level of each dimension for each member of a population: ``codes[i, j]`` indexes
    ``labels[j]`` for the population's i-th member hash (sorted) and ``dimensions[j]``.
    ``events`` maps an outcome's quantity (``events:<outcome>``) to each member's 0/1 in the
    same order; ``pack`` writes the levels only, ``pack_events`` the outcomes (the ledger seals
    each apart, so that one cannot be opened in the other's place)."""

    dimensions: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    codes: np.ndarray
    events: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)

    def pack(self) -> bytes:
        return np.ascontiguousarray(self.codes, dtype=CODE_TYPE).tobytes()

    def pack_events(self, quantities: Collection[str]) -> bytes | None:
        """The outcomes of ``quantities`` (those the population's tables publish) this carries,
        one bit per member each (``np.packbits``, member order), after a header naming them;
        None when it carries none of them."""
        chosen = sorted(set(quantities) & set(self.events))
        if not chosen:
            return None
        header = json.dumps(chosen).encode()
        bits = [np.packbits(self.events[quantity] != 0).tobytes() for quantity in chosen]
        return len(header).to_bytes(4, "big") + header + b"".join(bits)

    @classmethod
    def unpack(
        cls,
        dimensions: Sequence[str],
        labels: Sequence[Sequence[str]],
        blob: bytes,
        events: bytes | None = None,
    ) -> PersonCells:
        """The cells ``pack`` wrote, with the outcomes ``pack_events`` wrote (``events``)."""
        codes = np.frombuffer(blob, dtype=CODE_TYPE).reshape(-1, len(dimensions))
        outcomes = {} if events is None else _unpack_events(events, len(codes))
        return cls(tuple(dimensions), tuple(tuple(level) for level in labels), codes, outcomes)


def _unpack_events(blob: bytes, size: int) -> dict[str, np.ndarray]:
    length = int.from_bytes(blob[:4], "big")
    quantities = json.loads(blob[4 : 4 + length])
    width = (size + 7) // 8
    bits = np.frombuffer(blob, dtype=np.uint8, offset=4 + length)
    if len(bits) != width * len(quantities):
        raise ValueError("the outcomes do not match the population's size")
    return {
        quantity: np.unpackbits(bits[i * width : (i + 1) * width], count=size).astype(np.int8)
        for i, quantity in enumerate(quantities)
    }


def person_cells(
    frame: pd.DataFrame,
    positions: np.ndarray,
    size: int,
    events: pd.DataFrame | None = None,
) -> PersonCells | None:
    """``PersonCells`` of a population of ``size`` members from ``frame`` (one row per row of
    the population's keys, one column per dimension), ``positions`` giving each row's member
    (-1: a row without a key). Levels are labelled as the tables label them (tabulation.py).
    ``events`` (the same rows, one 0/1 column per quantity ``events:<outcome>``) places each
    member's outcomes."""
    dimensions = tuple(str(column) for column in frame.columns)
    if not dimensions:
        return None
    kept = positions >= 0
    outcomes = {} if events is None else _placed_events(events, positions, size)
    codes = np.zeros((size, len(dimensions)), dtype=CODE_TYPE)
    labels = []
    for column, dimension in enumerate(frame.columns):
        found, names = level_codes(frame[dimension])
        if len(names) > np.iinfo(CODE_TYPE).max:
            return None  # no table can be grouped by so many levels
        codes[positions[kept], column] = found[kept]
        labels.append(tuple(names))
    return PersonCells(dimensions, tuple(labels), codes, outcomes)


def _placed_events(events: pd.DataFrame, positions: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Each member's 0/1 per outcome column of ``events`` (rows placed by ``positions``)."""
    kept = positions >= 0
    outcomes = {}
    for quantity in events.columns:
        values = np.zeros(size, dtype=np.int8)
        happened = pd.to_numeric(events[quantity], errors="coerce").fillna(0).to_numpy() != 0
        values[positions[kept]] = happened[kept]
        outcomes[str(quantity)] = values
    return outcomes


@dataclass(frozen=True)
class CellRelease:
    """An earlier release's population with its cells, and its tables over it (as stored,
    ``ResultTable.to_dict``)."""

    label: str
    release: str | None
    members: np.ndarray
    cells: PersonCells
    tables: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class CellDifference:
    """The cells two releases both publish where one side's people differ by too few, or
    (``outcome_cells`` of them) where their outcome counts do."""

    cells: int
    only_in_new: int
    only_in_released: int
    outcome_cells: int = 0


def published_cells(
    tables: Iterable[Mapping[str, Any]], dimensions: Sequence[str], quantity: str | None = None
) -> set[Cell]:
    """The cells (labels without margins) some table publishes, of tables whose dimensions are
    all among ``dimensions`` (the others' cells cannot be placed); with ``quantity``, of the
    tables that publish it (``measures``, as ``ResultTable.to_dict`` names them)."""
    known = set(dimensions)
    found: set[Cell] = set()
    for table in tables:
        if not set(table.get("dimensions", [])) <= known:
            continue
        if quantity is not None and quantity not in table.get("measures", {}).values():
            continue
        for cell in table.get("cells", []):
            if not cell["disclosure"]["suppressed"]:
                found.add(_cell(cell["labels"]))
    return found


def _cell(labels: Mapping[str, Any]) -> Cell:
    return tuple(sorted((str(k), str(v)) for k, v in labels.items() if v != TOTAL_LABEL))


def cell_difference(
    members: np.ndarray,
    cells: PersonCells,
    tables: Sequence[Mapping[str, Any]],
    earlier: CellRelease,
    minimum: int,
    policy: DisclosurePolicy | None = None,
) -> CellDifference | None:
    """How the new population (``members``, ``cells``, its ``tables``) and an earlier release
    differ in the cells both publish; None when no such cell differs, on either side, by 1 to
    ``minimum`` - 1 people. With ``policy``, and outcomes on both sides, a cell where both
    publish an outcome's count also fails when either side's events or non-events are what
    ``policy`` would suppress in a single rate table (``_outcome_failures``)."""
    shared = published_cells(tables, cells.dimensions) & published_cells(
        earlier.tables, earlier.cells.dimensions
    )
    if not shared:
        return None
    outcomes = _shared_outcomes(cells, tables, earlier, policy)
    in_earlier = _positions(members, earlier.members)
    in_new = _positions(earlier.members, members)
    # Per outcome, the members whose outcome is not the same on the other side: found once,
    # so that each group of cells counts only the few members of the difference.
    changed = {
        quantity: (
            _moved(cells.events[quantity], earlier.cells.events[quantity], in_earlier),
            _moved(earlier.cells.events[quantity], cells.events[quantity], in_new),
        )
        for quantity in outcomes
    }
    by_dimensions: dict[tuple[str, ...], list[Cell]] = {}
    for cell in shared:
        by_dimensions.setdefault(tuple(name for name, _ in cell), []).append(cell)
    failing = by_outcome = 0
    for dimensions, wanted in by_dimensions.items():
        indexes = _level_indexes(cells, earlier.cells, dimensions)
        new_keys, old_keys = _keys(cells, earlier.cells, dimensions, indexes)
        moved_new = _moved(new_keys, old_keys, in_earlier)
        moved_old = _moved(old_keys, new_keys, in_new)
        only_new, only_old = _tally(new_keys[moved_new]), _tally(old_keys[moved_old])
        keys = [_key_of(cell, dimensions, indexes) for cell in wanted]
        small = np.array(
            [
                any(0 < counts.get(key, 0) < minimum for counts in (only_new, only_old))
                for key in keys
            ],
            dtype=bool,
        )
        outcome = np.zeros(len(wanted), dtype=bool)
        for quantity, published in outcomes.items():
            chosen = np.array([cell in published for cell in wanted], dtype=bool)
            if policy is not None and chosen.any():
                outcome |= chosen & _outcome_failures(
                    (new_keys, cells.events[quantity], moved_new | changed[quantity][0]),
                    (old_keys, earlier.cells.events[quantity], moved_old | changed[quantity][1]),
                    keys,
                    policy,
                )
        failing += int(np.count_nonzero(small | outcome))
        by_outcome += int(np.count_nonzero(outcome & ~small))
    if not failing:
        return None
    return CellDifference(
        failing,
        int(np.count_nonzero(in_earlier < 0)),
        int(np.count_nonzero(in_new < 0)),
        by_outcome,
    )


def _shared_outcomes(
    cells: PersonCells,
    tables: Sequence[Mapping[str, Any]],
    earlier: CellRelease,
    policy: DisclosurePolicy | None,
) -> dict[str, set[Cell]]:
    """Per outcome both sides know their members' values of: the cells where a table of each
    publishes its count."""
    if policy is None:
        return {}
    found = {}
    for quantity in set(cells.events) & set(earlier.cells.events):
        both = published_cells(tables, cells.dimensions, quantity) & published_cells(
            earlier.tables, earlier.cells.dimensions, quantity
        )
        if both:
            found[quantity] = both
    return found


Side = tuple[np.ndarray, np.ndarray, np.ndarray]


def _outcome_failures(
    new: Side, old: Side, keys: Sequence[int], policy: DisclosurePolicy
) -> np.ndarray:
    """Per cell key: whether the people on either side of the difference (``new`` and ``old``:
    each member's cell key, outcome, and whether its cell or its outcome is not the same on
    the other side, so a person whose outcome differs counts on both), taken as a rate cell of
    their own, fail ``policy``'s threshold (its events, or non-events, 1 to minimum - 1; or 0
    when zeros are disclosive)."""
    failing = np.zeros(len(keys), dtype=bool)
    for own, events, differs in (new, old):
        chosen = np.flatnonzero(differs)
        counts = _tally(own[chosen] * 2 + events[chosen])
        with_event = np.array([counts.get(2 * key + 1, 0) for key in keys], dtype=float)
        without = np.array([counts.get(2 * key, 0) for key in keys], dtype=float)
        people = with_event + without
        sides = pd.DataFrame({"count": people, "events": with_event})
        failing |= (people > 0) & threshold_failures(sides, "rate", policy)
    return failing


def _positions(members: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each of ``members`` (sorted hashes), its position in ``other``, or -1. Searched on
    the hashes' first 8 bytes (as big-endian integers they sort as the hashes do, and compare
    three times faster); the rare hash sharing its prefix with another is searched in full."""
    if not len(other):
        return np.full(len(members), -1, dtype=np.int64)
    prefixes, wanted = _prefix(other), _prefix(members)
    found = np.minimum(np.searchsorted(prefixes, wanted), len(other) - 1)
    exact = other[found] == members
    tied = ~exact & (prefixes[found] == wanted)
    if tied.any():
        found[tied] = np.minimum(np.searchsorted(other, members[tied]), len(other) - 1)
        exact[tied] = other[found[tied]] == members[tied]
    return np.where(exact, found, -1)


def _prefix(hashes: np.ndarray) -> np.ndarray:
    rows = hashes.view(np.uint8).reshape(-1, hashes.dtype.itemsize)[:, :8]
    return np.ascontiguousarray(rows).view(">u8").ravel()


def _level_indexes(
    first: PersonCells, second: PersonCells, dimensions: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    """Each dimension's levels in either population, sorted, as positions by name: built once
    per group of cells, for the members' keys and every cell's key alike."""
    indexes = {}
    for dimension in dimensions:
        names = first.labels[first.dimensions.index(dimension)]
        both = sorted(set(names) | set(second.labels[second.dimensions.index(dimension)]))
        indexes[dimension] = {name: position for position, name in enumerate(both)}
    return indexes


def _keys(
    new: PersonCells,
    old: PersonCells,
    dimensions: tuple[str, ...],
    indexes: Mapping[str, Mapping[str, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """One integer per member naming its cell on ``dimensions``, comparable across the two."""
    keys = []
    for cells in (new, old):
        key = np.zeros(len(cells.codes), dtype=np.int64)
        for dimension in dimensions:
            index = indexes[dimension]
            own = cells.labels[cells.dimensions.index(dimension)]
            remap = np.array([index[name] for name in own] or [0], dtype=np.int64)
            column = cells.codes[:, cells.dimensions.index(dimension)].astype(np.int64)
            key = key * len(index) + remap[column]
        keys.append(key)
    return keys[0], keys[1]


def _key_of(
    cell: Cell, dimensions: tuple[str, ...], indexes: Mapping[str, Mapping[str, int]]
) -> int:
    labels = dict(cell)
    key = 0
    for dimension in dimensions:
        position = indexes[dimension].get(labels[dimension])
        if position is None:
            return -1
        key = key * len(indexes[dimension]) + position
    return key


def _moved(own: np.ndarray, other: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The members whose value here (a cell key, an outcome) is not theirs there (absent
    there, or there with another value)."""
    found = positions >= 0
    same = np.zeros(len(own), dtype=bool)
    same[found] = other[positions[found]] == own[found]
    return ~same


def _tally(values: np.ndarray) -> dict[int, int]:
    """Per value (a cell key): how many members have it."""
    keys, counts = np.unique(values, return_counts=True)
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))
