"""Who names the datasets in the audit report: the one piece of the report the registry wires.

Datasets sit above audit, so the registry (and `registry_trail`, for the trail's own commands)
installs the namer here. It is kept apart from `report` so that installing it does not import
the report and its export (pyarrow, about 0.2 s of CPU) into a process that only verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from governance.kernel.installed import Installed

# Names datasets by id, from the connection the report reads its snapshot on.
DatasetNamer = Callable[[Connection, Sequence[int]], dict[int, str]]
_namer: Installed[DatasetNamer] = Installed("No dataset namer is installed: build the app first.")
install_dataset_namer = _namer.install
dataset_namer = _namer.get
