"""Which engine a run uses, and handing it the tables the door loaded.

The choice is made before anything is read, from the service's settings and the row counts of
the dataset versions the run names (`ANALYSIS_ENGINE`, `ANALYSIS_DUCKDB_MIN_ROWS`,
`ANALYSIS_SPARK_MIN_ROWS`, `ANALYSIS_SPARK_MASTER`, `ANALYSIS_DUCKDB_MEMORY_LIMIT`), so that
every read event of the run and its refusal, if the gate refuses it, name the engine. What may
be read is not the engine's business: the scope gate and the door decide that, and the engine
is given only the tables they returned: DataFrames for pandas, Arrow tables for DuckDB and
Spark (engine/engines.py), which the door decrypts straight into Arrow.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session

from governance.access import data_door
from governance.analysis.engine.engines import (
    PANDAS,
    EngineSettings,
    choose_engine,
    start_engine,
    to_arrow,
)
from governance.analysis.engine.sources import EngineTables
from governance.kernel.errors import NotFound

# Small inputs stay DataFrames on every engine: the partner's cohort file is linked in memory.
IN_MEMORY_TABLES = frozenset({"cohort"})


def rows_to_read(session: Session, datasets: Mapping[str, int]) -> int:
    """Rows of the current versions of the named datasets (unknown datasets count nothing:
    the gate refuses them)."""
    total = 0
    for dataset_id in datasets.values():
        # The gate, not the engine choice, refuses a dataset without data.
        with suppress(NotFound):
            total += int(data_door.current_version(session, dataset_id).row_count)
    return total


def engine_for(settings: Mapping[str, Any], rows: int) -> str:
    spark_min = int(settings.get("ANALYSIS_SPARK_MIN_ROWS", 0)) or None
    return choose_engine(
        str(settings.get("ANALYSIS_ENGINE", "auto")),
        rows,
        int(settings.get("ANALYSIS_DUCKDB_MIN_ROWS", 1_000_000)),
        spark_min,
    )


def engine_settings(settings: Mapping[str, Any]) -> EngineSettings:
    return EngineSettings(
        duckdb_memory_limit=str(settings.get("ANALYSIS_DUCKDB_MEMORY_LIMIT", "4GB")),
        spark_master=str(settings.get("ANALYSIS_SPARK_MASTER", "local[*]")),
    )


@contextmanager
def on_engine(
    engine: str, tables: dict[str, pd.DataFrame | pa.Table], settings: Mapping[str, Any]
) -> Iterator[Mapping[str, pd.DataFrame]]:
    """The loaded tables as the engine takes them: DataFrames for pandas; otherwise Arrow
    tables registered on a DuckDB connection or Spark session, closed after the run. The door
    hands DuckDB and Spark Arrow tables already (`data_door.load_columns`); a frame (a
    read with a granted form or withheld records) is made Arrow here."""
    if engine == PANDAS:
        frames = {name: t for name, t in tables.items() if isinstance(t, pd.DataFrame)}
        if len(frames) != len(tables):
            raise TypeError("the pandas engine is handed DataFrames only")
        yield frames
        return
    running = start_engine(engine, engine_settings(settings))
    try:
        # Each table is released as soon as its engine copy exists, to bound the peak, and
        # nothing here keeps the engine copies: once the run releases a table from the engine
        # (`Source.release`), its memory goes (a name bound to them in this frame would hold a
        # register's tables, several GB, for the whole run).
        large = [n for n in tables if n not in IN_MEMORY_TABLES]
        small = {name: t for name, t in tables.items() if isinstance(t, pd.DataFrame)}
        yield EngineTables(running, {n: to_arrow(tables.pop(n)) for n in large}, small)
    finally:
        running.close()
