"""The three engines give the same answers on generated data, and DuckDB never spills to disk.

pandas is the reference. DuckDB runs in every test run; Spark (a JVM, slow to start) runs in a
few tests marked slow, on one session-wide SparkSession, and is skipped when Java is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.analysis.engine import (
    DisclosurePolicy,
    RunContext,
    SyntheticDataset,
    columns_needed,
    run_analysis,
)
from governance.analysis.engine.engines import (
    DUCKDB,
    PANDAS,
    SPARK,
    DuckDBEngine,
    EngineSettings,
    SparkEngine,
    SqlEngine,
    choose_engine,
)
from governance.analysis.engine.errors import AnalysisParameterError
from governance.analysis.engine.reoffending import derive_outcomes
from governance.analysis.engine.sources import EngineTables, SqlSource
from tests.analysis.conftest import MATCHED_PARAMS, synthetic

KEY = b"k" * 32
RUNS: list[tuple[str, dict[str, Any]]] = [
    ("matched_comparison", MATCHED_PARAMS),
    (
        "descriptive",
        {"group_by": ["sex", "region"], "rate_of": "reoffended", "mean_of": "reoffences"},
    ),
    (
        "rate_comparison",
        {
            "group_column": "index_disposal",
            "group_a": "custody",
            "group_b": "community",
            "outcome": "reoffended",
        },
    ),
    ("descriptive", {"group_by": ["employed"], "mean_of": "days_to_first_reoffence"}),
]


def tables_for(data: SyntheticDataset, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the declared columns, as the door would load them."""
    source = {
        "cohort": data.cohort,
        "index_events": data.index_events,
        "records": data.index_events,
        "offences": data.offences,
    }
    return {name: source[name][columns] for name, columns in columns_needed(kind, params).items()}


def run_on(engine: SqlEngine | None, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    tables = tables_for(synthetic(), kind, params)
    data: Mapping[str, pd.DataFrame] = tables
    if engine is not None:
        small = {name: tables.pop(name) for name in list(tables) if name == "cohort"}
        data = EngineTables(engine, tables, small)
    context = RunContext(DisclosurePolicy(), ledger_key=KEY, keep_population_keys=True)
    return run_analysis(kind, data, params, context).to_dict(include_keys=True)


def assert_same(expected: Any, found: Any, where: str = "result") -> None:
    """Equal to the last count; floating-point figures within 1e-9 (relative)."""
    if isinstance(expected, float) and isinstance(found, float | int):
        both_nan = math.isnan(expected) and math.isnan(found)
        assert both_nan or math.isclose(expected, found, rel_tol=1e-9, abs_tol=1e-12), where
    elif isinstance(expected, Mapping):
        assert isinstance(found, Mapping), where
        assert set(expected) == set(found), where
        for key in expected:
            assert_same(expected[key], found[key], f"{where}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(found, list | tuple), where
        assert len(expected) == len(found), where
        for i, (a, b) in enumerate(zip(expected, found, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert expected == found, where


def assert_same_release(expected: Mapping[str, Any], found: Mapping[str, Any], where: str) -> None:
    """The same released output, and the same people behind each population."""
    assert_same(expected, found, where)
    assert [p["keys"] for p in expected["populations"]] == [p["keys"] for p in found["populations"]]


@pytest.mark.parametrize(
    ("kind", "params"), RUNS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(RUNS)]
)
def test_duckdb_gives_the_pandas_tables_estimates_and_matched_sets(
    duckdb_engine: DuckDBEngine, kind: str, params: dict[str, Any]
) -> None:
    expected = run_on(None, kind, params)
    found = run_on(duckdb_engine, kind, params)
    assert_same(expected, found)
    # The matched sets themselves (population members), not only their sizes, are the same.
    assert [p["keys"] for p in expected["populations"]] == [p["keys"] for p in found["populations"]]


def test_duckdb_never_writes_temporary_files_and_reads_nothing_else(
    duckdb_engine: DuckDBEngine, tmp_path: Any
) -> None:
    connection = duckdb_engine.connection
    assert connection.execute("SELECT current_setting('temp_directory')").fetchone() == ("",)
    for statement in (
        f"SET temp_directory = '{tmp_path}'",
        f"SELECT * FROM read_csv('{tmp_path}/x.csv')",  # noqa: S608 - the test's own path
        "SET memory_limit = '100GB'",
    ):
        with pytest.raises(Exception, match=r"(?i)disabled|permission|locked|configuration"):
            connection.execute(statement)
    assert list(tmp_path.iterdir()) == []


def test_a_query_beyond_the_memory_limit_fails_instead_of_spilling(tmp_path: Any) -> None:
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="64MB", duckdb_threads=1))
    try:
        with pytest.raises(Exception, match=r"(?i)memory"):
            engine.connection.execute(
                "SELECT i, count(*) FROM range(30000000) t(i) GROUP BY i ORDER BY i"
            ).fetchall()
    finally:
        engine.close()


days = st.integers(min_value=-50, max_value=800)


@settings(max_examples=40, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(1, 6), st.one_of(st.none(), days)), min_size=1, max_size=12
    ),
    offences=st.lists(
        st.tuples(st.integers(1, 7), st.one_of(st.none(), days), st.one_of(st.none(), days)),
        max_size=25,
    ),
    follow_up=st.integers(0, 400),
    waiting=st.integers(0, 200),
)
def test_the_reoffending_measures_in_sql_equal_the_reference(
    events: list[tuple[int, int | None]],
    offences: list[tuple[int, int | None, int | None]],
    follow_up: int,
    waiting: int,
) -> None:
    """Edge cases of the window (day 0, the last day, proven late, proven before committed,
    missing dates, several events of one person) fall the same way in SQL and pandas."""
    base = pd.Timestamp("2018-01-01")

    def day(value: int | None) -> Any:
        return pd.NaT if value is None else base + pd.Timedelta(days=value)

    frame = pd.DataFrame(
        {"person_id": [p for p, _ in events], "index_date": [day(d) for _, d in events]},
        index=np.arange(len(events)) * 3 + 7,
    )
    frame["index_date"] = pd.to_datetime(frame["index_date"])
    long = pd.DataFrame(
        {
            "person_id": pd.Series([p for p, _, _ in offences], dtype="int64"),
            "offence_date": pd.to_datetime(
                pd.Series([day(o) for _, o, _ in offences], dtype=object)
            ),
            "proven_date": pd.to_datetime(
                pd.Series([day(v) for _, _, v in offences], dtype=object)
            ),
        }
    )
    expected = derive_outcomes(frame, long, follow_up, waiting)
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="256MB", duckdb_threads=1))
    try:
        found = SqlSource(EngineTables(engine, {"offences": long})).outcomes(
            frame, follow_up, waiting
        )
    finally:
        engine.close()
    pd.testing.assert_frame_equal(expected, found, check_dtype=False)


def test_the_engine_is_chosen_by_configuration_then_size() -> None:
    assert choose_engine("auto", 10, duckdb_min_rows=1000) == PANDAS
    assert choose_engine("auto", 1000, duckdb_min_rows=1000) == DUCKDB
    assert choose_engine("auto", 10**9, duckdb_min_rows=1000) == DUCKDB
    assert choose_engine("auto", 10**9, duckdb_min_rows=1000, spark_min_rows=10**8) == SPARK
    assert choose_engine("spark", 10, duckdb_min_rows=1000) == SPARK
    assert choose_engine("pandas", 10**9, duckdb_min_rows=1000) == PANDAS
    with pytest.raises(AnalysisParameterError):
        choose_engine("polars", 10, duckdb_min_rows=1000)


@pytest.mark.slow
@pytest.mark.xdist_group("spark")  # one JVM (2 GiB) at a time under xdist
def test_spark_gives_the_pandas_tables_estimates_and_matched_sets(spark_session: Any) -> None:
    """One test for every kind (each Spark query costs seconds on a busy 2-core machine)."""
    engine = SparkEngine(EngineSettings(), spark_session)
    try:
        for kind, params in RUNS[:3]:
            assert_same_release(run_on(None, kind, params), run_on(engine, kind, params), kind)
    finally:
        engine.close()


def test_the_pool_comes_back_coded_with_the_reference_values(duckdb_engine: DuckDBEngine) -> None:
    """The comparison pool's text columns arrive as codes (a pandas categorical), their values
    those of the pandas reference's pool row for row; numbers and dates stay as they were."""
    from governance.analysis.engine.sources import PandasSource

    events = synthetic().index_events
    columns = [c for c in events.columns if c != "name"]
    first, last = pd.Timestamp("2016-01-01"), pd.Timestamp("2017-06-30")
    excluded = events["person_id"].head(50).tolist()
    expected = PandasSource({"index_events": events}).pool(
        "index_events", columns, excluded, first, last
    )
    found = SqlSource(EngineTables(duckdb_engine, {"index_events": events})).pool(
        "index_events", columns, excluded, first, last
    )
    text = [c for c in columns if c != "person_id" and pd.api.types.is_string_dtype(events[c])]
    assert text
    assert all(isinstance(found[c].dtype, pd.CategoricalDtype) for c in text)
    pd.testing.assert_frame_equal(
        expected.reset_index(drop=True),
        found.astype(dict.fromkeys(text, object)).reset_index(drop=True),
        check_dtype=False,
    )


def test_the_pool_read_in_batches_is_the_whole_answer_less_the_rows_dropped(
    duckdb_engine: DuckDBEngine,
) -> None:
    """Read a few rows at a time, with the rows a rule drops left out as they arrive, the pool
    is the whole answer filtered afterwards: the same rows in the same order, the same values
    and column types (a column missing a value only in a dropped row is still the type a
    column with a missing value has), and a coded column's levels in the same order (a level
    first seen in a dropped row included)."""
    from governance.analysis.engine.sources import PandasSource

    events = synthetic().index_events.drop(columns="name")
    columns = list(events.columns)
    first, last = pd.Timestamp("2014-01-01"), pd.Timestamp("2021-12-31")
    excluded = events["person_id"].head(50).tolist()
    # Every seventh row of the pool loses its number, the first five of them to a new label.
    marked = (
        PandasSource({"index_events": events})
        .pool("index_events", columns, excluded, first, last)
        .index[::7]
    )
    events["prior_offences"] = events["prior_offences"].astype("Int64")
    events.loc[marked, "prior_offences"] = pd.NA
    events.loc[marked[:5], "offence_category"] = "seen only in dropped rows"

    def keep(rows: pd.DataFrame) -> np.ndarray:
        return np.asarray(rows["prior_offences"].notna() & (rows["age_at_index"] >= 18))

    source = SqlSource(EngineTables(duckdb_engine, {"index_events": events}))
    whole = source.pool("index_events", columns, excluded, first, last)
    expected = whole[keep(whole)].reset_index(drop=True)
    duckdb_engine.batch_rows = 50
    found = source.pool("index_events", columns, excluded, first, last, keep=keep)

    assert len(whole) > 20 * duckdb_engine.batch_rows
    assert len(found) < len(whole) - len(marked)
    # An integer column with a gap comes back as integers, as the door hands it to pandas.
    assert expected["prior_offences"].dtype == pd.Int64Dtype()
    assert "seen only in dropped rows" in list(found["offence_category"].cat.categories)
    pd.testing.assert_frame_equal(expected, found.reset_index(drop=True))
    # The pandas reference applies the same rule to the same pool.
    reference = PandasSource({"index_events": events}).pool(
        "index_events", columns, excluded, first, last, keep=keep
    )
    assert reference["person_id"].tolist() == found["person_id"].tolist()


def test_a_matched_run_lets_the_register_go_once_no_later_step_reads_it(
    duckdb_engine: DuckDBEngine,
) -> None:
    """The register's tables are the run's largest: a matched comparison drops each from the
    engine when it has read the last of it (the index events after the pool, the offences
    after the outcomes), so the fit and the variances do not run beside them."""
    tables = tables_for(synthetic(), "matched_comparison", MATCHED_PARAMS)
    cohort = tables.pop("cohort")
    data = EngineTables(duckdb_engine, tables, {"cohort": cohort})
    before = {row[0] for row in duckdb_engine.connection.sql("SHOW TABLES").fetchall()}
    seen: list[tuple[str, bool, bool]] = []

    def progress(fraction: float, message: str) -> None:
        seen.append((message, "index_events" in data, "offences" in data))

    context = RunContext(DisclosurePolicy(), ledger_key=KEY, progress=progress)
    run_analysis("matched_comparison", data, MATCHED_PARAMS, context)

    held = {message: (events, offences) for message, events, offences in seen}
    assert held["linking the cohort to administrative records"] == (True, True)
    assert held["deriving the re-offending outcomes"] == (False, True)
    assert held["fitting the propensity model and matching"] == (False, False)
    assert "index_events" not in data
    assert "offences" not in data
    after = {row[0] for row in duckdb_engine.connection.sql("SHOW TABLES").fetchall()}
    assert before >= {"index_events", "offences"}
    assert not after & {"index_events", "offences", "excluded_people", "outcome_events"}
