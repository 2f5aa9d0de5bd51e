"""Probabilistic linkage (Splink on in-memory DuckDB) against data whose truth is known.

Two labelled sets: the project's generator (engine/synthetic_linkage.py: messy names, typos,
dates a day out or with day and month exchanged, people the register lacks) and the MoJ's own
`fake_1000` (tests/data/splink_fake_1000.csv, MIT), far noisier. The bounds are the figures
docs/analysis.md reports, rounded down.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from governance.analysis.engine import probabilistic_linkage as linkage
from governance.analysis.engine import splink_model
from governance.analysis.engine.errors import AnalysisParameterError
from governance.analysis.engine.probabilistic_linkage import (
    DuckDBLimits,
    LinkageOptions,
    LinkageThresholds,
    ProbabilisticLinkageResult,
    link_cohort_probabilistic,
)
from governance.analysis.engine.synthetic_linkage import LabelledLinkage, labelled_linkage

FAKE_1000 = Path(__file__).resolve().parent.parent / "data" / "splink_fake_1000.csv"
FAST = DuckDBLimits(memory_limit="1GB", u_sample_pairs=1e5)


@functools.cache
def generated() -> tuple[LabelledLinkage, ProbabilisticLinkageResult]:
    data = labelled_linkage(3_000, 300, seed=5)
    return data, link_cohort_probabilistic(
        data.cohort, data.register, LinkageThresholds(0.95, 0.5), limits=FAST
    )


def precision_recall(linked: pd.DataFrame, truth: pd.Series) -> tuple[float, float]:
    expected = truth.fillna(-1).astype("int64").to_numpy()[linked["cohort_row"].to_numpy()]
    right = int((linked["person_id"].to_numpy() == expected).sum())
    return right / max(len(linked), 1), right / int(truth.notna().sum())


def test_generated_labelled_set_is_linked_with_high_precision_and_recall() -> None:
    data, result = generated()
    precision, recall = precision_recall(result.linked, data.true_person_id)
    assert precision >= 0.98
    assert recall >= 0.85
    report = result.report()
    # The model's own estimate is close to the truth it never saw.
    assert report["estimated_precision"] >= 0.95
    assert abs(report["estimated_recall"] - recall) < 0.1


def test_people_missing_from_the_register_are_not_linked() -> None:
    data, result = generated()
    absent = set(np.flatnonzero(data.true_person_id.isna().to_numpy()))
    linked_absent = absent & set(result.linked["cohort_row"])
    assert len(linked_absent) <= 1


def fake_1000() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Register: each true person's first record; cohort: another record of each, with 20
    people left out of the register."""
    records = pd.read_csv(FAKE_1000, dtype=str)
    records["name"] = records["first_name"].fillna("") + " " + records["surname"].fillna("")
    records["name"] = records["name"].str.strip()
    first = records.groupby("cluster").head(1)
    cohort = records.drop(first.index).groupby("cluster").head(1)
    absent = set(cohort["cluster"].iloc[::10].head(20))
    register = first[~first["cluster"].isin(absent)]
    register = pd.DataFrame(
        {
            "person_id": register["cluster"].astype(int),
            "name": register["name"],
            "date_of_birth": register["dob"],
            "sex": "F",  # fake_1000 records no sex: the same on both sides, so uninformative
        }
    )
    cohort_file = pd.DataFrame(
        {
            "name": cohort["name"].to_numpy(),
            "date_of_birth": pd.to_datetime(cohort["dob"]).dt.strftime("%d/%m/%Y").to_numpy(),
            "sex": "F",
            "intervention_start": "01/01/2020",
        }
    )
    truth = pd.Series(cohort["cluster"].astype(int).to_numpy(), dtype="Int64")
    truth[truth.isin(list(map(int, absent)))] = pd.NA
    return register, cohort_file, truth


@pytest.mark.slow
def test_splinks_own_labelled_set_is_linked_precisely() -> None:
    register, cohort, truth = fake_1000()
    result = link_cohort_probabilistic(cohort, register, LinkageThresholds(0.95, 0.5), limits=FAST)
    precision, recall = precision_recall(result.linked, truth)
    assert precision >= 0.95
    assert recall >= 0.2  # name and date of birth alone: see docs/analysis.md


def identifier_values(data: LabelledLinkage) -> set[str]:
    values = set(data.cohort["name"]) | set(data.register["name"])
    values |= set(data.cohort["date_of_birth"])
    values |= {d.strftime("%Y-%m-%d") for d in data.register["date_of_birth"]}
    return {v for v in values if len(v) > 4}


def test_the_report_holds_no_name_or_date_of_birth() -> None:
    data, result = generated()
    text = json.dumps(result.report(), default=str)
    assert not [value for value in identifier_values(data) if value in text]
    assert {"match_rate", "weight_distribution", "estimated_precision", "dropped"} <= set(
        result.report()
    )
    assert sum(b["rows"] for b in result.report()["weight_distribution"]) > 0
    assert set(result.report()["dropped"]) <= set(result.report()["dropped_explained"])


def test_pairs_between_the_thresholds_go_to_review_not_to_the_linked_rows() -> None:
    _data, result = generated()
    assert not set(result.review["cohort_row"]) & set(result.linked["cohort_row"])
    review = result.review["match_probability"]
    assert ((review >= 0.5) | result.review["why"].str.startswith("several")).all()
    assert set(result.dropped.loc[result.dropped["reason"] == "clerical_review", "cohort_row"]) == (
        set(result.review["cohort_row"])
    )


def test_duckdb_runs_in_memory_with_no_temporary_directory(monkeypatch: Any) -> None:
    """No spill of plaintext rows to disk: DuckDB gets no temporary directory at all."""
    seen: list[dict[str, Any]] = []
    connect = duckdb.connect

    def spy(database: str, config: dict[str, Any]) -> Any:
        seen.append({"database": database, **config})
        return connect(database, config=config)

    # The linkage imports DuckDB when it first runs (the app starts without it).
    monkeypatch.setattr(duckdb, "connect", spy)
    data = labelled_linkage(600, 40, seed=2)
    link_cohort_probabilistic(data.cohort, data.register, LinkageThresholds(), limits=FAST)
    assert seen == [
        {"database": ":memory:", "memory_limit": "1GB", "threads": 2, "temp_directory": ""}
    ]


def test_an_in_memory_duckdb_without_temporary_directory_cannot_spill() -> None:
    connection = duckdb.connect(":memory:", config={"temp_directory": "", "memory_limit": "50MB"})
    with pytest.raises(duckdb.OutOfMemoryException, match="no temporary directory"):
        connection.sql(
            "create table t as select range i, md5(range::varchar) s from range(5000000) order by s"
        ).fetchall()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"method": "fuzzy"}, "linkage.method"),
        ({"accept_probability": 1.2}, "linkage.accept_probability"),
        ({"accept_probability": 0.9, "review_probability": 0.95}, "linkage.review_probability"),
        ({"review_probability": "half"}, "linkage.review_probability"),
    ],
)
def test_bad_linkage_settings_are_refused_naming_the_field(
    settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(AnalysisParameterError) as refused:
        LinkageOptions(**settings)
    assert refused.value.field == field


def test_a_lone_candidate_is_certain_and_two_alike_split_the_probability() -> None:
    """The probability is that of being the row's one register record: a pair agreeing on
    everything with nobody else near passes, two equally good candidates share it."""
    strong = 30.0  # a Bayes factor that beats a ten-million register's prior by about 100
    pairs = pd.DataFrame(
        {
            "cohort_row": [0, 1, 1, 2],
            "person_id": [10, 11, 12, 13],
            "match_weight": [strong - 23.25, strong - 23.25, strong - 23.25, -30.0],
        }
    )
    scored = linkage._one_to_one(pairs, register_size=10_000_000, valid_rows=3)
    lone, first, second, weak = scored["match_probability"]
    assert lone > 0.95
    assert first == pytest.approx(second)
    assert first < 0.5
    assert weak < 0.001


def test_broad_blocking_rules_are_used_only_within_the_pair_budget() -> None:
    data = labelled_linkage(3_000, 300, seed=5)
    tight = DuckDBLimits(memory_limit="1GB", u_sample_pairs=1e5, pair_budget=1)
    result = link_cohort_probabilistic(
        data.cohort, data.register, LinkageThresholds(0.95, 0.5), limits=tight
    )
    assert result.report()["blocking_rules"] == [rule for _, rule in splink_model.TIGHT_RULES]
    _data, everything = generated()
    assert len(everything.report()["blocking_rules"]) == len(splink_model.TIGHT_RULES) + len(
        splink_model.BROAD_RULES
    )
    precision, recall = precision_recall(result.linked, data.true_person_id)
    assert precision >= 0.98
    assert recall >= 0.85


@pytest.mark.slow
def test_splink_on_the_runs_spark_session_links_as_on_duckdb(spark_session: Any) -> None:
    """A run on Spark links there (Splink's SparkAPI on the run's session, no DuckDB opened):
    the same blocking, the same quality against the truth, nearly the same links (the u
    sample is drawn by each engine's own random sampling), and Splink's tables gone after,
    while the run's own views of the same names are neither replaced nor dropped."""
    data, on_duckdb = generated()
    for name in ("cohort", "register"):
        # Made in SQL: a local list would go to the JVM through PySpark's leaky socket.
        spark_session.sql(f"select '{name}' as runs_own").createOrReplaceTempView(name)
    opened: list[str] = []
    connect = duckdb.connect
    try:
        duckdb.connect = lambda *a, **k: opened.append("duckdb") or connect(*a, **k)  # type: ignore[assignment]
        on_spark = link_cohort_probabilistic(
            data.cohort,
            data.register,
            LinkageThresholds(0.95, 0.5),
            limits=FAST,
            spark_session=spark_session,
        )
    finally:
        duckdb.connect = connect  # type: ignore[assignment]
    assert opened == []
    assert on_spark.report()["splink_backend"] == "Spark"
    assert on_duckdb.report()["splink_backend"] == "DuckDB"
    assert on_spark.report()["blocking_rules"] == on_duckdb.report()["blocking_rules"]
    precision, recall = precision_recall(on_spark.linked, data.true_person_id)
    assert precision >= 0.98
    assert recall >= 0.85
    pairs = {tuple(r) for r in on_duckdb.linked[["cohort_row", "person_id"]].to_numpy()}
    same = {tuple(r) for r in on_spark.linked[["cohort_row", "person_id"]].to_numpy()} & pairs
    assert len(same) >= 0.97 * len(pairs)
    left = [t.name for t in spark_session.catalog.listTables() if "splink" in t.name]
    assert left == []
    for name in ("cohort", "register"):
        assert spark_session.table(name).collect()[0]["runs_own"] == name
        spark_session.catalog.dropTempView(name)


def test_namesakes_born_years_apart_stop_weighing_once_m_is_refined() -> None:
    """Splink's EM among namesakes can leave a date years out with half the matches' m; each
    such namesake then takes a share of its row's probability and, at ten million people,
    sinks the person. Refined on the one-to-one posterior, the date's m follows the pairs the
    model believes, the person is linked, and a row of namesakes alone stays unlinked."""
    rows, crowd = 200, 2_000
    prior = np.log2(1 / 10_000_000)
    names = np.log2(15_000)  # forename and surname agree exactly, the same in every pair
    polluted = {"exact": (0.5, 1e-4), "else": (0.5, 0.9999)}
    dob_weight = {level: np.log2(m / u) for level, (m, u) in polluted.items()}
    row = np.repeat(np.arange(rows), crowd + 1)
    true = np.tile(np.r_[True, np.zeros(crowd, dtype=bool)], rows)
    true[row >= rows - 20] = False  # twenty people absent from the register: namesakes only
    pairs = pd.DataFrame(
        {
            "cohort_row": row,
            "person_id": np.arange(len(row)),
            "match_weight": prior + names + np.where(true, dob_weight["exact"], dob_weight["else"]),
            "gamma_date_of_birth": np.where(true, 1, 0).astype(np.int8),
        }
    )
    model = {
        "comparisons": [
            {
                "output_column_name": "date_of_birth",
                "comparison_levels": [
                    {"is_null_level": True},
                    {"m_probability": polluted["exact"][0], "u_probability": 1e-4},
                    {"m_probability": polluted["else"][0], "u_probability": 0.9999},
                ],
            }
        ]
    }
    before = linkage._one_to_one(pairs, register_size=10_000_000, valid_rows=rows)
    after = linkage._refine_m(pairs, model, register_size=10_000_000, valid_rows=rows)
    assert before.loc[true, "match_probability"].max() < 0.95
    assert after.loc[true, "match_probability"].min() > 0.95
    absent = after["cohort_row"] >= rows - 20
    assert after.loc[absent, "match_probability"].max() < 0.5
    # The report's model shows the refined m (Splink's estimate weighs as 20 pairs).
    _null, exact, other = model["comparisons"][0]["comparison_levels"]
    assert exact["m_probability"] > 0.8
    assert other["m_probability"] < 0.25  # from 0.5


def test_a_date_with_day_and_month_exchanged_or_a_surname_one_letter_out_is_still_linked() -> None:
    data, result = generated()
    truth = data.true_person_id
    register = data.register.set_index("person_id")
    linked = result.linked.set_index("cohort_row")["person_id"]
    swapped = []
    for row, person in truth.dropna().items():
        written = pd.to_datetime(data.cohort.loc[row, "date_of_birth"], dayfirst=True)
        born = register.loc[person, "date_of_birth"]
        if written != born and (written.day, written.month) == (born.month, born.day):
            swapped.append(row)
    assert len(swapped) >= 3
    assert all(linked.get(row) == truth[row] for row in swapped)
    summary = result.report()["model"]["date_of_birth"]
    exchanged = next(level for level in summary if level["level"] == "Day and month exchanged")
    assert exchanged["m"] > 100 * exchanged["u"]


def test_scored_pairs_leave_duckdb_as_keys_scores_and_levels_only(monkeypatch: Any) -> None:
    """Splink keeps the compared names and dates beside each pair's levels; only integers and
    scores may be copied out of DuckDB into the process's frames (and so into any output)."""
    seen: list[pd.DataFrame] = []
    real = linkage._refine_m

    def spy(pairs: pd.DataFrame, *args: Any) -> pd.DataFrame:
        seen.append(pairs)
        return real(pairs, *args)

    monkeypatch.setattr(linkage, "_refine_m", spy)
    data = labelled_linkage(2_000, 100, seed=3)
    link_cohort_probabilistic(data.cohort, data.register, LinkageThresholds(), limits=FAST)
    (pairs,) = seen
    assert any(column.startswith("gamma_date_of_birth") for column in pairs.columns)
    assert all(pd.api.types.is_numeric_dtype(dtype) for dtype in pairs.dtypes)
    text = pairs.to_csv()
    assert not [value for value in identifier_values(data) if value in text]
