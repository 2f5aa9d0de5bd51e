"""Handing the door's tables to an engine: what the run releases leaves memory.

What a user would notice: a register-sized run fits the machine. The matched comparison
releases the register's tables from the engine as soon as no later step reads them; nothing on
the way (the tables the door loaded, the hand-over to the engine) may keep a copy alive, or a
10-million-person run holds several GB more for its whole length.
"""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from governance.analysis import placement
from governance.analysis.engine.sources import EngineTables

ROWS = 2_000_000


def test_a_table_the_run_releases_from_duckdb_leaves_memory() -> None:
    # Allocated by Arrow's pool (a computed column), so the pool's count shows it going.
    tables: dict[str, pd.DataFrame | pa.Table] = {
        "offences": pa.table({"person_id": pc.multiply(pa.array(np.arange(ROWS)), 2)}),
        "cohort": pd.DataFrame({"person_id": [1, 2]}),
    }
    settings = {"ANALYSIS_DUCKDB_MEMORY_LIMIT": "1GB"}
    with placement.on_engine("duckdb", tables, settings) as data:
        assert isinstance(data, EngineTables)
        assert list(tables) == ["cohort"], "the loaded table is handed over, not kept"
        assert data.engine.query("SELECT count(*) AS n FROM offences")["n"][0] == ROWS
        held = pa.total_allocated_bytes()
        data.release("offences")
        gc.collect()
        assert held - pa.total_allocated_bytes() >= ROWS * 8
        # The partner's cohort file stays a frame beside the engine.
        assert list(data["cohort"]["person_id"]) == [1, 2]


def test_the_pandas_engine_is_handed_the_frames_themselves() -> None:
    frame = pd.DataFrame({"person_id": [1, 2, 3]})
    with placement.on_engine("pandas", {"offences": frame}, {}) as data:
        assert data["offences"] is frame
