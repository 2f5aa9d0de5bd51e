"""How identifying a combination of columns is, computed on the data without showing a row.

A steward deciding a request for quasi-identifiers (age, sex, area, dates) needs to know how
many people the combination singles out. For the requested combination this gives:

* the share of records unique on it (equivalence classes of size 1) and the share in classes
  smaller than a threshold (the agreement's minimum cell size, by default);
* k-anonymity: the size of the smallest equivalence class (Sweeney 2002);
* distinct l-diversity of each sensitive column: the fewest distinct sensitive values in any
  class (Machanavajjhala et al. 2007); l = 1 means some class discloses its value outright;
* the same figures with each column dropped, and with each column coarsened one step (a date
  to its month, an age or other number, stored as a number or as text, to a 5-wide band, a
  code to all but its last character: a postcode to its district, an area code to the larger
  area), so the steward sees which column to narrow or coarsen; `coarsened` makes that form
  for a column granted coarsened (access/column_forms.py), so the figures are of what is read.

Missing values form their own class (a missing date is as telling as a date). The figures are
exact counts: each column is turned into integer codes once, a coarser column is made by
relabelling its distinct values (not its rows), and each combination is counted with integer
arithmetic, so a million rows and four columns with every alternative take a few seconds
(`make bench`: reid_risk_1m_s).

pycanon, the library the field uses, pins exact versions of numpy, pandas and scipy that the
service cannot take, so this small module is our own, checked against a brute-force count on
generated data in the tests (tests/analysis/test_reidentification.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import AnalysisParameterError

BAND_WIDTH = 5


@dataclass(frozen=True)
class RiskFigures:
    """The figures for one combination of quasi-identifiers."""

    columns: tuple[str, ...]
    records: int
    classes: int
    k_anonymity: int
    unique_records: int
    small_class_records: int  # records in classes smaller than `threshold`
    threshold: int
    l_diversity: Mapping[str, int] = field(default_factory=dict)
    change: str = "as requested"

    @property
    def unique_share(self) -> float:
        return self.unique_records / self.records if self.records else 0.0

    @property
    def small_class_share(self) -> float:
        return self.small_class_records / self.records if self.records else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "columns": list(self.columns),
            "change": self.change,
            "records": self.records,
            "classes": self.classes,
            "k_anonymity": self.k_anonymity,
            "unique_records": self.unique_records,
            "unique_share": round(self.unique_share, 6),
            "threshold": self.threshold,
            "small_class_records": self.small_class_records,
            "small_class_share": round(self.small_class_share, 6),
            "l_diversity": dict(self.l_diversity),
        }


@dataclass(frozen=True)
class RiskReport:
    """The requested combination, then one alternative per column dropped or coarsened."""

    requested: RiskFigures
    alternatives: tuple[RiskFigures, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "requested": self.requested.as_dict(),
            "alternatives": [a.as_dict() for a in self.alternatives],
        }


def figures(
    data: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    *,
    sensitive: Sequence[str] = (),
    threshold: int = 10,
    change: str = "as requested",
) -> RiskFigures:
    """The figures for `quasi_identifiers` (at least one) on `data`."""
    columns = tuple(quasi_identifiers)
    _check(data, columns, sensitive, threshold)
    coded = {c: _Coded.of(data[c]) for c in (*columns, *sensitive)}
    return _figures(coded, columns, sensitive, threshold, change, len(data))


def report(
    data: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    *,
    sensitive: Sequence[str] = (),
    threshold: int = 10,
) -> RiskReport:
    """The requested figures and, for each column, the figures without it and coarsened."""
    columns = tuple(quasi_identifiers)
    _check(data, columns, sensitive, threshold)
    coded = {c: _Coded.of(data[c]) for c in (*columns, *sensitive)}
    records = len(data)
    requested = _figures(coded, columns, sensitive, threshold, "as requested", records)
    alternatives: list[RiskFigures] = []
    for column in columns:
        rest = tuple(c for c in columns if c != column)
        if rest:
            alternatives.append(
                _figures(coded, rest, sensitive, threshold, f"drop {column}", records)
            )
        coarse = coded[column].coarser()
        if coarse is not None:
            step, values = coarse
            alternatives.append(
                _figures(
                    {**coded, column: values},
                    columns,
                    sensitive,
                    threshold,
                    f"{column} {step}",
                    records,
                )
            )
    return RiskReport(requested=requested, alternatives=tuple(alternatives))


@dataclass(frozen=True)
class _Coded:
    """A column as integer codes into its distinct values (missing is one of them)."""

    codes: np.ndarray
    uniques: pd.Index

    @classmethod
    def of(cls, values: pd.Series) -> _Coded:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        return cls(np.asarray(codes, dtype=np.int64), pd.Index(uniques))

    def coarser(self) -> tuple[str, _Coded] | None:
        """One step coarser, relabelling the distinct values only."""
        coarse = coarsen(pd.Series(self.uniques))
        if coarse is None:
            return None
        step, labels = coarse
        remap, uniques = pd.factorize(labels, use_na_sentinel=False)
        return step, _Coded(np.asarray(remap, dtype=np.int64)[self.codes], pd.Index(uniques))


def coarsen(values: pd.Series) -> tuple[str, pd.Series] | None:
    """One step coarser, with its description, or None when the column has no coarser form:
    dates to months, numbers to 5-wide bands, codes of one length to all but the last
    character."""
    if pd.api.types.is_bool_dtype(values) or values.isna().all():
        return None
    if pd.api.types.is_datetime64_any_dtype(values):
        return "to month", values.dt.to_period("M").astype("string")
    if pd.api.types.is_numeric_dtype(values):
        return f"in bands of {BAND_WIDTH}", _banded(values.astype("float64"))
    text = values.astype("string")
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().sum() == text.notna().sum():  # numbers stored as text (an age)
        return f"in bands of {BAND_WIDTH}", _banded(numbers.astype("float64"))
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if parsed.notna().sum() == text.notna().sum():
        return "to month", parsed.dt.to_period("M").astype("string")
    lengths = text.str.len().dropna().unique()
    if len(lengths) == 1 and int(lengths[0]) > 1:
        return "to its larger unit (last character dropped)", text.str[:-1]
    return None


def _banded(numbers: pd.Series) -> pd.Series:
    banded = np.floor(numbers / BAND_WIDTH) * BAND_WIDTH
    labels = banded.map(lambda low: f"{low:g}-{low + BAND_WIDTH - 1:g}", na_action="ignore")
    return labels.astype("string")


def coarsened(values: pd.Series) -> pd.Series | None:
    """The column one step coarser, as `coarsen` makes it for the figures, computed on its
    distinct values and spread back to the rows (a million rows have few distinct values);
    None when the column has no coarser form. The data door serves a column granted coarsened
    in exactly this form, so the figures the steward read are the figures of what is read."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    coarse = coarsen(pd.Series(uniques, dtype=values.dtype))
    if coarse is None:
        return None
    labels = coarse[1].to_numpy(dtype=object)[codes]
    return pd.Series(labels, index=values.index, dtype="string", name=values.name)


def _figures(
    coded: Mapping[str, _Coded],
    columns: tuple[str, ...],
    sensitive: Sequence[str],
    threshold: int,
    change: str,
    records: int,
) -> RiskFigures:
    if records == 0:
        return RiskFigures(columns, 0, 0, 0, 0, 0, threshold, dict.fromkeys(sensitive, 0), change)
    classes = _class_ids(coded, columns)
    sizes = np.bincount(classes)
    diversity: dict[str, int] = {}
    for column in sensitive:
        values = coded[column]
        pairs = pd.unique(classes * len(values.uniques) + values.codes)
        per_class = np.bincount(pairs // len(values.uniques), minlength=len(sizes))
        diversity[column] = int(per_class.min())
    return RiskFigures(
        columns=columns,
        records=records,
        classes=len(sizes),
        k_anonymity=int(sizes.min()),
        unique_records=int((sizes == 1).sum()),
        small_class_records=int(sizes[sizes < threshold].sum()),
        threshold=threshold,
        l_diversity=diversity,
        change=change,
    )


def _class_ids(coded: Mapping[str, _Coded], columns: tuple[str, ...]) -> np.ndarray:
    """Each record's equivalence class as 0..classes-1: the columns' codes in mixed radix,
    renumbered whenever the next column could overflow 63 bits."""
    key = np.zeros(len(coded[columns[0]].codes), dtype=np.int64)
    span = 1
    for column in columns:
        values = coded[column]
        width = max(1, len(values.uniques))
        if span * width >= 2**62:
            key, uniques = pd.factorize(key)
            span = len(uniques)
        key = key * width + values.codes
        span *= width
    ids, _ = pd.factorize(key)
    return np.asarray(ids, dtype=np.int64)


def _check(
    data: pd.DataFrame, columns: tuple[str, ...], sensitive: Sequence[str], threshold: int
) -> None:
    if not columns:
        raise AnalysisParameterError("quasi_identifiers", "Name at least one quasi-identifier.")
    missing = [c for c in (*columns, *sensitive) if c not in data.columns]
    if missing:
        raise AnalysisParameterError("columns", f"Not in the data: {', '.join(missing)}.")
    if threshold < 2:
        raise AnalysisParameterError("threshold", "The threshold is at least 2 records.")
