"""Who names the datasets in the audit report: the one piece of the report the registry wires.

Datasets sit above audit, so the registry (and `registry_trail`, for the trail's own commands)
installs the namer here. It is kept apart from `report` so that installing it does not import
the report and its export (pyarrow, about 0.2 s of CPU) into a process that only verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

# Names datasets by id, from the connection the report reads its snapshot on.
DatasetNamer = Callable[[Connection, Sequence[int]], dict[int, str]]
_namers: list[DatasetNamer] = []


def install_dataset_namer(namer: DatasetNamer) -> None:
    _namers[:] = [namer]


def dataset_namer() -> DatasetNamer:
    if not _namers:
        raise RuntimeError("No dataset namer is installed: build the app first.")
    return _namers[0]
