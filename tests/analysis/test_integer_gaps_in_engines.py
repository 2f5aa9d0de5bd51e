"""Integer columns with a gap reach the engine as integers: pandas' nullable Int64 (the door's
read for pandas) or Arrow integers with nulls (its read for DuckDB and Spark), and the SQL
engines' answers come back so (engines.from_engine). A table grouped by such a column is
labelled "1", not "1.0". Tested here: the labels a reader sees, the same release on every
engine, the same figures as when such columns reached the engine as floats, and releases
recorded in that float form still linked to new ones (the ledger's keys, the protection
intervals' cell labels).
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
    from_engine,
    kept_rows,
)
from governance.analysis.engine.errors import AnalysisError
from governance.analysis.engine.ledger import (
    ReleasedPopulations,
    differencing_conflicts,
    population_of,
)
from governance.analysis.engine.sources import EngineTables
from governance.datasets.datastore.store import decoded_frame
from tests.analysis.conftest import synthetic
from tests.analysis.test_engines import KEY, RUNS, assert_same_release

# Gaps in every integer column a kind reads but the keys (every 7th, 11th, 13th... row).
GAPS = {"age_at_index": 7, "prior_offences": 11, "prior_custodial_sentences": 13, "employed": 5}
BY_EMPLOYED = ("descriptive", {"group_by": ["employed"], "rate_of": "reoffended"})
GAP_RUNS = [*RUNS, BY_EMPLOYED]


def _tables(kind: str, params: Mapping[str, Any], *, floats: bool) -> dict[str, pd.DataFrame]:
    """The declared columns with gaps in `GAPS`: as the store decodes them for the door now
    (pandas' nullable integers, its own function over the Arrow table it reads) or, with
    `floats`, as the engine was handed them before (float64, the gaps NaN)."""
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
        gapped = [column for column in GAPS if column in frame.columns]
        for column in gapped:
            values = frame[column].astype("float64")
            values[np.arange(len(frame)) % GAPS[column] == 0] = np.nan
            frame[column] = values
        if not floats:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            for column in gapped:
                position = table.schema.get_field_index(column)
                table = table.set_column(position, column, table.column(column).cast(pa.int64()))
            frame = decoded_frame(table)
            assert all(frame[column].dtype == "Int64" for column in gapped)
        tables[name] = frame
    return tables


def _run(
    engine: SqlEngine | None,
    kind: str,
    params: Mapping[str, Any],
    *,
    floats: bool = False,
    released: Any = (),
) -> dict[str, Any]:
    tables = _tables(kind, params, floats=floats)
    data: Mapping[str, pd.DataFrame] = tables
    if engine is not None:
        small = {name: tables.pop(name) for name in list(tables) if name == "cohort"}
        data = EngineTables(engine, tables, small)
    context = RunContext(
        DisclosurePolicy(), released=released, ledger_key=KEY, keep_population_keys=True
    )
    try:
        return run_analysis(kind, data, params, context).to_dict(include_keys=True)
    except AnalysisError as refused:  # a covariate with gaps: refused the same way
        return {"refused": f"{type(refused).__name__}: {refused}", "populations": []}


def _labels(result: Mapping[str, Any], dimension: str) -> set[str]:
    return {
        cell["labels"][dimension]
        for table in result["tables"]
        if dimension in table["dimensions"]
        for cell in table["cells"]
    }


def _as_integers(found: Any) -> Any:
    """A release with every "7.0" label of a gapped column written "7" (what it shows now)."""
    if isinstance(found, dict):
        if "labels" in found and isinstance(found["labels"], dict):
            found = {
                **found,
                "labels": {
                    k: v[:-2] if k in GAPS and str(v).endswith(".0") else v
                    for k, v in found["labels"].items()
                },
            }
        return {k: _as_integers(v) if k != "labels" else v for k, v in found.items()}
    if isinstance(found, list):
        return [_as_integers(v) for v in found]
    return found


def test_a_table_by_an_integer_category_with_a_gap_shows_integer_labels(
    duckdb_engine: DuckDBEngine,
) -> None:
    kind, params = BY_EMPLOYED
    for engine in (None, duckdb_engine):
        found = _run(engine, kind, params)
        assert _labels(found, "employed") == {"0", "1", "Missing", "Total"}
    before = _run(None, kind, params, floats=True)
    assert _labels(before, "employed") == {"0.0", "1.0", "Missing", "Total"}


@pytest.mark.parametrize(
    ("kind", "params"), GAP_RUNS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(GAP_RUNS)]
)
def test_integers_with_gaps_give_pandas_and_duckdb_the_same_release_and_figures_as_floats(
    duckdb_engine: DuckDBEngine, kind: str, params: dict[str, Any]
) -> None:
    """Every figure, suppression and population as when the gaps were floats; only the
    labels of gapped columns lose their ".0". DuckDB gives exactly pandas' release."""
    reference = _run(None, kind, params)
    assert_same_release(_as_integers(_run(None, kind, params, floats=True)), reference, kind)
    assert_same_release(reference, _run(duckdb_engine, kind, params), f"duckdb {kind}")


@pytest.mark.slow
@pytest.mark.xdist_group("spark")  # one JVM (2 GiB) at a time under xdist
def test_integers_with_gaps_give_spark_the_pandas_release(spark_session: Any) -> None:
    engine = SparkEngine(EngineSettings(), spark_session)
    try:
        for kind, params in [*RUNS[:3], BY_EMPLOYED]:
            reference = _run(None, kind, params)
            found = _run(engine, kind, params)
            assert_same_release(reference, found, f"spark {kind}")
        assert _labels(found, "employed") == {"0", "1", "Missing", "Total"}
    finally:
        engine.close()


def test_a_sql_engines_answer_keeps_integers_with_gaps_as_integers() -> None:
    gapped = pa.array([7, None, 9007199254740993], pa.int64())
    table = pa.table({"id": gapped, "n": pa.array([1, 2, 3], pa.int32()), "t": ["a", "b", None]})
    frame = from_engine(table, coded=["t"])
    assert list(frame.columns) == ["id", "n", "t"]
    assert [str(v) for v in frame["id"]] == ["7", "<NA>", "9007199254740993"]
    assert (frame["id"].dtype, frame["n"].dtype) == (pd.Int64Dtype(), np.dtype("int32"))
    # Streamed a batch at a time: a batch without a gap and one with give the column one type.
    batches = [
        pa.record_batch({"id": pa.array([1, 2], pa.int64())}),
        pa.record_batch({"id": pa.array([None, 4], pa.int64())}),
    ]
    kept = kept_rows(batches[0].schema, batches, lambda f: np.ones(len(f), dtype=bool))
    assert kept["id"].dtype == pd.Int64Dtype()
    assert [str(v) for v in kept["id"]] == ["1", "2", "<NA>", "4"]


def test_a_release_one_person_short_of_an_earlier_one_is_still_caught() -> None:
    """The attack across the change: an earlier release read person keys with gaps as floats
    ("2.0"); a new one, handed the exact integers ("2"), is one person away from it."""
    keys = pd.Series([float(k) if k % 10 else np.nan for k in range(1, 200)])
    earlier = population_of("earlier", keys, KEY)
    stored = pa.chunked_array([pa.array(keys.iloc[1:], type=pa.float64()).cast(pa.int64())])
    decoded = decoded_frame(pa.table({"person_id": stored}))
    assert decoded["person_id"].dtype == "Int64"
    new = population_of("new", decoded["person_id"], KEY)
    [conflict] = differencing_conflicts(new, [earlier], DisclosurePolicy().min_cell_size)
    assert (conflict.only_in_new, conflict.only_in_released) == (0, 1)


def _people(seed: int = 12, size: int = 90) -> pd.DataFrame:
    """People with an integer category with gaps (d0), two text ones and an integer key."""
    rng = np.random.default_rng(seed)
    d0 = pd.array(rng.choice([1, 2, 3], size=size, p=[0.6, 0.3, 0.1]), dtype="Int64")
    d0[rng.random(size) < 0.05] = pd.NA
    return pd.DataFrame(
        {
            "d0": d0,
            "d1": rng.choice(["a", "b"], size=size, p=[0.8, 0.2]),
            "d2": rng.choice(["x", "y", "z"], size=size, p=[0.7, 0.2, 0.1]),
            "person_id": np.arange(size),
        }
    )


def _descriptive(people: pd.DataFrame, by: list[str], released: Any = ()) -> Any:
    context = RunContext(DisclosurePolicy(), released=released, ledger_key=KEY)
    return run_analysis("descriptive", {"records": people}, {"group_by": by}, context)


def _suppressed(result: Any) -> list[tuple[Any, bool]]:
    return [
        (sorted(cell["labels"].items()), cell["disclosure"]["suppressed"])
        for table in result.to_dict()["tables"]
        for cell in table["cells"]
    ]


def test_a_table_released_with_float_labels_still_protects_the_next_one() -> None:
    """An earlier output by (d0, d1) over these people, labelled "1.0" as it was when d0
    reached the engine as floats, constrains a new output by (d0, d2) over the same people
    (labelled "1") exactly as the same release labelled "1" does: its cells are the same
    levels, so the new output hides what the two together would pin down."""
    people = _people()

    def released(first: Any) -> ReleasedPopulations:
        earlier = first.populations[0]
        return ReleasedPopulations((earlier,), {earlier.digest: first.to_dict()["tables"]})

    as_floats = _descriptive(people.assign(d0=people["d0"].astype("float64")), ["d0", "d1"])
    as_integers = _descriptive(people, ["d0", "d1"])
    assert "1.0" in _labels(as_floats.to_dict(), "d0")
    assert "1" in _labels(as_integers.to_dict(), "d0")
    alone = _suppressed(_descriptive(people, ["d0", "d2"]))
    after_integers = _suppressed(_descriptive(people, ["d0", "d2"], released(as_integers)))
    after_floats = _suppressed(_descriptive(people, ["d0", "d2"], released(as_floats)))
    assert after_integers != alone  # the earlier release matters here
    assert after_floats == after_integers
