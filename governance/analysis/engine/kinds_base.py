"""What every analysis kind shares: the run context, the kind interface and parameter readers.

A kind declares the columns it will read (per source table) *before* any data is loaded, so
the governance layer can check them against the agreement's grant; it validates parameters
into a typed object, raising ``AnalysisParameterError`` naming the offending field; and it runs
on DataFrames the caller loaded through its access-controlled door.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pandas as pd

from .disclosure import DisclosurePolicy
from .errors import AnalysisParameterError, AnalysisRefused, DataShapeError, UnknownParameters
from .ledger import (
    Population,
    ReleasedPopulations,
    ReleaseLedger,
    check_output_columns,
    population_of,
)
from .output_control import control_output
from .results import AnalysisResult, Progress


def _random_key() -> bytes:
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class RunContext:
    """Everything a run needs besides data and parameters, all taken from the agreement.

    direct_identifiers / free_text_columns: columns no output may be grouped by.
    released: earlier releases of the same people (a ``ReleaseLedger``, or a sequence of
        populations), for the differencing check and the protection intervals.
    ledger_key: the caller's secret key for member hashes; without one, a random key makes the
        populations comparable within this run only.
    value_labels: what the stored codes of a column mean (column -> code -> label), declared
        with the dataset: summaries name groups by them, tables show them beside the codes.
    lowest_values: per table, per number column, the lowest value the column can hold, declared
        with the dataset: under rounding a released mean's sums are taken from it (``origins``).
    """

    policy: DisclosurePolicy
    direct_identifiers: frozenset[str] = frozenset()
    free_text_columns: frozenset[str] = frozenset()
    released: ReleaseLedger | Sequence[Population] = ()
    ledger_key: bytes = field(default_factory=_random_key, repr=False)
    progress: Progress | None = None
    keep_population_keys: bool = False
    value_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    lowest_values: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.released, ReleasedPopulations) and isinstance(
            self.released, Sequence
        ):
            object.__setattr__(self, "released", ReleasedPopulations(tuple(self.released)))

    @property
    def ledger(self) -> ReleaseLedger:
        return cast(ReleaseLedger, self.released)

    def label(self, column: str, code: str) -> str:
        """The declared label of a code of ``column``, else the code itself."""
        return self.value_labels.get(column, {}).get(str(code), str(code))

    def origins(self, table: str, lowest: Mapping[str, float]) -> dict[str, float]:
        """Where the released means of ``table``'s number columns are taken from
        (``ValueDomain.origin``), given ``lowest``, each column's lowest value over the whole
        table (``Source.lowest``). Without rounding the origin changes nothing: ``lowest``.
        Under rounding it must be one number for every table the column is ever read from
        (two origins o_1, o_2 give one group's exact count n through the difference of its
        two means, (o_1 - o_2)(1 - n / p)), so it is the declared lowest value, never a value
        of the data: refused for a column that has none, and for one whose table holds a
        value below it (people below the origin would let the sum pin the count again)."""
        if self.policy.rounding_base is None:
            return dict(lowest)
        declared = self.lowest_values.get(table, {})
        undeclared = sorted(column for column in lowest if column not in declared)
        if undeclared:
            raise AnalysisRefused(
                "lowest_value_not_declared",
                f"the agreement rounds published counts, and a mean of {', '.join(undeclared)} "
                f"({table}) is then taken from the lowest value the column can hold, which "
                "nobody has declared: a steward of the data set must declare it (the data "
                'set\'s page, "Lowest values of number columns")',
            )
        below = sorted(column for column, value in lowest.items() if value < declared[column])
        if below:
            raise AnalysisRefused(
                "below_declared_lowest",
                f"the stored data of {table} holds a value of {', '.join(below)} below the lowest "
                "value declared for it, which a rounded mean is taken from: a steward of the "
                "data set must correct the data or declare a lower value",
            )
        return {column: float(declared[column]) for column in lowest}

    def report(self, fraction: float, message: str) -> None:
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), message)

    def check_columns(self, columns: Iterable[str]) -> None:
        check_output_columns(columns, self.direct_identifiers, self.free_text_columns)

    def population(
        self,
        label: str,
        keys: Sequence[Any] | pd.Series,
        *,
        essential: bool = False,
        compare_within_output: bool = True,
        cells: pd.DataFrame | None = None,
        events: pd.DataFrame | None = None,
    ) -> Population:
        """Fingerprint a population of this output; ``control`` checks it. ``cells`` (one row
        per key: the levels its tables are grouped by) lets it be checked cell by cell;
        ``events`` (one row per key, a 0/1 column per quantity ``events:<outcome>`` its
        tables publish) lets the outcome counts be checked within the output too."""
        return population_of(
            label,
            keys,
            self.ledger_key,
            keep_keys=self.keep_population_keys,
            with_legacy_digest=self.ledger.wants_legacy_digest,
            compare_within_output=compare_within_output,
            essential=essential,
            cells=cells,
            events=events,
        )

    def control(self, result: AnalysisResult) -> None:
        """Differencing within the output and against earlier releases, then protection
        intervals: call once every table is built, before deriving anything from them."""
        control_output(result, self)


class AnalysisKind(ABC):
    """One kind of analysis the engine offers.

    ``person_table`` is the source table whose person keys the output's populations are made of
    (the caller keeps one differencing ledger per dataset of people). ``parameters`` names every
    parameter the kind takes, with what it means: the API's description is made from it, and
    ``validate`` refuses any other parameter by name.
    """

    name: str = ""
    label: str = ""
    person_table: str = "records"
    parameters: Mapping[str, str] = {}

    def refuse_unknown(self, params: Mapping[str, Any]) -> None:
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise UnknownParameters(self.name, unknown, list(self.parameters))

    @abstractmethod
    def validate(self, params: Mapping[str, Any]) -> Any:
        """Typed, checked parameters (raise ``AnalysisParameterError`` on the first problem)."""

    @abstractmethod
    def columns(self, params: Mapping[str, Any]) -> dict[str, list[str]]:
        """Columns read from each source table, for the caller's grant check."""

    @abstractmethod
    def run(
        self, data: Mapping[str, pd.DataFrame], params: Mapping[str, Any], context: RunContext
    ) -> AnalysisResult:
        """Run on loaded data; every released number goes through disclosure control."""


def read_str(params: Mapping[str, Any], field: str, default: str | None = None) -> str:
    value = params.get(field, default)
    if not isinstance(value, str) or not value:
        raise AnalysisParameterError(field, "must be a non-empty string")
    return value


def read_optional_str(params: Mapping[str, Any], field: str) -> str | None:
    value = params.get(field)
    return None if value is None else read_str(params, field)


def read_str_list(
    params: Mapping[str, Any],
    field: str,
    minimum: int = 0,
    maximum: int | None = None,
    default: Sequence[str] | None = None,
) -> list[str]:
    value = params.get(field, default)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise AnalysisParameterError(field, "must be a list of column names")
    items = list(value)
    if not all(isinstance(item, str) and item for item in items):
        raise AnalysisParameterError(field, "every entry must be a non-empty string")
    if len(set(items)) != len(items):
        raise AnalysisParameterError(field, "entries must be distinct")
    if len(items) < minimum or (maximum is not None and len(items) > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise AnalysisParameterError(field, f"must list {bound} entries")
    return items


def read_number(
    params: Mapping[str, Any],
    field: str,
    default: float,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    value = params.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnalysisParameterError(field, "must be a number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise AnalysisParameterError(field, f"must lie between {minimum} and {maximum}")
    return float(value)


def require_table(
    data: Mapping[str, pd.DataFrame], table: str, columns: Iterable[str]
) -> pd.DataFrame:
    if table not in data:
        raise DataShapeError(table, "table was not provided")
    frame = data[table]
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataShapeError(table, f"missing column(s): {', '.join(missing)}")
    return frame


def events_of(people: pd.DataFrame, outcome: str | None) -> pd.DataFrame | None:
    """Each person's 0/1 ``outcome`` as the quantity its rate tables publish
    (``events:<outcome>``), for the check of outcome counts within one output and against
    earlier releases (``cell_differencing``)."""
    if outcome is None:
        return None
    return pd.DataFrame({f"events:{outcome}": people[outcome].to_numpy()})


def one_row_per_person(records: pd.DataFrame, person_key: str) -> tuple[pd.DataFrame, bool]:
    """Keep each person's earliest record (by ``index_date`` when present) so every count is a
    count of distinct people, which is what the threshold rule protects."""
    if not records[person_key].duplicated().any():
        return records, False
    ordered = (
        records.sort_values("index_date", kind="stable") if "index_date" in records else records
    )
    return ordered.drop_duplicates(person_key).sort_index(), True
