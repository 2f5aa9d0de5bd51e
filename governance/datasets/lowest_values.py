"""The lowest value each number column of a dataset can hold, declared by its stewards.

Under rounding (an agreement's `rounding_base`) a mean is released as origin + S' / p, S' the
sum of (x - origin) over the group and p its published count, so that people at the origin add
nothing and the sum does not pin the count (docs/analysis.md, Disclosure control). The origin
must be one number for every release of the column: one group's means from two origins o_1, o_2
differ by (o_1 - o_2)(1 - n / p), which gives the exact count n. A value of the data (the
lowest of the table a run is handed) moves between stored versions and data sets, so the origin
is declared here, once per column, by a steward of the dataset, kept for every later version.

Only a steward of the dataset declares (`dataset:manage` and being assigned to it). Every
change is audited with the values before and after (`dataset:declare_lowest`); changing or
removing a value already declared needs a reason, which the event keeps: releases from before
and after the change are two origins again, something a steward answers for. A run whose table
holds a value below the declared one is refused (analysis.engine: RunContext.origins) rather
than released from an origin some people are below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.models import ColumnType, Dataset, DatasetColumn
from governance.datasets.stewardship import dataset_for_steward
from governance.identity.actors import Actor
from governance.kernel.errors import ValidationFailed

NUMBER_TYPES = frozenset({ColumnType.INTEGER, ColumnType.FLOAT})
# Beyond this a float no longer holds every whole number: a sum from such an origin is noise.
MAX_MAGNITUDE = 1e15
MAX_REASON = 2000


def number_columns(dataset: Dataset) -> list[DatasetColumn]:
    """The columns a lowest value can be declared for (integer and float)."""
    return [c for c in dataset.columns if ColumnType(c.type) in NUMBER_TYPES]


def declared(dataset: Dataset) -> dict[str, float]:
    """Column -> its declared lowest value, for the columns that have one."""
    return {c.name: float(c.lowest_value) for c in dataset.columns if c.lowest_value is not None}


def read_lowest(raw: object) -> float | None:
    """A declared value: a finite number (text as the page sends it), None or "" for none."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("must be a number")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):
        raise ValueError("must be a number, such as 0 or 1900") from None
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"must be a finite number of at most {MAX_MAGNITUDE:.0e} in size")
    return value


def declare_lowest_values(
    session: Session,
    *,
    dataset_id: int,
    values: Mapping[str, object],
    reason: str = "",
    by: Actor,
) -> Dataset:
    """Set (a number) or clear (None, "") the lowest value of each named number column; 422
    naming each bad entry, nothing saved. Columns not named keep theirs."""
    dataset = dataset_for_steward(
        session,
        dataset_id,
        by=by,
        permission=Permission.DATASET_MANAGE,
        event=AuditType.DATASET_DECLARE_LOWEST,
        message="Only a steward of this dataset declares its columns' lowest values.",
    )
    wanted = _parsed(dataset, values)
    columns = {c.name: c for c in dataset.columns}
    changed = {name: value for name, value in wanted.items() if columns[name].lowest_value != value}
    changes = [
        {"column": name, "before": columns[name].lowest_value, "after": value}
        for name, value in changed.items()
    ]
    why = " ".join(reason.split())
    if len(why) > MAX_REASON:
        raise ValidationFailed("The reason is too long.", {"reason": "At most 2000 characters."})
    if any(columns[name].lowest_value is not None for name in changed) and not why:
        raise ValidationFailed(
            "A declared lowest value is being changed: say why. Means released before and "
            "after the change are taken from two origins, which together can give a group's "
            "exact count.",
            {"reason": "Required when a declared value changes."},
        )
    if not changes:
        return dataset
    for name, value in changed.items():
        columns[name].lowest_value = value
    session.flush()
    audit.record(
        session,
        AuditType.DATASET_DECLARE_LOWEST,
        by=by,
        dataset_id=dataset.id,
        target_type="dataset",
        target_id=dataset.id,
        detail={"changes": changes, **({"reason": why} if why else {})},
    )
    return dataset


def _parsed(dataset: Dataset, values: Mapping[str, object]) -> dict[str, float | None]:
    problems: dict[str, str] = {}
    parsed: dict[str, float | None] = {}
    for name, raw in values.items():
        column = dataset.column(str(name))
        if column is None:
            problems[str(name)] = f"{dataset.name} has no column {name!r}"
        elif ColumnType(column.type) not in NUMBER_TYPES:
            problems[str(name)] = "only integer and float columns have a lowest value"
        else:
            try:
                parsed[column.name] = read_lowest(raw)
            except ValueError as exc:
                problems[column.name] = str(exc)
    if problems:
        raise ValidationFailed("Some lowest values need correcting; nothing was saved.", problems)
    return parsed
