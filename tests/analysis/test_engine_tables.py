"""Descriptive tables and rate comparisons aggregate on the engine, with pandas' answers.

On DuckDB and Spark the records are reduced, measured and grouped in SQL; only grouped rows,
each group's largest values and the person keys come back (records.py). These tests hold the
released output (tables after disclosure control, populations, statistics, notes) to pandas'
to the last count on generated data made hostile: quotes, SQL and unicode in category labels,
a label that case-folds to an excluded category, nulls in grouping and measured columns, and
cells small enough to be suppressed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.analysis.engine import DisclosurePolicy, RunContext, columns_needed, run_analysis
from governance.analysis.engine.disclosure import control_table, with_implied_counts
from governance.analysis.engine.engines import DuckDBEngine, EngineSettings, SparkEngine, SqlEngine
from governance.analysis.engine.ledger import population_of
from governance.analysis.engine.records import FrameRecords, Records, SqlRecords, load_records
from governance.analysis.engine.sources import EngineTables
from tests.analysis.conftest import synthetic
from tests.analysis.test_engines import KEY, assert_same, assert_same_release

HOSTILE = (
    'O\'Brien "quoted"; DROP TABLE records; --',
    "Ünïcödé 🚓 région",
    "back`tick",
    "Missing",
)


@functools.cache
def _hostile() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The synthetic index events with hostile labels, nulls and a few tiny groups."""
    data = synthetic()
    events = data.index_events.copy()
    rng = np.random.default_rng(5)
    n = len(events)
    region = events["region"].to_numpy(dtype=object, copy=True)
    region[rng.random(n) < 0.05] = HOSTILE[0]
    region[rng.random(n) < 0.02] = HOSTILE[1]
    region[rng.choice(n, 3, replace=False)] = HOSTILE[2]  # too few people: suppressed
    region[rng.choice(n, 4, replace=False)] = HOSTILE[3]  # shares "Missing" with the nulls
    region[rng.random(n) < 0.03] = None
    events["region"] = region
    sex = events["sex"].to_numpy(dtype=object, copy=True)
    sex[rng.random(n) < 0.01] = None
    events["sex"] = sex
    category = events["offence_category"].to_numpy(dtype=object, copy=True)
    category[rng.random(n) < 0.02] = "STRASSE"  # case-folds to the excluded "straße"
    category[rng.random(n) < 0.01] = None
    events["offence_category"] = category
    priors = events["prior_offences"].to_numpy(dtype=float, copy=True)
    priors[rng.random(n) < 0.04] = np.nan  # a number column with missing values
    events["prior_offences"] = priors
    return events, data.offences


def hostile_records() -> tuple[pd.DataFrame, pd.DataFrame]:
    events, offences = _hostile()
    return events.copy(), offences


EXCLUDED = ["straße", "Sexual"]
RUNS: list[tuple[str, dict[str, Any]]] = [
    (
        "descriptive",
        {
            "group_by": ["region", "sex"],
            "rate_of": "reoffended",
            "mean_of": "reoffences",
            "excluded_offence_categories": EXCLUDED,
        },
    ),
    ("descriptive", {"group_by": ["region", "prior_offences"], "rate_of": "employed"}),
    ("descriptive", {"group_by": ["employed"], "mean_of": "prior_offences"}),
    ("descriptive", {"group_by": ["index_disposal"], "mean_of": "days_to_first_reoffence"}),
    (
        "rate_comparison",
        {
            "group_column": "region",
            "group_a": HOSTILE[0],
            "group_b": "london",
            "outcome": "reoffended",
            "excluded_offence_categories": EXCLUDED,
        },
    ),
    (
        "rate_comparison",
        {
            "group_column": "prior_offences",
            "group_a": "1.0",
            "group_b": "3.0",
            "outcome": "employed",
        },
    ),
]
IDS = [f"{kind}-{i}" for i, (kind, _) in enumerate(RUNS)]


def run_with(engine: SqlEngine | None, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    events, offences = hostile_records()
    tables = {
        name: {"records": events, "offences": offences}[name][columns]
        for name, columns in columns_needed(kind, params).items()
    }
    data: Mapping[str, pd.DataFrame] = tables
    if engine is not None:
        data = EngineTables(engine, tables)
    policy = DisclosurePolicy(min_cell_size=10)
    context = RunContext(policy, ledger_key=KEY, keep_population_keys=True)
    return run_analysis(kind, data, params, context).to_dict(include_keys=True)


@pytest.mark.parametrize(("kind", "params"), RUNS, ids=IDS)
def test_duckdb_releases_the_pandas_tables_from_grouped_rows_only(
    duckdb_engine: DuckDBEngine,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    params: dict[str, Any],
) -> None:
    expected = run_with(None, kind, params)

    def whole_table(self: EngineTables, table: str) -> pd.DataFrame:
        raise AssertionError(f"the {table} table was read whole into pandas")

    monkeypatch.setattr(EngineTables, "__getitem__", whole_table)
    found = run_with(duckdb_engine, kind, params)
    assert_same_release(expected, found, kind)


def test_the_hostile_data_reaches_every_case() -> None:
    """The fixed runs do meet suppression, the shared "Missing" label, exclusion by case
    folding and Welch's test, so the agreement above covers them."""
    first = run_with(None, *RUNS[0])
    counts = next(t for t in first["tables"] if t["name"] == "counts")["cells"]
    regions = {cell["labels"]["region"] for cell in counts}
    assert {HOSTILE[0], HOSTILE[1], HOSTILE[2], "Missing"} <= regions
    small = [c for c in counts if c["labels"] == {"region": HOSTILE[2], "sex": "Total"}]
    assert small
    assert small[0]["disclosure"]["suppressed"]
    assert any("straße" in note for note in first["notes"])
    third = run_with(None, *RUNS[2])
    assert "welch" in third["statistics"]


def test_a_column_sql_cannot_read_as_pandas_does_falls_back_to_pandas(
    duckdb_engine: DuckDBEngine,
) -> None:
    """A mean of a text column (pandas parses the numbers in it) is computed in pandas."""
    events, _offences = hostile_records()
    events["priors_text"] = events["prior_offences"].map(lambda v: None if pd.isna(v) else f"{v:g}")
    params = {"group_by": ["sex"], "mean_of": "priors_text"}
    tables = {"records": events[columns_needed("descriptive", params)["records"]]}
    context = RunContext(DisclosurePolicy(), ledger_key=KEY)
    expected = run_analysis("descriptive", tables, params, context).to_dict()
    found = run_analysis(
        "descriptive", EngineTables(duckdb_engine, tables), params, context
    ).to_dict()
    assert_same(expected, found)


labels = st.one_of(st.none(), st.sampled_from([*HOSTILE, "a", "b", "B", "ß"]))
numbers = st.one_of(st.none(), st.integers(-3, 3))


def people_cells(records: Records, by: list[str]) -> list[tuple[bytes, tuple[str, ...]]]:
    """Each member's hash and cell labels, as the ledger records them."""
    people = records.people(by)
    population = population_of("p", people["person_id"], KEY, cells=people[by])
    assert population.members is not None
    if population.cells is None:
        return [(member, ()) for member in population.members.tolist()]
    labels = population.cells.labels
    return [
        (member, tuple(labels[j][code] for j, code in enumerate(codes)))
        for member, codes in zip(
            population.members.tolist(), population.cells.codes.tolist(), strict=True
        )
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(1, 12),  # person (several records each)
            st.one_of(st.none(), st.integers(0, 30)),  # index date, in days
            labels,
            numbers,
            st.integers(0, 1),
            st.one_of(st.none(), st.integers(-4000, 4000).map(lambda v: v / 4)),
            st.sampled_from(["violence", "Sexual", "SEXUAL", None]),
        ),
        min_size=1,
        max_size=40,
    ),
    by=st.sampled_from([["label"], ["label", "number"], ["number", "label", "event"]]),
    exclude=st.booleans(),
)
def test_sql_aggregation_equals_the_pandas_aggregation(
    rows: list[tuple[Any, ...]], by: list[str], exclude: bool
) -> None:
    """Cells (every combination and margin), the released table, the people counted and the
    notes are pandas' for any records: duplicates, ties, missing dates, labels and values."""
    base = pd.Timestamp("2019-01-01")
    frame = pd.DataFrame(
        rows,
        columns=["person_id", "day", "label", "number", "event", "value", "offence_category"],
    )
    frame["person_id"] = frame["person_id"].map(lambda v: f"p{v}")
    frame["index_date"] = pd.to_datetime(
        [pd.NaT if pd.isna(d) else base + pd.Timedelta(days=int(d)) for d in frame["day"]]
    )
    frame["number"] = frame["number"].astype("Int64")
    frame["value"] = frame["value"].astype(float)
    frame = frame.drop(columns="day")
    excluded = ["sexual"] if exclude else []
    engine = DuckDBEngine(EngineSettings(duckdb_memory_limit="256MB", duckdb_threads=1))
    policy = DisclosurePolicy(min_cell_size=3)
    try:
        sql_notes: list[str] = []
        found = load_records(
            EngineTables(engine, {"records": frame}),
            list(frame.columns),
            ["event", "value"],
            sql_notes,
            excluded,
            mean_of="value",
            origins_of=RunContext(policy).origins,
        )
        notes: list[str] = []
        expected = load_records(
            {"records": frame},
            list(frame.columns),
            [],
            notes,
            excluded,
            mean_of="value",
            origins_of=RunContext(policy).origins,
        )
        assert isinstance(found, SqlRecords)
        assert isinstance(expected, FrameRecords)
        assert sql_notes == notes
        # The same people, each in the same cell (what the ledger records of them).
        assert people_cells(found, by) == people_cells(expected, by)
        if len(expected) == 0:
            return
        for options in ({}, {"event_column": "event"}, {"value_column": "value"}):
            want, got = expected, found
            if "value_column" in options:
                want, got = expected.valued("value"), found.valued("value")
                assert len(want) == len(got)
                if len(want) == 0:
                    continue
            cells = want.cells(by, **options)
            found_cells = got.cells(by, **options)
            pd.testing.assert_frame_equal(cells, found_cells, check_dtype=False)
            measure = "mean" if options.get("value_column") else "count"
            if measure == "mean":
                # The values a reader can use to turn means into counts of people, too.
                assert got.domain("value") == want.domain("value")
                cells = with_implied_counts(cells, want.domain("value"))
                found_cells = with_implied_counts(found_cells, got.domain("value"))
            assert (
                control_table(cells, by, measure, policy).to_dict()
                == control_table(found_cells, by, measure, policy).to_dict()
            )
    finally:
        engine.close()


@pytest.mark.slow
@pytest.mark.every_python  # the quick tests' one Spark run on the other Pythons
@pytest.mark.xdist_group("spark")  # one JVM (2 GiB) at a time under xdist
def test_spark_releases_the_pandas_tables(spark_session: Any) -> None:
    """A few fixed runs (each Spark query costs seconds on a busy 2-core machine)."""
    engine = SparkEngine(EngineSettings(), spark_session)
    try:
        for kind, params in (RUNS[0], RUNS[2], RUNS[4]):
            assert_same_release(run_with(None, kind, params), run_with(engine, kind, params), kind)
    finally:
        engine.close()
