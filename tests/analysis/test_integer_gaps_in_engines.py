"""The door keeps an integer column with gaps as pandas' nullable integers (exact) for pages
and exports; the engine is handed it as float64, as it always was (engines.integers_as_read),
because the text of a group label links tables across releases. Tested here: the engine's
frame is the one it had before, a release one person away from an earlier one is still caught
whichever form either release's keys had (the ledger matches both), and pandas' nullable
integers work in every kind on every engine (propensity fits, means, joins), should the
engine take them one day.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from governance.analysis.engine import DisclosurePolicy, RunContext, columns_needed, run_analysis
from governance.analysis.engine.engines import (
    DuckDBEngine,
    EngineSettings,
    SparkEngine,
    SqlEngine,
    integers_as_read,
)
from governance.analysis.engine.errors import AnalysisError
from governance.analysis.engine.ledger import differencing_conflicts, population_of
from governance.analysis.engine.sources import EngineTables
from governance.datasets.datastore.store import decoded_frame
from tests.analysis.conftest import synthetic
from tests.analysis.test_engines import KEY, RUNS, assert_same_release

# Gaps in every integer column a kind reads but the keys (every 7th, 11th, 13th... row).
GAPS = {"age_at_index": 7, "prior_offences": 11, "prior_custodial_sentences": 13, "employed": 5}


def _tables(
    kind: str, params: Mapping[str, Any], *, gaps: bool, exact: bool
) -> dict[str, pd.DataFrame]:
    """The declared columns, with gaps in `GAPS` or without: as the door read them before
    (floats where a column has a gap) or `exact`ly, as pandas' nullable integers. Those with
    gaps as the store decodes them now (its own function over the Arrow table it would have
    read); without gaps, every integer column, keys included, as a column the door gives
    after withheld records took its gaps away (what a propensity fit, a mean and a join of
    the SQL engines then work on)."""
    data = synthetic()
    source = {
        "cohort": data.cohort,
        "index_events": data.index_events,
        "records": data.index_events,
        "offences": data.offences,
    }
    tables: dict[str, pd.DataFrame] = {}
    for name, columns in columns_needed(kind, params).items():
        frame = source[name][columns].copy()
        integers = [c for c in frame.columns if frame[c].dtype == "int64"]
        if gaps:
            for column, every in GAPS.items():
                if column in frame.columns:
                    values = frame[column].astype("float64")
                    values[np.arange(len(frame)) % every == 0] = np.nan
                    frame[column] = values
            if exact:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                for column in GAPS:
                    if column in frame.columns:
                        table = table.set_column(
                            table.schema.get_field_index(column),
                            column,
                            table.column(column).cast(pa.int64()),
                        )
                frame = decoded_frame(table)
                assert all(frame[c].dtype == "Int64" for c in GAPS if c in frame.columns)
        elif exact:
            frame = frame.astype(dict.fromkeys(integers, "Int64"))
        tables[name] = frame
    return tables


def _run(
    engine: SqlEngine | None, kind: str, params: Mapping[str, Any], *, gaps: bool, exact: bool
) -> dict[str, Any]:
    tables = _tables(kind, params, gaps=gaps, exact=exact)
    data: Mapping[str, pd.DataFrame] = tables
    if engine is not None:
        small = {name: tables.pop(name) for name in list(tables) if name == "cohort"}
        data = EngineTables(engine, tables, small)
    context = RunContext(DisclosurePolicy(), ledger_key=KEY, keep_population_keys=True)
    try:
        return run_analysis(kind, data, params, context).to_dict(include_keys=True)
    except AnalysisError as refused:  # a covariate with gaps: refused the same way
        return {"refused": f"{type(refused).__name__}: {refused}", "populations": []}


def test_the_engine_is_handed_integers_with_gaps_as_before() -> None:
    for kind, params in RUNS:
        before = _tables(kind, params, gaps=True, exact=False)
        now = _tables(kind, params, gaps=True, exact=True)
        assert set(before) == set(now)
        for name, frame in now.items():
            pd.testing.assert_frame_equal(integers_as_read(frame), before[name])


def test_a_release_one_person_short_of_an_earlier_one_is_still_caught() -> None:
    """The attack across the change: an earlier release read person keys with gaps as floats;
    a new one over the same people but one is one person away from it."""
    keys = pd.Series([float(k) if k % 10 else np.nan for k in range(1, 200)])
    earlier = population_of("earlier", keys, KEY)
    stored = pa.chunked_array([pa.array(keys.iloc[1:], type=pa.float64()).cast(pa.int64())])
    decoded = decoded_frame(pa.table({"person_id": stored}))
    assert decoded["person_id"].dtype == "Int64"
    handed = integers_as_read(decoded.copy())["person_id"]
    new = population_of("new", handed, KEY)
    policy = DisclosurePolicy()
    [conflict] = differencing_conflicts(new, [earlier], policy.min_cell_size)
    assert (conflict.only_in_new, conflict.only_in_released) == (0, 1)
    # Handed the exact integers ("2", not "2.0"), the ledger still sees the one person.
    [exact] = differencing_conflicts(
        population_of("new", decoded["person_id"], KEY), [earlier], policy.min_cell_size
    )
    assert (exact.only_in_new, exact.only_in_released) == (0, 1)


@pytest.mark.parametrize(
    ("kind", "params"), RUNS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(RUNS)]
)
def test_nullable_integers_give_the_same_release_on_pandas_and_duckdb(
    duckdb_engine: DuckDBEngine, kind: str, params: dict[str, Any]
) -> None:
    reference = _run(None, kind, params, gaps=False, exact=False)
    found = _run(None, kind, params, gaps=False, exact=True)
    assert_same_release(reference, found, f"pandas {kind}")
    found = _run(duckdb_engine, kind, params, gaps=False, exact=True)
    assert_same_release(reference, found, f"duckdb {kind}")


@pytest.mark.slow
@pytest.mark.xdist_group("spark")  # one JVM (2 GiB) at a time under xdist
def test_nullable_integers_give_the_same_release_on_spark(spark_session: Any) -> None:
    engine = SparkEngine(EngineSettings(), spark_session)
    try:
        for kind, params in RUNS[:3]:
            reference = _run(None, kind, params, gaps=False, exact=False)
            found = _run(engine, kind, params, gaps=False, exact=True)
            assert_same_release(reference, found, f"spark {kind}")
    finally:
        engine.close()
