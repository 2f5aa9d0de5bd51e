"""The row-level work of an analysis, once for pandas and once in SQL for DuckDB and Spark.

A kind asks its source for data already reduced to what the statistics need: the register's
persons with a date of birth some cohort row could link to, the index events of given people,
the comparison pool (each outside person's earliest index event in a date range) and the
re-offending measures of given index events. The reductions are the expensive part (millions of
rows, hash joins and windows); what they return (candidates, a few columns) stays in memory for
linkage, propensity fitting and matching, which run the same pandas code on every engine.

``PandasSource`` is the reference: it calls today's functions in reoffending.py. ``SqlSource``
runs queries.py on a DuckDB or Spark engine. Both return rows in the order of the loaded table,
so ties (earliest event, greedy matching order) fall the same way and the matched sets agree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import queries
from .engines import PANDAS, ROW, SparkEngine, SqlEngine, date_literal, to_arrow
from .errors import DataShapeError
from .normalise import parse_dates, swap_day_month
from .reoffending import OFFENCE_COLUMNS, comparison_pool, derive_outcomes

PERSON_COLUMNS = ["person_id", "name", "date_of_birth", "sex"]
# Administrative names -> the (name, date_of_birth) pairs a cohort could link to.
PairsOf = Callable[[pd.Series], pd.DataFrame]
# Rows of a frame -> a boolean mask of those to keep.
Keep = Callable[[pd.DataFrame], np.ndarray]


class Source(ABC):
    """Where a kind's large tables live and how they are reduced."""

    engine: str = PANDAS

    @abstractmethod
    def require(self, table: str, columns: Sequence[str]) -> None:
        """``DataShapeError`` unless ``table`` was provided with these columns."""

    def spark_session(self) -> Any:
        """The run's Spark session when its tables are on Spark (probabilistic linkage then
        runs there too), else None."""
        return None

    @abstractmethod
    def persons(
        self, table: str, dates_of_birth: pd.Series, pairs: PairsOf | None = None
    ) -> pd.DataFrame:
        """Each person's first row (person_id, name, date_of_birth, sex), for the people
        born on one of ``dates_of_birth`` (everyone when the pandas reference answers). With
        ``pairs`` (the distinct names of those people -> the (name, date_of_birth) pairs
        worth linking), only the people whose first row is one of those pairs."""

    @abstractmethod
    def events_of(self, table: str, columns: Sequence[str], people: Sequence[Any]) -> pd.DataFrame:
        """The rows of ``people``, in the table's order."""

    @abstractmethod
    def pool(
        self,
        table: str,
        columns: Sequence[str],
        excluded: Sequence[Any],
        first: pd.Timestamp,
        last: pd.Timestamp,
        keep: Keep | None = None,
    ) -> pd.DataFrame:
        """Each person's earliest index event in [first, last], except ``excluded`` people's;
        with ``keep``, only those rows of it for which the mask ``keep`` gives holds (a rule
        of each row alone, so a SQL source applies it as the rows arrive)."""

    def release(self, table: str) -> None:  # noqa: B027 - pandas' tables are the caller's
        """The kind reads no more of ``table``: a SQL source drops it from the engine (the
        run's tables are the engine's alone), so that its memory goes before the later,
        memory-hungry steps (propensity fit, variances)."""

    @abstractmethod
    def outcomes(
        self, events: pd.DataFrame, follow_up_days: int, waiting_days: int
    ) -> pd.DataFrame:
        """reoffended, reoffences, days_to_first_reoffence for each row of ``events``."""

    @abstractmethod
    def lowest(self, table: str, columns: Sequence[str]) -> dict[str, float]:
        """Per number column of ``columns`` (booleans, text and dates left out), its lowest
        value over the whole of ``table``, whoever the groups are: under rounding checked
        against the column's declared lowest value, its means' origin (RunContext.origins)."""


def candidate_dates_of_birth(cohort: pd.DataFrame, day_first: bool) -> pd.Series:
    """Every date of birth a cohort row could link on (as written, and day and month swapped),
    as linkage.py's stages read them."""
    written = parse_dates(cohort["date_of_birth"], day_first).reset_index(drop=True)
    both = pd.concat([written, swap_day_month(written)], ignore_index=True).dropna()
    return pd.Series(both.unique(), dtype="datetime64[ns]")


class PandasSource(Source):
    """Today's path: everything in DataFrames, reduced by reoffending.py."""

    def __init__(self, data: Mapping[str, pd.DataFrame]) -> None:
        self.data = data

    def _frame(self, table: str, columns: Sequence[str]) -> pd.DataFrame:
        self.require(table, columns)
        return self.data[table]

    def require(self, table: str, columns: Sequence[str]) -> None:
        if table not in self.data:
            raise DataShapeError(table, "table was not provided")
        missing = [c for c in columns if c not in self.data[table].columns]
        if missing:
            raise DataShapeError(table, f"missing column(s): {', '.join(missing)}")

    def persons(
        self, table: str, dates_of_birth: pd.Series, pairs: PairsOf | None = None
    ) -> pd.DataFrame:
        return self._frame(table, PERSON_COLUMNS)[PERSON_COLUMNS].drop_duplicates("person_id")

    def events_of(self, table: str, columns: Sequence[str], people: Sequence[Any]) -> pd.DataFrame:
        events = self._frame(table, columns)
        return events.loc[events["person_id"].isin(people).to_numpy(), list(columns)]

    def pool(
        self,
        table: str,
        columns: Sequence[str],
        excluded: Sequence[Any],
        first: pd.Timestamp,
        last: pd.Timestamp,
        keep: Keep | None = None,
    ) -> pd.DataFrame:
        events = self._frame(table, columns)
        pool = comparison_pool(events, excluded, first, last)[list(columns)]
        return pool if keep is None else pool[keep(pool)]

    def outcomes(
        self, events: pd.DataFrame, follow_up_days: int, waiting_days: int
    ) -> pd.DataFrame:
        offences = self._frame("offences", OFFENCE_COLUMNS)
        return derive_outcomes(events, offences, follow_up_days, waiting_days)

    def lowest(self, table: str, columns: Sequence[str]) -> dict[str, float]:
        return lowest_of(self._frame(table, columns), columns)


class EngineTables(Mapping[str, pd.DataFrame]):
    """A run's tables on a SQL engine: the large ones registered there as Arrow, the small
    ones (the partner's cohort file) kept as DataFrames. Reading a registered table as a
    DataFrame brings it whole into memory (kinds without a SQL reduction do that)."""

    def __init__(
        self,
        engine: SqlEngine,
        tables: Mapping[str, pd.DataFrame | pa.Table],
        small: Mapping[str, pd.DataFrame] | None = None,
    ) -> None:
        self.engine = engine
        self.small = dict(small or {})
        self.schemas: dict[str, pa.Schema] = {}
        for name, table in tables.items():
            arrow = to_arrow(table)
            engine.register(name, arrow)
            self.schemas[name] = arrow.schema

    def release(self, table: str) -> None:
        """Drop a registered table from the engine and from this mapping (a run's kind
        calls it through ``Source.release`` once it needs no more of the table)."""
        if self.schemas.pop(table, None) is not None:
            self.engine.unregister(table)

    def columns(self, table: str) -> list[str]:
        if table in self.small:
            return list(self.small[table].columns)
        return [name for name in self.schemas[table].names if name != ROW]

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table in self.small:
            return self.small[table]
        if table not in self.schemas:
            raise KeyError(table)
        select = ", ".join(queries.quoted(self.columns(table), self.engine))
        # The table name is one this mapping registered; the columns are quoted.
        return self.engine.query(f"SELECT {select} FROM {table} ORDER BY {ROW}")  # noqa: S608

    def __contains__(self, table: object) -> bool:
        return table in self.small or table in self.schemas

    def __iter__(self) -> Iterator[str]:
        yield from self.small
        yield from (name for name in self.schemas if name not in self.small)

    def __len__(self) -> int:
        return len(set(self.small) | set(self.schemas))


class SqlSource(Source):
    """The reductions as SQL (queries.py), on DuckDB or Spark."""

    def __init__(self, tables: EngineTables) -> None:
        self.tables = tables
        self.engine = tables.engine.name
        self._sql = tables.engine

    def spark_session(self) -> Any:
        return self._sql.session if isinstance(self._sql, SparkEngine) else None

    def require(self, table: str, columns: Sequence[str]) -> None:
        if table not in self.tables:
            raise DataShapeError(table, "table was not provided")
        missing = [c for c in columns if c not in self.tables.columns(table)]
        if missing:
            raise DataShapeError(table, f"missing column(s): {', '.join(missing)}")

    def _keys(self, name: str, table: str, people: Sequence[Any]) -> str:
        """Register ``people`` as a one-column table typed like ``table``'s person_id."""
        kind = self.tables.schemas[table].field("person_id").type
        values = pa.array(pd.Series(list(people), dtype=object).dropna().tolist(), type=kind)
        self._sql.register(name, pa.table({"person_id": values}))
        return name

    def persons(
        self, table: str, dates_of_birth: pd.Series, pairs: PairsOf | None = None
    ) -> pd.DataFrame:
        self.require(table, PERSON_COLUMNS)
        self._sql.register("candidate_dates", pa.table({"date_of_birth": _dates(dates_of_birth)}))
        if pairs is None:
            return self._sql.query(queries.persons(self._sql, table, "candidate_dates"))
        # A register of ten million people has millions born on a date some cohort of ten
        # thousand could mean; only those whose name could link on that date come back.
        names = self._sql.query(queries.names_born_on(self._sql, table, "candidate_dates"))
        wanted = pairs(names["name"])
        kind = self.tables.schemas[table].field("name").type
        self._sql.register(
            "candidate_people",
            pa.table(
                {
                    "name": pa.array(wanted["name"].tolist(), type=kind),
                    "date_of_birth": _dates(wanted["date_of_birth"]),
                }
            ),
        )
        return self._sql.query(
            queries.persons(self._sql, table, "candidate_people", ("name", "date_of_birth"))
        )

    def events_of(self, table: str, columns: Sequence[str], people: Sequence[Any]) -> pd.DataFrame:
        self.require(table, columns)
        keys = self._keys("wanted_people", table, people)
        return self._sql.query(queries.rows_of(self._sql, table, list(columns), keys))

    def pool(
        self,
        table: str,
        columns: Sequence[str],
        excluded: Sequence[Any],
        first: pd.Timestamp,
        last: pd.Timestamp,
        keep: Keep | None = None,
    ) -> pd.DataFrame:
        self.require(table, [*columns, "index_date"])
        if pd.isna(first) or pd.isna(last):
            # No treated index date: no range, so no pool (as comparison_pool gives).
            first, last = pd.Timestamp("2100-01-01"), pd.Timestamp("1900-01-01")
        keys = self._keys("excluded_people", table, excluded)
        sql = queries.comparison_pool(
            self._sql, table, list(columns), keys, date_literal(first), date_literal(last)
        )
        # The pool is nearly the whole register: its text columns (sex, offence category,
        # region...) come back as codes, each label held once (engines.from_engine).
        schema = self.tables.schemas[table]
        coded = [
            c
            for c in columns
            if c != "person_id"
            and (
                pa.types.is_string(schema.field(c).type)
                or pa.types.is_large_string(schema.field(c).type)
            )
        ]
        if keep is None:
            pool = self._sql.query(sql, coded)
        else:
            pool = self._sql.query_kept(sql, keep, coded)
        self._sql.unregister(keys)
        return pool

    def release(self, table: str) -> None:
        self.tables.release(table)

    def outcomes(
        self, events: pd.DataFrame, follow_up_days: int, waiting_days: int
    ) -> pd.DataFrame:
        self.require("offences", OFFENCE_COLUMNS)
        left = pd.DataFrame(
            {
                "person_id": events["person_id"].to_numpy(),
                "index_date": parse_dates(events["index_date"]).to_numpy(),
            }
        )
        self._sql.register("outcome_events", to_arrow(left))
        found = self._sql.query(
            queries.outcomes(self._sql, "outcome_events", "offences", follow_up_days, waiting_days)
        )
        self._sql.unregister("outcome_events")
        count = np.zeros(len(events), dtype=int)
        first = np.full(len(events), np.nan)
        rows = found["event_row"].to_numpy(dtype=np.int64)
        count[rows] = found["reoffences"].to_numpy(dtype=np.int64)
        first[rows] = found["first_since"].to_numpy(dtype=float)
        return pd.DataFrame(
            {
                "reoffended": (count > 0).astype(int),
                "reoffences": count.astype(int),
                "days_to_first_reoffence": first,
            },
            index=events.index,
        )

    def lowest(self, table: str, columns: Sequence[str]) -> dict[str, float]:
        self.require(table, columns)
        schema = self.tables.schemas[table]
        numbers = [
            column
            for column in columns
            if pa.types.is_integer(kind := schema.field(column).type) or pa.types.is_floating(kind)
        ]
        if not numbers:
            return {}
        # One scan of the table for every column (a register can hold a hundred million rows).
        row = self._sql.query(queries.lowest(self._sql, table, numbers)).iloc[0]
        found = {}
        for i, column in enumerate(numbers):
            value = row[f"lowest_{i}"]
            if pd.notna(value) and np.isfinite(float(value)):
                found[column] = float(value)
        return found


def lowest_of(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, float]:
    """``Source.lowest`` of a DataFrame: numbers read as a mean reads them (text that is not a
    number left out), booleans and dates not at all."""
    found = {}
    for column in columns:
        kind = frame[column].dtype
        if pd.api.types.is_bool_dtype(kind) or pd.api.types.is_datetime64_any_dtype(kind):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if pd.api.types.is_bool_dtype(numbers.dtype):
            continue
        value = float(numbers.astype(float).min())
        if np.isfinite(value):
            found[column] = value
    return found


def _dates(values: pd.Series) -> pa.Array:
    """Dates (datetime64 at midnight) as an Arrow date column, as the engines hold them."""
    days = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
    return pa.array(days, type=pa.date32(), from_pandas=True)


def stack_groups(treated: pd.DataFrame, pool: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The treated rows (``treated`` = 1) above the pool's (0), in ``columns``. A column the
    pool holds as codes stays coded, its levels those of both groups, so the stacked sample
    never holds a Python string per row; the values, and so every result, are those of the
    plain columns."""
    # Copy-on-write (pandas 3): the selections share the columns until one is changed.
    top, bottom = treated[list(columns)], pool[list(columns)]
    for column in columns:
        if isinstance(bottom[column].dtype, pd.CategoricalDtype):
            levels = pd.Index(bottom[column].cat.categories).union(
                pd.Index(top[column].dropna().unique()), sort=False
            )
            kind = pd.CategoricalDtype(levels)
            top[column] = top[column].astype(kind)
            bottom[column] = bottom[column].astype(kind)
    return pd.concat([top.assign(treated=1), bottom.assign(treated=0)], ignore_index=True)


def source_of(data: Mapping[str, pd.DataFrame]) -> Source:
    """The source for a kind's data: SQL when the tables are on a SQL engine."""
    return SqlSource(data) if isinstance(data, EngineTables) else PandasSource(data)
