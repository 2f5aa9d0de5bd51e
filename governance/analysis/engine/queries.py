"""The SQL of the reductions, written once for DuckDB and Spark SQL.

Each function returns one SELECT statement in the subset of SQL both engines read (window
functions, correlated NOT EXISTS, IN subqueries, date literals). The two places where the
dialects differ are asked of the engine: how a column name is quoted, and the difference of two
dates in days. Values are never user text: dates are formatted from timestamps, numbers are
integers checked by the eligibility rules, table names come from the code, and column names are
quoted. Every table carries ``_row`` (its row's position in the loaded table); ordering by it
keeps the pandas reference's order. sources.py says what each query is for; reoffending.py
defines the measures and the pool, which these must reproduce exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .engines import ROW


class Dialect(Protocol):
    def quote(self, name: str) -> str: ...

    def days(self, start: str, end: str) -> str: ...


def quoted(columns: Sequence[str], dialect: Dialect | None = None) -> list[str]:
    """Column names quoted for ``dialect`` (ANSI double quotes when none is given)."""
    if dialect is None:
        return ['"' + column.replace('"', '""') + '"' for column in columns]
    return [dialect.quote(column) for column in columns]


def persons(
    dialect: Dialect, table: str, candidates: str, keys: Sequence[str] = ("date_of_birth",)
) -> str:
    """Each person's first row, for people whose first row's ``keys`` (the date of birth, or
    the name and the date of birth) are a row of ``candidates`` (linkage's blocking)."""
    cols = ", ".join(quoted(["person_id", "name", "date_of_birth", "sex"], dialect))

    def candidate(alias: str) -> str:
        same = " AND ".join(f"c.{key} = {alias}.{key}" for key in quoted(keys, dialect))
        return f"EXISTS (SELECT 1 FROM {candidates} c WHERE {same})"

    return f"""
        SELECT {cols} FROM (
            SELECT {cols}, {ROW},
                   row_number() OVER (PARTITION BY person_id ORDER BY {ROW}) AS rank_in_person
            FROM {table}
            WHERE person_id IN (
                SELECT person_id FROM {table} events WHERE {candidate("events")}
            )
        ) first_rows
        WHERE rank_in_person = 1 AND {candidate("first_rows")}
        ORDER BY {ROW}
    """


def names_born_on(dialect: Dialect, table: str, candidates: str) -> str:
    """The distinct names of the rows whose date of birth is one of ``candidates``."""
    name, born = quoted(["name", "date_of_birth"], dialect)
    return f"""
        SELECT DISTINCT {name} FROM {table}
        WHERE {name} IS NOT NULL AND {born} IN (SELECT date_of_birth FROM {candidates})
    """


def rows_of(dialect: Dialect, table: str, columns: Sequence[str], people: str) -> str:
    """Every row of the given people."""
    cols = ", ".join(quoted(columns, dialect))
    return f"""
        SELECT {cols} FROM {table}
        WHERE person_id IN (SELECT person_id FROM {people})
        ORDER BY {ROW}
    """


def comparison_pool(
    dialect: Dialect, table: str, columns: Sequence[str], excluded: str, first: str, last: str
) -> str:
    """Each person's earliest index event (ties: the earlier row) between two dates, for the
    people not in ``excluded`` (reoffending.comparison_pool)."""
    cols = ", ".join(quoted(columns, dialect))
    # The window sorts only the keys (a register's ten million people); the chosen rows'
    # columns are fetched afterwards by their position.
    return f"""
        SELECT {cols} FROM {table}
        WHERE {ROW} IN (
            SELECT {ROW} FROM (
                SELECT {ROW},
                       row_number() OVER (
                           PARTITION BY person_id ORDER BY index_date, {ROW}
                       ) AS rank_in_person
                FROM {table} events
                WHERE index_date >= {first} AND index_date <= {last}
                  AND NOT EXISTS (
                      SELECT 1 FROM {excluded} x WHERE x.person_id = events.person_id
                  )
            ) pool
            WHERE rank_in_person = 1
        )
        ORDER BY {ROW}
    """


def outcomes(
    dialect: Dialect, events: str, offences: str, follow_up_days: int, waiting_days: int
) -> str:
    """Per index event that has any: the number of offences committed within the follow-up
    and proven within the waiting period after it, and the days to the first of them
    (reoffending.derive_outcomes)."""
    since = dialect.days("e.index_date", "o.offence_date")
    proven = dialect.days("e.index_date", "o.proven_date")
    follow, limit = int(follow_up_days), int(follow_up_days) + int(waiting_days)
    return f"""
        SELECT e.{ROW} AS event_row, count(*) AS reoffences, min({since}) AS first_since
        FROM {events} e JOIN {offences} o ON o.person_id = e.person_id
        WHERE {since} >= 0 AND {since} < {follow}
          AND {proven} < {limit}
          AND o.proven_date >= o.offence_date
        GROUP BY e.{ROW}
    """


# The person-level records of the descriptive and rate kinds (records.py): reduced to each
# person's earliest record, measured and grouped on the engine; only grouped rows come back.


def ranked_records(
    dialect: Dialect,
    table: str,
    columns: Sequence[str],
    dated: bool,
    category: str | None = None,
    dropped: str | None = None,
) -> str:
    """The records with each person's rank among their own (1: the earliest index date, then
    the earlier row; missing dates last), less those whose ``category`` value is in table
    ``dropped`` (kinds_base.one_row_per_person, records.without_excluded)."""
    cols = ", ".join(quoted(columns, dialect))
    person = dialect.quote("person_id")
    order = f"{dialect.quote('index_date')} ASC NULLS LAST, {ROW}" if dated else ROW
    where = ""
    if category is not None and dropped is not None:
        # A record without a category is kept (pandas' isin is false for a missing value).
        label = dialect.quote(category)
        where = f"WHERE NOT EXISTS (SELECT 1 FROM {dropped} d WHERE d.value = records.{label})"
    return f"""
        SELECT {cols}, {ROW},
               row_number() OVER (PARTITION BY {person} ORDER BY {order}) AS rank_in_person
        FROM {table} records {where}
    """


def record_counts(ranked: str) -> str:
    """Rows read and people among them (the ranked records' partitions)."""
    return f"""
        SELECT count(*) AS rows_read,
               count(CASE WHEN rank_in_person = 1 THEN 1 END) AS people
        FROM ({ranked}) ranked
    """


def measured_records(
    dialect: Dialect,
    ranked: str,
    columns: Sequence[str],
    offences: str | None = None,
    follow_up_days: int = 365,
    waiting_days: int = 182,
) -> str:
    """Each person's earliest record, with the three re-offending measures when ``offences``
    is given (reoffending.derive_outcomes, as ``outcomes`` computes them)."""
    cols = ", ".join(quoted(columns, dialect))
    kept = f"SELECT {cols}, {ROW} FROM ({ranked}) ranked WHERE rank_in_person = 1"
    if offences is None:
        return kept
    found = outcomes(dialect, "kept", offences, follow_up_days, waiting_days)
    return f"""
        WITH kept AS ({kept}), found AS ({found})
        SELECT kept.*,
               CASE WHEN found.reoffences IS NULL THEN 0 ELSE 1 END AS reoffended,
               coalesce(found.reoffences, 0) AS reoffences,
               found.first_since AS days_to_first_reoffence
        FROM kept LEFT JOIN found ON found.event_row = kept.{ROW}
    """


def numeric(dialect: Dialect, column: str) -> str:
    """A column as a double, NaN read as missing (pandas' to_numeric then notna)."""
    value = f"CAST({dialect.quote(column)} AS DOUBLE)"
    return f"CASE WHEN isnan({value}) THEN NULL ELSE {value} END"


def _where(filters: Sequence[str]) -> str:
    return " AND ".join(f"({condition})" for condition in filters) or "1 = 1"


def _dims(dialect: Dialect, by: Sequence[str]) -> tuple[str, str]:
    """Grouping columns selected as _d0, _d1... (two may share a source column)."""
    chosen = ", ".join(f"{dialect.quote(c)} AS _d{i}" for i, c in enumerate(by))
    return chosen, ", ".join(f"_d{i}" for i in range(len(by)))


def grouped(
    dialect: Dialect,
    table: str,
    by: Sequence[str],
    filters: Sequence[str],
    event: str | None = None,
    value: str | None = None,
) -> str:
    """Rows per distinct combination of the raw values of ``by`` (and of ``event``), with the
    count, sum and sum of |values| of ``value`` (a ``numeric`` expression) when given."""
    chosen, names = _dims(dialect, by)
    if event is not None:
        chosen += f", {dialect.quote(event)} AS _event"
        names += ", _event"
    measures = "count(*) AS n_rows"
    if value is not None:
        chosen += f", {value} AS _value"
        measures += (
            ", count(_value) AS n_values, sum(_value) AS value_sum, sum(abs(_value)) AS abs_sum"
        )
    return f"""
        SELECT {names}, {measures}
        FROM (SELECT {chosen} FROM {table} WHERE {_where(filters)}) t
        GROUP BY {names}
    """


def largest_values(
    dialect: Dialect, table: str, by: Sequence[str], filters: Sequence[str], value: str, n: int
) -> str:
    """Each group's ``n`` largest |values| (the nk-dominance rule's contributions)."""
    chosen, names = _dims(dialect, by)
    partition = f"PARTITION BY {names}" if by else ""
    return f"""
        SELECT {names + ", " if by else ""}magnitude FROM (
            SELECT {names + ", " if by else ""}magnitude,
                   row_number() OVER ({partition} ORDER BY magnitude DESC) AS rank_in_group
            FROM (
                SELECT {chosen + ", " if by else ""}abs({value}) AS magnitude
                FROM {table} WHERE {_where([*filters, f"{value} IS NOT NULL"])}
            ) t
        ) ranked
        WHERE rank_in_group <= {int(n)}
    """


def moments(dialect: Dialect, table: str, column: str, filters: Sequence[str], value: str) -> str:
    """Count, mean and sample variance of ``value`` per raw value of ``column``."""
    chosen, names = _dims(dialect, [column])
    return f"""
        SELECT {names}, count(_value) AS n_values, avg(_value) AS mean,
               var_samp(_value) AS variance
        FROM (SELECT {chosen}, {value} AS _value FROM {table}
              WHERE {_where([*filters, f"{value} IS NOT NULL"])}) t
        GROUP BY {names}
    """


def extreme_values(dialect: Dialect, table: str, filters: Sequence[str], value: str) -> str:
    """The two lowest and two highest distinct values of ``value`` (what a reader can use to
    turn a mean into counts of people, see disclosure.ValueDomain)."""
    return f"""
        SELECT value FROM (
            SELECT value, row_number() OVER (ORDER BY value) AS from_lowest,
                   row_number() OVER (ORDER BY value DESC) AS from_highest
            FROM (SELECT DISTINCT {value} AS value FROM {table}
                  WHERE {_where([*filters, f"{value} IS NOT NULL"])}) d
        ) ranked
        WHERE from_lowest <= 2 OR from_highest <= 2
    """


def lowest(dialect: Dialect, table: str, columns: Sequence[str]) -> str:
    """The lowest number in each of ``columns`` over the whole of ``table``, in one scan, as
    ``lowest_0``, ``lowest_1``... (disclosure.ValueDomain's origin)."""
    found = ", ".join(
        f"min({numeric(dialect, column)}) AS lowest_{i}" for i, column in enumerate(columns)
    )
    return f"SELECT {found} FROM {table}"


def distinct_values(dialect: Dialect, table: str, column: str, filters: Sequence[str] = ()) -> str:
    return f"SELECT DISTINCT {dialect.quote(column)} AS value FROM {table} WHERE {_where(filters)}"


def among(dialect: Dialect, column: str, values: str) -> str:
    """A condition: ``column`` is one of the values of table ``values``."""
    return f"{dialect.quote(column)} IN (SELECT value FROM {values})"


def row_count(table: str, filters: Sequence[str]) -> str:
    return f"SELECT count(*) AS n_rows FROM {table} WHERE {_where(filters)}"


def person_keys(
    dialect: Dialect, table: str, filters: Sequence[str], columns: Sequence[str] = ()
) -> str:
    """The person keys of the rows (and ``columns``), in the loaded table's order."""
    chosen = ", ".join(dialect.quote(c) for c in dict.fromkeys(["person_id", *columns]))
    return f"""
        SELECT {chosen} FROM {table}
        WHERE {_where(filters)} ORDER BY {ROW}
    """
