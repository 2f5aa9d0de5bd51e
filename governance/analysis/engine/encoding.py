"""Encoding declared covariates into a numeric matrix for the propensity model and balance.

Numeric covariates are used as they are (text columns whose every value is a number count as
numeric unless declared categorical); categorical ones (declared, or of object, string,
category or boolean dtype) become one indicator column per level. Levels are the sorted string
labels, a missing value is its own level (``MISSING_LEVEL``), and the first level is the
reference that the model leaves out, as R's ``factor`` does. Balance tables keep every level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataShapeError

MISSING_LEVEL = "Missing"


@dataclass(frozen=True)
class EncodedCovariates:
    """Design matrix (without intercept) and what each column stands for. The matrix is
    float32 when that holds every value exactly (indicators, whole numbers), else float64:
    read a column with ``column`` to compute with it."""

    matrix: np.ndarray
    names: list[str]
    sources: list[str]
    levels: dict[str, list[str]]
    binary: list[bool]
    reference: list[bool]

    def column(self, position: int) -> np.ndarray:
        """One column as float64 (the matrix may hold exact values as float32)."""
        return np.asarray(self.matrix[:, position], dtype=float)

    @property
    def model_columns(self) -> np.ndarray:
        """Positions of the columns that enter the propensity model (reference levels left out)."""
        return np.flatnonzero(~np.asarray(self.reference, dtype=bool))


def encode_covariates(
    data: pd.DataFrame,
    covariates: Sequence[str],
    categorical: Sequence[str] | None = None,
    drop_reference: bool = True,
) -> EncodedCovariates:
    """Numeric covariates as floats; categoricals one indicator per non-reference level.

    Categorical columns are those listed in ``categorical`` plus every column of object,
    string, category or boolean dtype. Missing categorical values form their own level
    (``MISSING_LEVEL``); missing numeric values are an error, because silently dropping people
    would change who is being compared. With ``drop_reference`` false every level gets a column
    (used for balance tables).
    """
    missing = [column for column in covariates if column not in data.columns]
    if missing:
        raise DataShapeError("data", f"missing covariate column(s): {', '.join(missing)}")
    declared = set(categorical or [])
    # Columns are described first and written into one preallocated matrix: with a million
    # rows, stacking per-column arrays would double the memory for a moment.
    specs: list[tuple[str, np.ndarray, int | None]] = []
    names: list[str] = []
    sources: list[str] = []
    binary: list[bool] = []
    reference: list[bool] = []
    levels: dict[str, list[str]] = {}
    for column in covariates:
        series = data[column] if column in declared else _numbers_as_text(data[column])
        if column in declared or _is_categorical(series):
            codes, level_names = _factorize(series)
            levels[column] = level_names
            for position, level in enumerate(level_names):
                if drop_reference and position == 0:
                    continue
                specs.append(("level", codes, position))
                names.append(f"{column}={level}")
                sources.append(column)
                binary.append(True)
                reference.append(position == 0)
        else:
            values = series.to_numpy(dtype=float)
            if not np.all(np.isfinite(values)):
                raise DataShapeError("data", f"covariate {column!r} has missing or infinite values")
            specs.append(("numeric", values, None))
            names.append(column)
            sources.append(column)
            binary.append(bool(np.isin(values, (0.0, 1.0)).all()))
            reference.append(False)
    # Column-major: every later pass (balance, checks) reads one covariate at a time.
    # Indicators and whole numbers up to 2**24 are exact in float32: the matrix then takes
    # half the memory (ten million people by 20 columns: 0.7 GB, not 1.4), and every pass
    # reads a column as float64 (``column``), so each figure is a float64 matrix's.
    exact = all(kind == "level" or _exact_in_float32(values) for kind, values, _ in specs)
    matrix = np.empty((len(data), len(specs)), dtype=np.float32 if exact else np.float64, order="F")
    for position, (kind, values, code) in enumerate(specs):
        matrix[:, position] = (values == code) if kind == "level" else values
    return EncodedCovariates(matrix, names, sources, levels, binary, reference)


def _exact_in_float32(values: np.ndarray) -> bool:
    return bool(np.all((values == np.round(values)) & (np.abs(values) <= 2**24)))


def _numbers_as_text(series: pd.Series) -> pd.Series:
    """A text column whose every value is a number ("3", " 12", or empty for missing) is read
    as numbers: a file's integers stored as strings would otherwise be one category per value
    (a different model from the one every reader fits, or a refusal for separation). Declared
    categoricals are never read this way: codes such as "01" stay categories when so declared.
    Each distinct text is parsed once (the engines hand text back as categoricals)."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if not all(isinstance(value, str) for value in uniques):
        return series
    text = pd.Series(uniques, dtype="string").str.strip()
    present = text != ""
    numbers = pd.to_numeric(text.where(present), errors="coerce").to_numpy(dtype=float)
    if not present.any() or np.isnan(numbers[present.to_numpy()]).any():
        return series
    values = np.where(codes >= 0, numbers[np.maximum(codes, 0)], np.nan)
    return pd.Series(values, index=series.index, name=series.name)


def _is_categorical(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _factorize(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and level labels (as strings); missing values become ``MISSING_LEVEL``."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = [str(value) for value in uniques]
    if (codes < 0).any():
        if MISSING_LEVEL in names:
            codes = np.where(codes < 0, names.index(MISSING_LEVEL), codes)
        else:
            codes = np.where(codes < 0, len(names), codes)
            names.append(MISSING_LEVEL)
    # Two raw values with the same text (1 and "1") must be one level, not two.
    merged = sorted(set(names))
    remap = np.array([merged.index(name) for name in names], dtype=np.int64)
    return remap[codes], merged
