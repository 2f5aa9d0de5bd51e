"""Output-level disclosure checks: identifying columns and differencing between releases.

Cell rules cannot catch two risks that span a whole output:
* an output grouped by a direct identifier (name, reference number) or by free text publishes
  identities or arbitrary personal detail, whatever its counts;
* two outputs over populations that differ by a handful of people disclose that handful by
  subtraction ("differencing"), even when each output is safe on its own.

The governance layer keeps, per agreement, the population of every released output (its size,
a digest, and privately the salted member hashes); this module fingerprints populations and
flags a new output whose population differs from a released one by 1..min_cell_size-1 people.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .disclosure import DisclosurePolicy
from .errors import AnalysisRefused


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


@dataclass(frozen=True)
class Population:
    """The people behind one output. ``member_hashes`` and ``keys`` (the sorted raw person keys,
    only when asked for) are for the caller's private ledger, never for publication."""

    label: str
    size: int
    digest: str
    member_hashes: frozenset[str] | None = None
    keys: tuple[str, ...] | None = None

    def to_dict(self, include_members: bool = False, include_keys: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {"label": self.label, "size": self.size, "digest": self.digest}
        if include_members and self.member_hashes is not None:
            result["member_hashes"] = sorted(self.member_hashes)
        if include_keys and self.keys is not None:
            result["keys"] = list(self.keys)
        return result


def population_of(
    label: str,
    person_keys: Sequence[Any] | pd.Series | np.ndarray,
    salt: str = "",
    with_members: bool = True,
    keep_keys: bool = False,
) -> Population:
    """Fingerprint a population: size, SHA-256 of its sorted distinct keys, salted member hashes.

    Keys are compared as text. The digest is stable whatever the order of the keys or their
    duplicates, so the same people always give the same digest. Member hashes let the ledger
    compute exact set differences without storing raw person keys: each is a 64-bit keyed
    SipHash-2-4 (pandas' vectorised ``hash_array``) under a key derived from ``salt``, written
    as 16 hex digits; vectorised because outputs over a whole register hold a million people.
    """
    text = pd.Series(person_keys).dropna().astype(str).unique()
    keys = np.sort(np.asarray(text, dtype=object)).tolist()
    digest = hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest()
    members = None
    if with_members:
        hash_key = hashlib.sha256(salt.encode("utf-8")).hexdigest()[:16]
        hashed = pd.util.hash_array(np.asarray(keys, dtype=object), hash_key=hash_key)
        members = frozenset(f"{value:016x}" for value in hashed.tolist())
    return Population(
        label=label,
        size=len(keys),
        digest=digest,
        member_hashes=members,
        keys=tuple(keys) if keep_keys else None,
    )


@dataclass(frozen=True)
class DifferencingConflict:
    """A released population the new one differs from by too few people."""

    released_label: str
    only_in_new: int | None
    only_in_released: int | None
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "released_label": self.released_label,
            "only_in_new": self.only_in_new,
            "only_in_released": self.only_in_released,
            "exact": self.exact,
        }


def differencing_conflicts(
    new: Population, released: Iterable[Population], policy: DisclosurePolicy
) -> list[DifferencingConflict]:
    """Released populations whose difference from ``new`` is 1..min_cell_size-1 people.

    With member hashes on both sides the difference is the symmetric difference (people in
    exactly one of the two populations): subtracting two outputs reveals the statistics of a
    group no larger than that. Without them only sizes and digests are known: identical digests
    mean identical populations (no risk); otherwise the size gap is a lower bound on the
    symmetric difference, and a gap of 1..min_cell_size-1, or a same-size population with a
    different digest, is flagged as a possible conflict (``exact`` false) for a human to review.
    """
    minimum = policy.min_cell_size
    conflicts: list[DifferencingConflict] = []
    for earlier in released:
        if earlier.digest == new.digest:
            continue
        if earlier.member_hashes is not None and new.member_hashes is not None:
            only_new = len(new.member_hashes - earlier.member_hashes)
            only_old = len(earlier.member_hashes - new.member_hashes)
            if 0 < only_new + only_old < minimum:
                conflicts.append(DifferencingConflict(earlier.label, only_new, only_old, True))
        elif abs(new.size - earlier.size) < minimum:
            conflicts.append(DifferencingConflict(earlier.label, None, None, False))
    return conflicts


def require_no_differencing(
    new: Population, released: Iterable[Population], policy: DisclosurePolicy
) -> None:
    """Raise ``AnalysisRefused`` when ``differencing_conflicts`` finds anything."""
    conflicts = differencing_conflicts(new, released, policy)
    if conflicts:
        names = ", ".join(conflict.released_label for conflict in conflicts)
        raise AnalysisRefused(
            "differencing",
            f"population {new.label!r} differs from earlier output(s) {names} by fewer than "
            f"{policy.min_cell_size} people",
        )
