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
