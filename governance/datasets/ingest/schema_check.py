"""Matching an upload's column names to the declared columns, before any row is read."""

from __future__ import annotations

from collections.abc import Sequence

from governance.datasets.datastore.parquet import DeclaredColumn
from governance.datasets.ingest.problems import IngestionRefused, IngestLimits, Problem

LISTED_NAMES = 12


def check_header(
    names: Sequence[str],
    columns: Sequence[DeclaredColumn],
    limits: IngestLimits,
    *,
    header_row: bool,
) -> dict[str, int]:
    """Map each declared column present in the file to its index there.

    Refuses (all at once) empty names, duplicate names, names the dataset does not declare,
    and required columns the file lacks. Optional columns may be left out.
    """
    prefix = "row 1 (header), " if header_row else ""
    declared = {c.name: c for c in columns}
    problems: list[Problem] = []
    index_of: dict[str, int] = {}
    for index, name in enumerate(names):
        position = index + 1
        if not name:
            problems.append(Problem(1, position, f"{prefix}column #{position}", "has no name"))
        elif name in index_of:
            if index_of[name] >= 0:
                problems.append(
                    Problem(
                        1,
                        position,
                        f"{prefix}column {name}",
                        f"appears more than once (columns {index_of[name] + 1} and {position})",
                    )
                )
                index_of[name] = -1  # report each duplicated name once
        elif name not in declared:
            problems.append(
                Problem(
                    1,
                    position,
                    f"{prefix}column {name}",
                    f"is not a column of this dataset; its columns are {_listed(list(declared))}",
                )
            )
            index_of[name] = -2
        else:
            index_of[name] = index
    for position, column in enumerate(columns, start=len(names) + 1):
        if column.required and column.name not in index_of:
            problems.append(
                Problem(
                    1, position, f"column {column.name}", "is required but missing from the file"
                )
            )
    if problems:
        summary = f"{len(problems):,} problem{'s' if len(problems) > 1 else ''} with the columns."
        if header_row and not any(i >= 0 for i in index_of.values()):
            summary += (
                " The first row must be a header naming the columns; none of its "
                "values is a column of this dataset."
            )
        problems.sort()
        raise IngestionRefused(summary, problems[: limits.max_problems], len(problems))
    return {name: index for name, index in index_of.items() if index >= 0 and name in declared}


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED_NAMES])
    return shown + (f" and {len(names) - LISTED_NAMES} more" if len(names) > LISTED_NAMES else "")
