"""Matching treated units to comparison units on a one-dimensional propensity score.

Owned here: the matching options (with their defaults), the caliper, and three algorithms —
greedy nearest neighbour without replacement, nearest neighbour with replacement, and radius
matching — each returning ATT weights. Every search runs on the sorted control scores
(``numpy.searchsorted`` plus, for the greedy search, "next free control" pointers with path
compression), so 1,000 treated against 1,000,000 controls takes well under a second.

Conventions (documented in docs/analysis.md):
* a control is within the caliper when t - w <= c <= t + w, w = caliper x SD of the score;
* ties in distance go to the control with the lower score, then to the earlier data row;
* ATT weights: each matched treated unit has weight 1 and shares weight 1 among its controls
  (1/m each for m controls); a control's weight is the sum over the treated it serves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import AnalysisParameterError

REASON_CALIPER = "no_control_within_caliper"
REASON_EXHAUSTED = "no_control_left"
METHODS = ("nearest", "radius")
ORDERS = ("largest", "smallest", "data", "random")
DISTANCES = ("logit", "propensity")
SD_CHOICES = ("pooled", "all")
VARIANCES = ("abadie_imbens", "welch")


@dataclass(frozen=True)
class MatchingOptions:
    """How to match. Defaults follow Austin (2011): 1:1 greedy nearest neighbour without
    replacement on the logit of the propensity score, caliper 0.2 pooled SDs of that logit,
    treated units taken in descending propensity order (as R MatchIt's ``m.order = "largest"``).

    method: "nearest" (k nearest neighbours) or "radius" (every control within the caliper).
    neighbours: k for nearest-neighbour matching.
    replace: whether a control may serve several treated units (nearest only; radius always
        reuses controls).
    caliper: width in standard deviations of the matching score, or None for no caliper.
    caliper_sd: "pooled" = sqrt((s_t^2 + s_c^2) / 2) (Austin 2011); "all" = SD over all units.
    distance: "logit" (linear predictor) or "propensity" (the probability, as MatchIt does).
    order: greedy order of treated units: "largest", "smallest", "data" or "random".
    smd_denominator: "pooled" (Austin 2009) or "treated" (MatchIt's ATT default).
    variance: standard errors of the ATT: "abadie_imbens" (Abadie & Imbens 2006, counting the
        reuse of controls and the matched pairs; see matching_variance.py) or "welch" (the
        weighted Welch / two-proportion tests, which ignore both).
    """

    method: str = "nearest"
    neighbours: int = 1
    replace: bool = False
    caliper: float | None = 0.2
    caliper_sd: str = "pooled"
    distance: str = "logit"
    order: str = "largest"
    random_seed: int = 0
    smd_denominator: str = "pooled"
    variance: str = "abadie_imbens"

    def __post_init__(self) -> None:
        choices = {
            "method": METHODS,
            "order": ORDERS,
            "distance": DISTANCES,
            "caliper_sd": SD_CHOICES,
            "smd_denominator": ("pooled", "treated"),
            "variance": VARIANCES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise AnalysisParameterError(name, f"must be one of {', '.join(allowed)}")
        if (
            isinstance(self.neighbours, bool)
            or not isinstance(self.neighbours, int)
            or self.neighbours < 1
        ):
            raise AnalysisParameterError("neighbours", "must be a positive integer")
        if self.caliper is not None and not float(self.caliper) > 0:
            raise AnalysisParameterError("caliper", "must be positive or None")
        if self.method == "radius" and self.caliper is None:
            raise AnalysisParameterError("caliper", "radius matching needs a caliper")

    @classmethod
    def matchit_defaults(cls) -> MatchingOptions:
        """R MatchIt's ``matchit(treat ~ ..., method = "nearest")`` defaults."""
        return cls(caliper=None, distance="propensity", caliper_sd="all", smd_denominator="treated")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MatchAssignment:
    """Outcome of matching, indexed by position in the treated and control score arrays."""

    control_weights: np.ndarray
    treated_matched: np.ndarray
    unmatched_reason: list[str | None]
    controls_per_treated: np.ndarray
    pair_treated: np.ndarray
    pair_control: np.ndarray
    caliper_width: float | None
    # Per control: the sum over the treated it serves of 1 / (that treated's controls)^2; the
    # Abadie-Imbens variance needs it beside the weight (the sum of 1 / controls).
    control_square_shares: np.ndarray
    # Radius matching keeps no pairs: each treated unit's controls are the window
    # [low, high) of the controls sorted by score (``control_order``).
    radius_windows: tuple[np.ndarray, np.ndarray] | None
    control_order: np.ndarray


def caliper_width(
    treated: np.ndarray, control: np.ndarray, options: MatchingOptions
) -> float | None:
    """Caliper in score units: ``caliper`` times the chosen SD of the matching score."""
    if options.caliper is None:
        return None
    if options.caliper_sd == "pooled":
        spread = np.sqrt((np.var(treated, ddof=1) + np.var(control, ddof=1)) / 2)
    else:
        spread = np.std(np.concatenate([treated, control]), ddof=1)
    return float(options.caliper * spread)


def match_scores(
    treated: np.ndarray, control: np.ndarray, options: MatchingOptions
) -> MatchAssignment:
    """Match treated scores to control scores according to ``options``."""
    treated = np.asarray(treated, dtype=float)
    control = np.asarray(control, dtype=float)
    width = caliper_width(treated, control, options)
    by_score = np.argsort(control, kind="stable")
    sorted_scores = control[by_score]
    windows: tuple[np.ndarray, np.ndarray] | None = None
    if options.method == "radius":
        assert width is not None
        weights_sorted, squares_sorted, counts, windows = _radius(treated, sorted_scores, width)
        pairs = (np.array([], dtype=int), np.array([], dtype=int))
    else:
        if options.replace:
            pair_t, pair_c = _nearest_with_replacement(
                treated, sorted_scores, options.neighbours, width
            )
        else:
            order = _treated_order(treated, options)
            pair_t, pair_c = _greedy_without_replacement(
                treated, sorted_scores, options.neighbours, width, order
            )
        counts = np.bincount(pair_t, minlength=len(treated))
        weights_sorted = np.bincount(
            pair_c, weights=1.0 / counts[pair_t], minlength=len(control)
        ).astype(float)
        squares_sorted = np.bincount(
            pair_c, weights=1.0 / counts[pair_t] ** 2, minlength=len(control)
        ).astype(float)
        pairs = (pair_t, by_score[pair_c])
    weights = np.zeros(len(control))
    weights[by_score] = weights_sorted
    squares = np.zeros(len(control))
    squares[by_score] = squares_sorted
    reasons: list[str | None] = [None] * len(treated)
    for position in np.flatnonzero(counts == 0):
        reasons[int(position)] = _unmatched_reason(float(treated[position]), sorted_scores, width)
    return MatchAssignment(
        weights, counts > 0, reasons, counts, pairs[0], pairs[1], width, squares, windows, by_score
    )


def _unmatched_reason(score: float, sorted_scores: np.ndarray, width: float | None) -> str:
    """Caliper when no control at all lies within reach; otherwise the ones in reach were
    all taken by earlier treated units (matching without replacement)."""
    if width is None:
        return REASON_EXHAUSTED
    position = int(np.searchsorted(sorted_scores, score - width, "left"))
    in_reach = position < len(sorted_scores) and sorted_scores[position] <= score + width
    return REASON_EXHAUSTED if in_reach else REASON_CALIPER


def _treated_order(treated: np.ndarray, options: MatchingOptions) -> np.ndarray:
    if options.order == "largest":
        return np.argsort(-treated, kind="stable")
    if options.order == "smallest":
        return np.argsort(treated, kind="stable")
    if options.order == "random":
        return np.random.default_rng(options.random_seed).permutation(len(treated))
    return np.arange(len(treated))


def _within(control: np.ndarray, score: np.ndarray | float, width: float | None) -> np.ndarray:
    if width is None:
        return np.ones(np.shape(control), dtype=bool)
    return np.asarray((control >= score - width) & (control <= score + width))


def _nearest_with_replacement(
    treated: np.ndarray, sorted_scores: np.ndarray, k: int, width: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest controls of every treated unit at once, among the k nearest distinct score
    values on each side (and the first k controls holding each value)."""
    values, run_start, run_count = np.unique(sorted_scores, return_index=True, return_counts=True)
    slot = np.searchsorted(values, treated, "left")
    value_index = slot[:, None] + np.arange(-k, k)[None, :]
    valid_value = (value_index >= 0) & (value_index < len(values))
    value_index = np.clip(value_index, 0, max(len(values) - 1, 0))
    offsets = np.arange(k)
    candidates = (run_start[value_index][:, :, None] + offsets[None, None, :]).reshape(
        len(treated), -1
    )
    valid = valid_value[:, :, None] & (offsets[None, None, :] < run_count[value_index][:, :, None])
    valid = valid.reshape(len(treated), -1)
    candidates = np.where(valid, candidates, 0)
    scores = sorted_scores[candidates] if len(sorted_scores) else np.zeros(candidates.shape)
    distance = np.where(valid, np.abs(scores - treated[:, None]), np.inf)
    chosen = np.argsort(distance, axis=1, kind="stable")[:, :k]
    chosen_distance = np.take_along_axis(distance, chosen, axis=1)
    chosen_control = np.take_along_axis(candidates, chosen, axis=1)
    ok = np.isfinite(chosen_distance) & _within(
        np.take_along_axis(scores, chosen, axis=1), treated[:, None], width
    )
    pair_t = np.repeat(np.arange(len(treated)), k)[ok.ravel()]
    return pair_t, chosen_control.ravel()[ok.ravel()]


def _find(parent: list[int], item: int) -> int:
    root = item
    while parent[root] != root:
        root = parent[root]
    while parent[item] != root:
        parent[item], item = root, parent[item]
    return root


def _greedy_without_replacement(
    treated: np.ndarray, sorted_scores: np.ndarray, k: int, width: float | None, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching in rounds (every treated unit's 1st match, then 2nd, ...), as MatchIt."""
    n_controls = len(sorted_scores)
    free_right = list(range(n_controls + 1))  # smallest free position >= i (n_controls: none)
    free_left = list(range(n_controls + 1))  # index i+1 -> largest free position <= i (0: none)
    starts: Any = (
        np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]) if n_controls else []
    )
    run_start = np.repeat(starts, np.diff(np.r_[starts, n_controls])).tolist() if n_controls else []
    slots = np.searchsorted(sorted_scores, treated, "left").tolist()
    scores = sorted_scores.tolist()
    pair_t: list[int] = []
    pair_c: list[int] = []
    active = [int(i) for i in order]
    for _ in range(k):
        still_active = []
        for unit in active:
            score = float(treated[unit])
            right = _find(free_right, slots[unit])
            left = _find(free_left, slots[unit]) - 1
            if left >= 0:
                left = _find(free_right, run_start[left])
            best = -1
            if left >= 0 and (right >= n_controls or score - scores[left] <= scores[right] - score):
                best = left
            elif right < n_controls:
                best = right
            if best < 0 or (
                width is not None and not score - width <= scores[best] <= score + width
            ):
                continue
            pair_t.append(unit)
            pair_c.append(best)
            free_right[best] = best + 1
            free_left[best + 1] = best
            still_active.append(unit)
        active = still_active
    return np.array(pair_t, dtype=int), np.array(pair_c, dtype=int)


def _radius(
    treated: np.ndarray, sorted_scores: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """All controls within the caliper, each treated unit sharing weight 1 among its controls:
    the controls' weights and square shares (by difference arrays), counts and windows."""
    low = np.searchsorted(sorted_scores, treated - width, "left")
    high = np.searchsorted(sorted_scores, treated + width, "right")
    counts = high - low
    share = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    sums = []
    for part in (share, share * share):
        steps = np.zeros(len(sorted_scores) + 1)
        np.add.at(steps, low, part)
        np.add.at(steps, high, -part)
        sums.append(np.cumsum(steps)[:-1])
    return sums[0], sums[1], counts, (low, high)
