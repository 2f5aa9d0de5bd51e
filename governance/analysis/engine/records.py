"""The person-level records behind descriptive tables and rate comparisons, on any engine.

The two kinds read a ``records`` table, leave out excluded offence categories, keep each
person's earliest record, may add the re-offending measures, and then need only: the person
keys of a population (for the differencing ledger), the grouped cells of a table (every level
combination and margin, tabulation.py), and per group the count, mean and variance behind a
Welch test. ``FrameRecords`` does that with today's pandas code, the reference. On DuckDB and
Spark, ``SqlRecords`` does the row-level work in SQL (queries.py): the reduced records stay on
the engine, and what comes back is one row per distinct combination of the grouping values
(labelled, summed into cells and margins by the reference's own code, so the tables are the
same to the last count), each group's few largest |values| for the dominance rule, and the
person keys, one column, which the ledger hashes with its secret key in this process.
Disclosure control, the ledger and output checking then run unchanged on those cells.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from . import queries
from .disclosure import ValueDomain
from .engines import SqlEngine
from .kinds_base import one_row_per_person, require_table
from .reoffending import OFFENCE_COLUMNS, OUTCOME_COLUMNS
from .sources import EngineTables, SqlSource, lowest_of, source_of
from .stats import WeightedSummary, summary_of, weighted_summary
from .tabulation import MISSING_LABEL, aggregate_cells, aggregate_groups

PERSON_KEY = "person_id"
CATEGORY_COLUMN = "offence_category"
FOLLOW_UP_DAYS, WAITING_DAYS = 365, 182
REDUCED_NOTE = "People with several records are counted once, at their earliest record."
OUTCOMES_NOTE = (
    "Re-offending measures: offences committed within 365 days of the index "
    "date and proven within a further 182 days."
)


# (table, each column's lowest value over the whole table) -> the origins of its means.
OriginsOf = Callable[[str, Mapping[str, float]], dict[str, float]]


def needs_offences(*columns: str | None) -> bool:
    return any(column in OUTCOME_COLUMNS for column in columns if column is not None)


class Records(ABC):
    """One row per person (their earliest record), wherever the rows are. ``origins``: per
    averaged column, where its released means are taken from (``RunContext.origins`` of its
    lowest value over the whole table, ``Source.lowest``: under rounding the declared lowest
    value), which the domain carries (``ValueDomain.origin``) whatever records are picked out."""

    origins: Mapping[str, float]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def people(self, by: Sequence[str]) -> pd.DataFrame:
        """The person key and the ``by`` columns of each record, in the loaded table's order
        (which cell of a table grouped by ``by`` each person is in, for the ledger)."""

    @abstractmethod
    def valued(self, measure: str) -> Records:
        """The records with a number in ``measure``."""

    @abstractmethod
    def within(self, column: str, labels: Sequence[str]) -> Records:
        """The records whose ``column``, read as text, is one of ``labels``."""

    @abstractmethod
    def cells(
        self,
        by: Sequence[str],
        *,
        event_column: str | None = None,
        value_column: str | None = None,
        dominance_n: int = 2,
    ) -> pd.DataFrame:
        """tabulation.aggregate_cells of the records."""

    @abstractmethod
    def summaries(self, column: str, measure: str, codes: Sequence[str]) -> list[WeightedSummary]:
        """Per code (a label of ``column``): the summary of ``measure`` in its records."""

    @abstractmethod
    def domain(self, measure: str) -> ValueDomain:
        """The values of ``measure`` a reader can use to read a mean as counts of people."""


class FrameRecords(Records):
    """The reference: the records as one DataFrame."""

    def __init__(self, frame: pd.DataFrame, origins: Mapping[str, float] | None = None) -> None:
        self.frame = frame
        self.origins = dict(origins or {})

    def __len__(self) -> int:
        return len(self.frame)

    def people(self, by: Sequence[str]) -> pd.DataFrame:
        return self.frame[list(dict.fromkeys([PERSON_KEY, *by]))]

    def valued(self, measure: str) -> Records:
        valued = pd.to_numeric(self.frame[measure], errors="coerce").notna()
        return FrameRecords(self.frame[valued], self.origins)

    def within(self, column: str, labels: Sequence[str]) -> Records:
        text = self.frame[column].astype("string")
        chosen = text.isin(list(labels)).fillna(False).to_numpy(dtype=bool)
        return FrameRecords(self.frame[chosen], self.origins)

    def cells(
        self,
        by: Sequence[str],
        *,
        event_column: str | None = None,
        value_column: str | None = None,
        dominance_n: int = 2,
    ) -> pd.DataFrame:
        return aggregate_cells(
            self.frame,
            by,
            event_column=event_column,
            value_column=value_column,
            dominance_n=dominance_n,
        )

    def summaries(self, column: str, measure: str, codes: Sequence[str]) -> list[WeightedSummary]:
        labels = self.frame[column].astype("string").fillna(MISSING_LABEL)
        values = pd.to_numeric(self.frame[measure], errors="coerce").to_numpy(dtype=float)
        return [weighted_summary(values[(labels == code).to_numpy()]) for code in codes]

    def domain(self, measure: str) -> ValueDomain:
        column = self.frame[measure]
        domain = ValueDomain.of(column, boolean=_boolean(column))
        return domain.with_origin(self.origins.get(measure))


def _boolean(column: pd.Series) -> bool:
    """A column stored as booleans (its domain is {0, 1} whichever of them it holds)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return True
    present = column.dropna()
    return (
        column.dtype == object
        and len(present) > 0
        and all(isinstance(v, (bool, np.bool_)) for v in present)
    )


def without_excluded(records: pd.DataFrame, excluded: list[str], notes: list[str]) -> pd.DataFrame:
    """Leave out the records whose index offence is in an excluded category, and say so in
    the notes (which categories and why; how many is not said: a count of people in a
    category excluded because it is sensitive would itself disclose)."""
    if not excluded:
        return records
    labels = records[CATEGORY_COLUMN]
    notes.append(_excluded_note(excluded))
    return records[~labels.isin(_dropped(labels.dropna().unique(), excluded)).to_numpy(dtype=bool)]


def _excluded_note(excluded: list[str]) -> str:
    return (
        f"Records whose index offence category is "
        f"{', '.join(sorted(c.replace('_', ' ') for c in excluded))} were left "
        "out before any counting, as the agreement's clause "
        "analysis.eligibility.excluded_offence_categories requires for every analysis."
    )


def _dropped(values: Sequence[object] | np.ndarray, excluded: list[str]) -> list[object]:
    """The category values whose text, case-folded, is an excluded category."""
    unwanted = {category.casefold() for category in excluded}
    return [value for value in values if str(value).casefold() in unwanted]


def load_records(
    data: Mapping[str, pd.DataFrame],
    columns: list[str],
    measures: list[str | None],
    notes: list[str],
    excluded: list[str] | None = None,
    *,
    origins_of: OriginsOf,
    mean_of: str | None = None,
) -> Records:
    """The records of a run (``measures``: the rates' and means' columns, ``mean_of`` the one
    averaged): on the engine when the tables are there and SQL can read every column as
    pandas would, else in pandas. ``origins_of`` (``RunContext.origins``) turns the averaged
    column's lowest value over the whole table into the origin its means are taken from."""
    if isinstance(data, EngineTables) and _in_sql(data, columns, measures, mean_of):
        return _sql_records(data, columns, measures, notes, excluded or [], mean_of, origins_of)
    records = require_table(data, "records", columns)
    origins = origins_of("records", _origins(mean_of, lambda c: lowest_of(records, c)))
    records = without_excluded(records, excluded or [], notes)
    records, reduced = one_row_per_person(records, PERSON_KEY)
    if reduced:
        notes.append(REDUCED_NOTE)
    if needs_offences(*measures):
        source = source_of(data)
        source.require("offences", OFFENCE_COLUMNS)
        records = pd.concat(
            [records, source.outcomes(records, FOLLOW_UP_DAYS, WAITING_DAYS)], axis=1
        )
        notes.append(OUTCOMES_NOTE)
    return FrameRecords(records, origins)


def _origins(
    mean_of: str | None, lowest: Callable[[list[str]], dict[str, float]]
) -> dict[str, float]:
    """The averaged column's lowest value over the whole records table, before any record is
    left out (``Records.origins``, ``Source.lowest``). A re-offending measure is derived, a
    count or a number of days: from 0."""
    if mean_of is None or mean_of in OUTCOME_COLUMNS:
        return {}
    return lowest([mean_of])


def _in_sql(
    data: EngineTables, columns: list[str], measures: list[str | None], mean_of: str | None
) -> bool:
    """Whether SQL reads these records as pandas does: measures are numbers (or derived),
    and the dates the re-offending measures count from are dates."""
    if "records" in data.small or "records" not in data.schemas:
        return False
    schema = data.schemas["records"]
    present = set(schema.names)
    if not set(columns) <= present:
        return True  # refused with the reference's message, before anything is read
    if mean_of is not None and mean_of not in OUTCOME_COLUMNS:
        kind = schema.field(mean_of).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            return False
    if needs_offences(*measures):
        if present & set(OUTCOME_COLUMNS) or "index_date" not in present:
            return False
        if "offences" not in data.schemas or not _dated(schema, "index_date"):
            return False
        offences = data.schemas["offences"]
        if not set(OFFENCE_COLUMNS) <= set(offences.names):
            return True  # refused by SqlSource.require
        return _dated(offences, "offence_date") and _dated(offences, "proven_date")
    return True


def _dated(schema: pa.Schema, column: str) -> bool:
    kind = schema.field(column).type
    return bool(pa.types.is_date(kind) or pa.types.is_timestamp(kind))


def _sql_records(
    data: EngineTables,
    columns: list[str],
    measures: list[str | None],
    notes: list[str],
    excluded: list[str],
    mean_of: str | None,
    origins_of: OriginsOf,
) -> Records:
    source = SqlSource(data)
    source.require("records", columns)
    engine = data.engine
    schema = data.schemas["records"]
    origins = origins_of("records", _origins(mean_of, lambda c: source.lowest("records", c)))
    dropped = None
    if excluded:
        notes.append(_excluded_note(excluded))
        values = engine.query(queries.distinct_values(engine, "records", CATEGORY_COLUMN))
        unwanted = _dropped(values["value"].dropna().unique(), excluded)
        if unwanted:
            field = schema.field(CATEGORY_COLUMN)
            dropped = _register(engine, "dropped_categories", unwanted, field)
    ranked = queries.ranked_records(
        engine,
        "records",
        columns,
        dated="index_date" in data.columns("records"),
        category=CATEGORY_COLUMN,
        dropped=dropped,
    )
    counted = engine.query(queries.record_counts(ranked))
    if int(counted["rows_read"].iloc[0]) > int(counted["people"].iloc[0]):
        notes.append(REDUCED_NOTE)
    offences = None
    if needs_offences(*measures):
        source.require("offences", OFFENCE_COLUMNS)
        offences = "offences"
    engine.materialize(
        "kept_records",
        queries.measured_records(engine, ranked, columns, offences, FOLLOW_UP_DAYS, WAITING_DAYS),
    )
    if offences is not None:
        notes.append(OUTCOMES_NOTE)
    return SqlRecords(data, "kept_records", schema, origins=origins)


class SqlRecords(Records):
    """The records as a table on the engine, narrowed by SQL conditions."""

    def __init__(
        self,
        data: EngineTables,
        table: str,
        schema: pa.Schema,
        filters: tuple[str, ...] = (),
        origins: Mapping[str, float] | None = None,
    ) -> None:
        self.data, self.engine, self.table = data, data.engine, table
        self.schema, self.filters = schema, filters
        self.origins = dict(origins or {})
        self._rows: int | None = None

    def _narrowed(self, condition: str) -> SqlRecords:
        return SqlRecords(
            self.data, self.table, self.schema, (*self.filters, condition), self.origins
        )

    def _query(self, sql: str, sources: Mapping[str, str]) -> pd.DataFrame:
        """The answer, each column named in ``sources`` typed as pandas types its source
        column: integers stay integers when some are missing (Int64, not float)."""
        answer = self.engine.query(sql)
        for name, column in sources.items():
            if column in self.schema.names and pa.types.is_integer(self.schema.field(column).type):
                answer[name] = answer[name].astype("Int64")
        return answer

    def __len__(self) -> int:
        if self._rows is None:
            found = self.engine.query(queries.row_count(self.table, self.filters))
            self._rows = int(found["n_rows"].iloc[0])
        return self._rows

    def people(self, by: Sequence[str]) -> pd.DataFrame:
        sql = queries.person_keys(self.engine, self.table, self.filters, by)
        return self._query(sql, {column: column for column in [PERSON_KEY, *by]})

    def valued(self, measure: str) -> Records:
        return self._narrowed(f"{queries.numeric(self.engine, measure)} IS NOT NULL")

    def within(self, column: str, labels: Sequence[str]) -> Records:
        sql = queries.distinct_values(self.engine, self.table, column, self.filters)
        values = self._query(sql, {"value": column})["value"]
        chosen = values[values.astype("string").isin(list(labels)).fillna(False).to_numpy(bool)]
        if chosen.empty:
            return self._narrowed("1 = 0")
        field = self.schema.field(column)
        name = _register(self.engine, f"chosen_{len(self.filters)}", chosen.tolist(), field)
        return self._narrowed(queries.among(self.engine, column, name))

    def cells(
        self,
        by: Sequence[str],
        *,
        event_column: str | None = None,
        value_column: str | None = None,
        dominance_n: int = 2,
    ) -> pd.DataFrame:
        dims = {f"_d{i}": column for i, column in enumerate(by)}
        value = None if value_column is None else queries.numeric(self.engine, value_column)
        sql = queries.grouped(self.engine, self.table, list(by), self.filters, event_column, value)
        typed = dims if event_column is None else {**dims, "_event": event_column}
        found = self._query(sql, typed)
        groups = found.rename(columns=dims)
        events = None if event_column is None else found["_event"]
        tops = None
        if value is not None:
            groups = groups.assign(count=found["n_values"], value_sum=found["value_sum"])
            groups["abs_sum"] = found["abs_sum"]
            top_sql = queries.largest_values(
                self.engine, self.table, list(by), self.filters, value, dominance_n
            )
            tops = self._query(top_sql, dims).rename(columns={**dims, "magnitude": "abs_sum"})
        else:
            groups = groups.assign(count=found["n_rows"])
        return aggregate_groups(
            groups,
            by,
            events=events,
            event_column=event_column,
            value_column=value_column,
            tops=tops,
            dominance_n=dominance_n,
        )

    def summaries(self, column: str, measure: str, codes: Sequence[str]) -> list[WeightedSummary]:
        value = queries.numeric(self.engine, measure)
        sql = queries.moments(self.engine, self.table, column, self.filters, value)
        found = self._query(sql, {"_d0": column})
        labels = found["_d0"].astype("string").fillna(MISSING_LABEL)
        return [_pooled(found[(labels == code).to_numpy(dtype=bool)]) for code in codes]

    def domain(self, measure: str) -> ValueDomain:
        value = queries.numeric(self.engine, measure)
        found = self.engine.query(
            queries.extreme_values(self.engine, self.table, self.filters, value)
        )
        field = self.schema.field(measure) if measure in self.schema.names else None
        boolean = field is not None and pa.types.is_boolean(field.type)
        domain = ValueDomain.from_values([*found["value"].tolist(), *((0, 1) if boolean else ())])
        return domain.with_origin(self.origins.get(measure))


def _pooled(groups: pd.DataFrame) -> WeightedSummary:
    """One summary of several groups' counts, means and sample variances (one group's as the
    engine computed them)."""
    sizes = groups["n_values"].to_numpy(dtype=float)
    means = groups["mean"].to_numpy(dtype=float)
    total = float(sizes.sum())
    if total == 0:
        raise ValueError("at least one positive weight is needed")
    if len(groups) == 1:
        mean = float(means[0])
        variance = groups["variance"].iloc[0]
        spread = None if total < 2 or pd.isna(variance) else float(variance)
        return summary_of(mean, spread, total, total, int(total))
    mean = float(np.dot(sizes, means) / total)
    within = np.nan_to_num(groups["variance"].to_numpy(dtype=float)) * (sizes - 1)
    squares = float(within.sum() + np.dot(sizes, (means - mean) ** 2))
    return summary_of(mean, squares / (total - 1) if total > 1 else None, total, total, int(total))


def _register(engine: SqlEngine, name: str, values: Sequence[object], field: pa.Field) -> str:
    """Register ``values`` (some) as a one-column table ``value`` typed as ``field``: the
    values are data, never SQL text, whatever quotes or scripts they hold."""
    engine.register(name, pa.table({"value": pa.array(list(values)).cast(field.type)}))
    return name
