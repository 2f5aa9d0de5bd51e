"""Building complete cell tables (every level combination plus all margins) for disclosure control.

Secondary suppression needs the full grid, including empty cells and every margin, because a
reader can rebuild any margin the engine does not publish from those it does. This module turns
person-level data, or a wide table of counts, into that long form, and offers the three
controlled tabulations the analysis kinds use: counts, rates and means.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from .disclosure import (
    TOTAL_LABEL,
    ControlledTable,
    DisclosurePolicy,
    ValueDomain,
    control_table,
    with_implied_counts,
)
from .errors import AnalysisParameterError, AnalysisRefused, DataShapeError

MISSING_LABEL = "Missing"
MAX_TABLE_CELLS = 5_000


def aggregate_cells(
    data: pd.DataFrame,
    by: Sequence[str],
    *,
    event_column: str | None = None,
    value_column: str | None = None,
    dominance_n: int = 2,
    max_cells: int = MAX_TABLE_CELLS,
) -> pd.DataFrame:
    """Long table of every level combination of ``by`` and every margin.

    Refuses (``AnalysisRefused("table_too_large")``) a table of more than ``max_cells`` cells
    with margins: such tables are mostly suppressed, and auditing them costs minutes.

    Columns: the ``by`` labels (strings; ``TOTAL_LABEL`` on margins, ``MISSING_LABEL`` for
    missing values), ``count`` (rows), and when asked ``events`` (sum of a 0/1 column) or
    ``value_sum``, ``abs_sum`` and ``top_n_sum`` (the ``dominance_n`` largest |values|).
    """
    dims = list(by)
    _require(data, dims + [c for c in (event_column, value_column) if c is not None])
    # Grouping runs on integer level codes (fast on a million rows); labels are attached to
    # the few hundred result rows only.
    frame, levels = _coded(data, dims)
    frame["count"] = 1.0
    if event_column is not None:
        frame["events"] = _events(data[event_column], event_column)
    if value_column is not None:
        values = pd.to_numeric(data[value_column], errors="coerce")
        # People without a value do not contribute to the mean, so they are not counted in it.
        frame = frame.loc[values.notna()]
        values = values.loc[values.notna()].astype(float)
        frame["value_sum"] = values
        frame["abs_sum"] = values.abs()
        # Largest contributions first, once, so each margin's top n is a groupby head.
        frame = frame.sort_values("abs_sum", ascending=False, kind="stable")
    return _margins(frame, frame, dims, levels, value_column, dominance_n, max_cells)


def aggregate_groups(
    groups: pd.DataFrame,
    by: Sequence[str],
    *,
    events: pd.Series | None = None,
    event_column: str | None = None,
    value_column: str | None = None,
    tops: pd.DataFrame | None = None,
    dominance_n: int = 2,
    max_cells: int = MAX_TABLE_CELLS,
) -> pd.DataFrame:
    """``aggregate_cells`` of rows that a SQL engine has already grouped: the same cells, labels
    and order, from one row per distinct combination of the raw values of ``by`` (and of
    ``event_column``, whose values are read as aggregate_cells reads them).

    ``groups`` holds those raw values, ``count`` (rows; with ``value_column``, the rows with a
    value), and with ``value_column`` ``value_sum`` and ``abs_sum``; ``tops`` then holds, per
    group, its ``dominance_n`` largest |values| as ``abs_sum`` beside the raw values of ``by``
    (the largest of a margin are among the largest of the groups it adds up). Labelling runs
    here, on the few grouped rows, so text, numbers, dates and missing values are labelled by
    the reference's own code, and raw values that share a label share a cell.
    """
    dims = list(by)
    _require(groups, [*dims, "count"], allow_empty=True)
    present = (groups["count"] > 0).to_numpy()
    groups = groups[present]
    if groups.empty:
        raise DataShapeError("data", "no rows")
    frame, levels = _coded(groups, dims)
    frame["count"] = groups["count"].astype(float)
    if events is not None:
        frame["events"] = _events(events[present], str(event_column)) * frame["count"].to_numpy()
    ranked = frame
    if value_column is not None:
        frame["value_sum"] = groups["value_sum"].astype(float)
        frame["abs_sum"] = groups["abs_sum"].astype(float)
        if tops is None:
            raise ValueError("a table of means needs each group's largest values")
        ranked = pd.DataFrame(
            {dim: _codes_in(tops[dim], levels[i]) for i, dim in enumerate(dims)},
            index=tops.index,
        )
        ranked["abs_sum"] = tops["abs_sum"].astype(float)
        ranked = ranked.sort_values("abs_sum", ascending=False, kind="stable")
    return _margins(frame, ranked, dims, levels, value_column, dominance_n, max_cells)


def _events(column: pd.Series, name: str) -> pd.Series:
    events = pd.to_numeric(column, errors="coerce")
    if events.isna().any() or not events.isin([0, 1]).all():
        raise DataShapeError("data", f"{name!r} must hold only 0/1 (or booleans)")
    return events.astype(float)


def _margins(
    frame: pd.DataFrame,
    ranked: pd.DataFrame,
    dims: list[str],
    levels: list[list[str]],
    value_column: str | None,
    dominance_n: int,
    max_cells: int,
) -> pd.DataFrame:
    """Every level combination and margin of ``frame`` (level codes and summable measures);
    ``ranked`` holds the |values| behind the top-n sums, largest first."""
    cells = int(np.prod([len(labels) + 1 for labels in levels]))
    if cells > max_cells:
        raise AnalysisRefused(
            "table_too_large",
            f"the table would have {cells} cells with margins, more than the {max_cells} allowed; "
            "group by fewer or coarser columns",
        )
    pieces = []
    for size in range(len(dims), -1, -1):
        for kept in combinations(range(len(dims)), size):
            pieces.append(
                _aggregate_subset(
                    frame, ranked, dims, levels, list(kept), value_column, dominance_n
                )
            )
    return pd.concat(pieces, ignore_index=True)


def _coded(data: pd.DataFrame, dims: list[str]) -> tuple[pd.DataFrame, list[list[str]]]:
    """The level codes of each of ``dims`` (one column each) and the labels of the codes."""
    frame = pd.DataFrame(index=data.index)
    levels: list[list[str]] = []
    for dim in dims:
        codes, labels = level_codes(data[dim])
        frame[dim] = codes
        levels.append(labels)
    return frame, levels


def level_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes into the sorted text labels of ``series`` (missing values -> ``MISSING_LABEL``)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = [str(value) for value in uniques]
    if (codes < 0).any():
        names.append(MISSING_LABEL)
        codes = np.where(codes < 0, len(names) - 1, codes)
    labels = sorted(set(names))
    remap = np.array([labels.index(name) for name in names], dtype=np.int64)
    return remap[codes] if len(names) else codes.astype(np.int64), labels


def _codes_in(series: pd.Series, labels: list[str]) -> np.ndarray:
    """Codes of ``series`` into ``labels`` (every value's label must be among them)."""
    names = series.astype(object).where(series.notna(), MISSING_LABEL).map(str)
    return np.asarray(names.map({name: i for i, name in enumerate(labels)}), dtype=np.int64)


def _aggregate_subset(
    frame: pd.DataFrame,
    ranked: pd.DataFrame,
    dims: list[str],
    levels: list[list[str]],
    kept: list[int],
    value_column: str | None,
    dominance_n: int,
) -> pd.DataFrame:
    keys = [dims[i] for i in kept]
    measures = [c for c in ("count", "events", "value_sum", "abs_sum") if c in frame.columns]
    if keys:
        summed = frame.groupby(keys, sort=False)[measures].sum()
        grid: pd.Index = (
            pd.MultiIndex.from_product([range(len(levels[i])) for i in kept], names=keys)
            if len(keys) > 1
            else pd.Index(range(len(levels[kept[0]])), name=keys[0])
        )
        summed = summed.reindex(grid, fill_value=0.0)
        if value_column is not None:
            top = ranked.groupby(keys, sort=False).head(dominance_n).groupby(keys)["abs_sum"].sum()
            summed["top_n_sum"] = top.reindex(summed.index, fill_value=0.0)
    else:
        summed = frame[measures].sum().to_frame().T
        if value_column is not None:
            summed["top_n_sum"] = float(ranked["abs_sum"].head(dominance_n).sum())
    result = summed.reset_index(drop=not keys)
    for position, dim in enumerate(dims):
        if position in kept:
            result[dim] = np.asarray(levels[position], dtype=object)[result[dim].to_numpy()]
        else:
            result[dim] = TOTAL_LABEL
    return result[dims + [c for c in result.columns if c not in dims]]


def cells_from_wide_counts(table: pd.DataFrame | pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """Long cells (with margins) from a 1-D Series or 2-D DataFrame of counts without margins."""
    if isinstance(table, pd.Series):
        name = str(table.index.name or "row")
        data = pd.DataFrame({name: table.index.astype(str), "count": table.to_numpy(dtype=float)})
        dims = [name]
    else:
        row_name = str(table.index.name or "row")
        column_name = str(table.columns.name or "column")
        stacked = table.stack(future_stack=True)
        data = pd.DataFrame(
            {
                row_name: stacked.index.get_level_values(0).astype(str),
                column_name: stacked.index.get_level_values(1).astype(str),
                "count": stacked.to_numpy(dtype=float),
            }
        )
        dims = [row_name, column_name]
    if (data["count"] < 0).any() or data["count"].isna().any():
        raise DataShapeError("table", "counts must be non-negative numbers")
    pieces = [data]
    for size in range(len(dims) - 1, -1, -1):
        for kept in combinations(dims, size):
            if kept:
                part = data.groupby(list(kept), sort=False)["count"].sum().reset_index()
            else:
                part = pd.DataFrame({"count": [data["count"].sum()]})
            for dim in dims:
                if dim not in kept:
                    part[dim] = TOTAL_LABEL
            pieces.append(part[[*dims, "count"]])
    return pd.concat(pieces, ignore_index=True), dims


def control_count_table(
    table: pd.DataFrame | pd.Series, policy: DisclosurePolicy
) -> ControlledTable:
    """Disclosure-control a wide 1-D or 2-D table of counts; margins are added and protected."""
    cells, dims = cells_from_wide_counts(table)
    return control_table(cells, dims, "count", policy)


def control_counts(
    data: pd.DataFrame, by: Sequence[str], policy: DisclosurePolicy
) -> ControlledTable:
    """Controlled frequency table of person-level ``data`` by up to three columns."""
    _check_dimensions(by)
    return control_table(aggregate_cells(data, by), by, "count", policy)


def control_rates(
    data: pd.DataFrame, by: Sequence[str], event_column: str, policy: DisclosurePolicy
) -> ControlledTable:
    """Controlled table of rates (mean of a 0/1 column) with their numerators and denominators."""
    _check_dimensions(by)
    return control_table(aggregate_cells(data, by, event_column=event_column), by, "rate", policy)


def control_means(
    data: pd.DataFrame, by: Sequence[str], value_column: str, policy: DisclosurePolicy
) -> ControlledTable:
    """Controlled table of means; subject to the threshold rule (on the count and on the
    counts the means imply, see ``disclosure.ValueDomain``) and the nk-dominance rule."""
    _check_dimensions(by)
    cells = aggregate_cells(data, by, value_column=value_column, dominance_n=policy.dominance_n)
    column = data[value_column]
    boolean = pd.api.types.is_bool_dtype(column.dtype)
    cells = with_implied_counts(cells, ValueDomain.of(column, boolean=boolean))
    return control_table(cells, by, "mean", policy)


def _check_dimensions(by: Sequence[str]) -> None:
    if isinstance(by, str) or len(by) > 3 or len(set(by)) != len(by):
        raise AnalysisParameterError("group_by", "give up to three distinct column names")


def _require(data: pd.DataFrame, columns: Sequence[str], allow_empty: bool = False) -> None:
    missing = [column for column in columns if column not in data.columns]
    if missing:
        raise DataShapeError("data", f"missing column(s): {', '.join(missing)}")
    if len(data) == 0 and not allow_empty:
        raise DataShapeError("data", "no rows")
