"""Output-level disclosure checks: identifying columns and differencing between populations.

Cell rules cannot catch two risks that span whole outputs:
* an output grouped by a direct identifier (name, reference number) or by free text publishes
  identities or arbitrary personal detail, whatever its counts;
* two tables over populations that differ by a handful of people disclose that handful by
  subtraction ("differencing"), even when each table is safe on its own. The two tables may be
  in one output (counts over everyone, means over those with a value) or in two releases,
  under any agreement, by any analyst, from any version of the dataset.

A population is fingerprinted without its person keys in the clear: every key is hashed with
keyed BLAKE2b-256 (RFC 7693's keyed mode, a MAC) under the caller's ledger key, and the
population keeps the sorted 32-byte hashes and a digest of them. Equal digests mean equal
populations under one key; the symmetric difference of two populations is counted exactly on
the hashes. Anyone without the key can neither test a guessed person nor link populations.

A population may also say which cell of its tables each member is in (``cell_differencing``):
two releases over populations far apart can still be subtracted cell by cell.

The caller supplies earlier releases through a ``ReleaseLedger`` (``ReleasedPopulations`` is
the in-memory one), which hands over only populations whose size is within reach of the new
one: two populations whose sizes differ by at least the threshold cannot conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype

from .cell_differencing import CellRelease, PersonCells, cell_difference, person_cells
from .disclosure import DisclosurePolicy
from .errors import AnalysisRefused

MEMBER_HASH_BYTES = 32
SCHEME = "blake2b-256"
# Populations recorded before the keyed ledger: size and an unkeyed digest of the sorted keys.
LEGACY_SCHEME = "legacy-digest"
_PERSON = b"gov-ledger-v1"
_FINGERPRINT_PERSON = b"gov-ledger-fp"


def check_output_columns(
    group_columns: Iterable[str],
    direct_identifiers: Collection[str],
    free_text_columns: Collection[str],
) -> None:
    """Refuse an output whose group labels come from a direct-identifier or free-text column."""
    for column in group_columns:
        if column in direct_identifiers:
            raise AnalysisRefused(
                "direct_identifier", f"output would be grouped by direct identifier {column!r}"
            )
        if column in free_text_columns:
            raise AnalysisRefused("free_text", f"output would be grouped by free-text {column!r}")


def key_fingerprint(key: bytes) -> str:
    """A short, non-secret name of a ledger key (64 bits), recorded with every ledger row so a
    replaced key is noticed instead of silently comparing hashes that can never match."""
    return hashlib.blake2b(
        b"fingerprint", key=key, digest_size=8, person=_FINGERPRINT_PERSON
    ).hexdigest()


def hash_members(keys: Sequence[str], key: bytes) -> np.ndarray:
    """Sorted keyed BLAKE2b-256 hashes of the (distinct, text) person keys, as an ``S32``
    array. About a microsecond per person: a million-person register takes a second."""
    members = _keyed_hashes(keys, key)
    members.sort()
    return members


def _keyed_hashes(keys: Sequence[str], key: bytes) -> np.ndarray:
    """The keyed hashes of ``keys``, in their order."""
    if not 16 <= len(key) <= 64:
        raise ValueError("the ledger key must be 16 to 64 bytes")
    hashed = [
        hashlib.blake2b(k.encode("utf-8"), key=key, digest_size=32, person=_PERSON).digest()
        for k in keys
    ]
    return np.array(hashed, dtype=f"S{MEMBER_HASH_BYTES}")


def legacy_digest(sorted_keys: Sequence[str]) -> str:
    """The digest rows written before the keyed ledger carry (SHA-256 of the sorted keys)."""
    return hashlib.sha256("\n".join(sorted_keys).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Population:
    """The people behind one or more tables. ``members`` (sorted keyed hashes) and ``keys``
    (sorted raw keys, only when asked for) are for the caller's private ledger, never for
    publication. ``release`` is the caller's opaque reference to an earlier release; a
    population with ``compare_within_output`` false is checked against earlier releases only
    (see the matched comparison's linked cohort). An ``essential`` population is what the
    output is about: a conflict with an earlier release refuses the whole run, where other
    populations only have their tables withheld. ``former`` is the same people with integer
    keys written as the engine wrote those read with a gap ("7.0", see ``key_texts``), so that
    releases recorded in that form are compared with this one. ``cells`` says which cell of
    its tables each member falls in (``cell_differencing``), for the ledger only."""

    label: str
    size: int
    digest: str
    members: np.ndarray | None = field(default=None, repr=False, compare=False)
    keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    legacy_digest: str | None = field(default=None, repr=False, compare=False)
    scheme: str = SCHEME
    release: str | None = None
    compare_within_output: bool = True
    essential: bool = False
    former: Population | None = field(default=None, repr=False, compare=False)
    cells: PersonCells | None = field(default=None, repr=False, compare=False)

    @property
    def forms(self) -> tuple[Population, ...]:
        """This population, and the same people as ``former`` wrote them when that differs."""
        return (self,) if self.former is None else (self, self.former)

    @property
    def digests(self) -> frozenset[str]:
        """The digests an earlier release over exactly these people may carry."""
        return frozenset(form.digest for form in self.forms)

    def to_dict(self, include_members: bool = False, include_keys: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {"label": self.label, "size": self.size, "digest": self.digest}
        if include_members and self.members is not None:
            result["member_hashes"] = [value.hex() for value in self.members.tolist()]
        if include_keys and self.keys is not None:
            result["keys"] = list(self.keys)
        return result


def key_texts(person_keys: Sequence[Any] | pd.Series | np.ndarray) -> tuple[list[str], list[str]]:
    """The distinct person keys as text: sorted, as the ledger writes them; and, in no order,
    as releases written earlier may carry them (the same unless the keys are numbers).

    An integer key is written as an integer ("7") whatever type it reaches the engine as.
    Integer columns with a gap reached the engine as floats until it was handed pandas'
    nullable integers, and releases over them were recorded as "7.0": the second list is that
    form (pandas' text of the float64 value, every key as the engine then had it), so the
    same people still match them and a population one person away from them is still seen.
    """
    values = pd.Series(person_keys).dropna().reset_index(drop=True)
    if not is_numeric_dtype(values.dtype) or is_bool_dtype(values.dtype):
        keys = _sorted_distinct(values.astype(str))
        return keys, keys
    if is_integer_dtype(values.dtype):
        integers = pd.Series(values.unique())
        rest = pd.Series([], dtype="float64")
    else:
        # Beyond 2**53 a float no longer names one integer: such a float keeps its own text.
        exact = ((values % 1 == 0) & (values.abs() <= 2.0**53)).to_numpy(dtype=bool)
        integers = pd.Series(pd.unique(values[exact].astype("int64")))
        rest = values[~exact].astype("float64")
    text = integers.astype(str)
    keys = _sorted_distinct(pd.concat([text, rest.astype(str)]))
    # The float text of an integer up to 2**53 is the integer's with ".0" (from 1e16 it is
    # "1e+16"; 2**53 is below that); a larger one is rounded as the float was.
    small = (integers.abs() <= 2**53).to_numpy(dtype=bool)
    float_text = integers[~small].astype("float64").astype(str)
    former = pd.concat([text[small] + ".0", float_text, rest.astype(str)]).unique().tolist()
    return keys, former


def _row_texts(person_keys: Sequence[Any] | pd.Series | np.ndarray) -> pd.Series:
    """Each row's person key as ``key_texts`` writes it (None where it is missing)."""
    values = pd.Series(person_keys).reset_index(drop=True)
    present = values.notna().to_numpy(dtype=bool)
    text = values.astype(str).astype(object)
    numeric = is_numeric_dtype(values.dtype) and not is_bool_dtype(values.dtype)
    if numeric and not is_integer_dtype(values.dtype):
        exact = present & ((values % 1 == 0) & (values.abs() <= 2.0**53)).to_numpy(bool)
        text[exact] = values[exact].astype("int64").astype(str)
    text[~present] = None
    return text


def _sorted_distinct(text: pd.Series) -> list[str]:
    keys: list[str] = np.sort(np.asarray(text.unique(), dtype=object)).tolist()
    return keys


def population_of(
    label: str,
    person_keys: Sequence[Any] | pd.Series | np.ndarray,
    key: bytes,
    *,
    keep_keys: bool = False,
    with_legacy_digest: bool = False,
    compare_within_output: bool = True,
    essential: bool = False,
    cells: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> Population:
    """Fingerprint a population: size, keyed member hashes and their digest; with ``cells``
    (one row per row of ``person_keys``, one column per dimension its tables are grouped by),
    which cell each member falls in, and with ``events`` (the same rows, one 0/1 column per
    outcome quantity its tables publish, ``events:<outcome>``) each member's outcomes, for the
    check within one output (never recorded).

    Keys are compared as text (``key_texts``), so the same people give the same digest whatever
    the order or duplicates of their keys. The digest is SHA-256 over the sorted member hashes,
    so it is keyed too: without the key it cannot confirm a guessed set of people.
    """
    keys, former_keys = key_texts(person_keys)

    def fingerprint(keys: list[str], members: np.ndarray | None = None) -> Population:
        members = hash_members(keys, key) if members is None else members
        return Population(
            label=label,
            size=len(keys),
            digest=hashlib.sha256(members.tobytes()).hexdigest(),
            members=members,
            legacy_digest=legacy_digest(sorted(keys)) if with_legacy_digest else None,
        )

    placed = None
    if cells is None:
        population = fingerprint(keys)
    else:
        # Each row hashed (rows are people, so this is the hashing the keys need anyway),
        # and each row's member found by the sort that orders the members.
        texts = _row_texts(person_keys)
        present = texts.notna().to_numpy(dtype=bool)
        members, inverse = np.unique(
            _keyed_hashes(texts[present].tolist(), key), return_inverse=True
        )
        positions = np.full(len(texts), -1, dtype=np.int64)
        positions[present] = inverse
        population = fingerprint(keys, members)
        placed = person_cells(
            cells.reset_index(drop=True),
            positions,
            len(members),
            None if events is None else events.reset_index(drop=True),
        )
    population = replace(
        population,
        keys=tuple(keys) if keep_keys else None,
        compare_within_output=compare_within_output,
        essential=essential,
        cells=placed,
    )
    if former_keys is keys:
        return population
    return replace(population, former=fingerprint(former_keys))


@dataclass(frozen=True)
class DifferencingConflict:
    """An earlier population the new one differs from by too few people."""

    released_label: str
    release: str | None
    only_in_new: int | None
    only_in_released: int | None
    exact: bool
    # The cells both releases publish where one side differs by too few people; None when the
    # whole populations are too close. ``outcome_cells`` of them differ by enough people but
    # by too few of an outcome's events (or non-events).
    cells: int | None = None
    outcome_cells: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "released_label": self.released_label,
            "release": self.release,
            "only_in_new": self.only_in_new,
            "only_in_released": self.only_in_released,
            "exact": self.exact,
            "cells": self.cells,
            "outcome_cells": self.outcome_cells,
        }


def common_members(first: np.ndarray, second: np.ndarray) -> int:
    """How many hashes two sorted, duplicate-free hash arrays share."""
    if not len(first) or not len(second):
        return 0
    small, large = (first, second) if len(first) <= len(second) else (second, first)
    position = np.minimum(np.searchsorted(large, small), len(large) - 1)
    return int(np.count_nonzero(large[position] == small))


def differencing_conflicts(
    new: Population, earlier: Iterable[Population], minimum: int
) -> list[DifferencingConflict]:
    """Earlier populations whose difference from ``new`` is 1..minimum-1 people.

    With member hashes on both sides the difference is the symmetric difference (people in
    exactly one of the two populations): subtracting two tables reveals the statistics of a
    group no larger than that. Rows from before the keyed ledger have only a size and an
    unkeyed digest: an identical population (same digest) is no risk; otherwise a size gap of
    0..minimum-1 is flagged as a possible conflict (``exact`` false), because the symmetric
    difference cannot be counted.
    """
    conflicts: list[DifferencingConflict] = []
    for other in earlier:
        if abs(new.size - other.size) >= minimum:
            continue
        if other.members is not None and new.members is not None:
            if other.digest in new.digests:
                continue
            # An earlier release wrote each key in one form: a person it shares with the new
            # population matches one form's hash, never both, so the counts add up.
            shared = sum(
                common_members(form.members, other.members)
                for form in new.forms
                if form.members is not None
            )
            only_new, only_old = new.size - shared, other.size - shared
            if 0 < only_new + only_old < minimum:
                conflicts.append(
                    DifferencingConflict(other.label, other.release, only_new, only_old, True)
                )
        elif other.digest not in {form.legacy_digest for form in new.forms}:
            conflicts.append(DifferencingConflict(other.label, other.release, None, None, False))
    return conflicts


def cell_conflicts(
    new: Population,
    tables: Sequence[Mapping[str, Any]],
    earlier: Iterable[CellRelease],
    minimum: int,
    policy: DisclosurePolicy | None = None,
) -> list[DifferencingConflict]:
    """Earlier releases that ``new`` and its ``tables`` (as ``ResultTable.to_dict``) can be
    subtracted from cell by cell to describe 1 to minimum-1 people (``cell_differencing``);
    with ``policy``, also outcome counts that ``policy`` would suppress, where both sides
    carry their members' outcomes."""
    if new.cells is None or new.members is None:
        return []
    conflicts = []
    for other in earlier:
        found = cell_difference(new.members, new.cells, tables, other, minimum, policy)
        if found is not None:
            conflicts.append(
                DifferencingConflict(
                    other.label,
                    other.release,
                    found.only_in_new,
                    found.only_in_released,
                    True,
                    found.cells,
                    found.outcome_cells,
                )
            )
    return conflicts


DIFFERENCING_HINT = (
    "To go ahead, analyse exactly the same people as the earlier release, or a population that "
    "differs from it by at least {minimum} people (for example a wider or narrower grouping, "
    "another outcome column without missing values, or a cohort file that adds or removes at "
    "least {minimum} people)."
)


CELL_HINT = (
    "To go ahead, analyse exactly the same people as the earlier release, or group them so "
    "that in every cell the two tables share the people added or left out number none or at "
    "least {minimum} (for example a coarser grouping, or leaving out a larger group)."
)


OUTCOME_HINT = (
    " Where both tables publish an outcome's count, the people added or left out in a cell "
    "must also count none or at least {minimum} with the outcome and without it, or the "
    "difference would say how many of them had it: group them more coarsely, or analyse the "
    "same people as the earlier release."
)


class DifferencingRefused(AnalysisRefused):
    """A release refused because its population is too close to an earlier one. ``conflicts``
    name the earlier releases for the caller, who shows them only to people allowed to see
    them; the message itself never names them."""

    def __init__(
        self, population: Population, conflicts: list[DifferencingConflict], minimum: int
    ) -> None:
        kind = "an earlier release" if len(conflicts) == 1 else f"{len(conflicts)} earlier releases"
        exact = all(conflict.exact for conflict in conflicts)
        if any(conflict.outcome_cells for conflict in conflicts):
            hint = CELL_HINT + OUTCOME_HINT
            gap = (
                f"1 to {minimum - 1} people in a cell both publish, or by 1 to {minimum - 1} of "
                "an outcome's events (or non-events) there"
            )
        elif any(conflict.cells for conflict in conflicts):
            hint, gap = CELL_HINT, f"1 to {minimum - 1} people in a cell both publish"
        else:
            hint = DIFFERENCING_HINT
            gap = ("fewer than" if exact else "possibly fewer than") + f" {minimum} people"
        super().__init__(
            "differencing",
            # Never the population's size: with the earlier release's, it is the difference.
            f"the population {population.label!r} differs from "
            f"{kind} of the same people by {gap}, so subtracting one from "
            "the other could describe those people; nothing was released. "
            + hint.format(minimum=minimum),
        )
        self.population = population
        self.conflicts = conflicts


def require_no_differencing(
    new: Population, earlier: Iterable[Population], policy: DisclosurePolicy
) -> None:
    """Raise ``DifferencingRefused`` when ``differencing_conflicts`` finds anything."""
    conflicts = differencing_conflicts(new, earlier, policy.min_cell_size)
    if conflicts:
        raise DifferencingRefused(new, conflicts, policy.min_cell_size)


class ReleaseLedger(Protocol):
    """What the engine needs from the caller's record of earlier releases."""

    @property
    def wants_legacy_digest(self) -> bool:
        """True when some earlier population has only a legacy (unkeyed) digest."""

    def near(self, size: int, minimum: int) -> Iterable[Population]:
        """Earlier populations whose size is within ``minimum - 1`` of ``size``."""

    def tables_over(self, population: Population) -> Sequence[Mapping[str, Any]]:
        """Released tables (as ``ResultTable.to_dict``) over exactly this population."""

    def cell_releases(self) -> Iterable[CellRelease]:
        """Every earlier population that records its members' cells, with its tables."""


@dataclass(frozen=True)
class ReleasedPopulations:
    """An in-memory ``ReleaseLedger``: earlier populations and, by population digest, the
    tables released over them."""

    populations: tuple[Population, ...] = ()
    tables: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def wants_legacy_digest(self) -> bool:
        return any(p.members is None for p in self.populations)

    def near(self, size: int, minimum: int) -> Iterable[Population]:
        return [p for p in self.populations if abs(p.size - size) < minimum]

    def tables_over(self, population: Population) -> Sequence[Mapping[str, Any]]:
        return [table for digest in population.digests for table in self.tables.get(digest, ())]

    def cell_releases(self) -> Iterable[CellRelease]:
        return [
            CellRelease(p.label, p.release, p.members, p.cells, self.tables.get(p.digest, ()))
            for p in self.populations
            if p.cells is not None and p.members is not None
        ]
