"""The engines an analysis runs on: pandas (the reference), DuckDB and Spark SQL.

The engine never decides what may be read. The governance layer resolves the grant and the
agreement's scope, loads exactly the permitted columns through its one door, and hands them
here as Arrow tables: DuckDB registers them (a zero-copy scan of the Arrow buffers), Spark makes
DataFrames of them. No engine is given a file path, so none can read a column nobody granted.

What runs in SQL is written once (queries.py) and run by both SQL engines; only the few
functions whose names differ between the dialects (a difference of dates in days) are filled in
per engine. pandas keeps today's code, and the tests hold the three to the same answers.

DuckDB must not write plaintext to disk: it is given no temporary directory (so it never spills;
a query needing more than ``memory_limit`` fails instead) and no database file (an in-memory
database). See docs/analysis.md "Engines" for why spilling is off rather than encrypted.
Spark cannot be kept off the disk (it writes shuffle blocks, and PySpark hands a table to the JVM
through a temporary file), so every Spark session encrypts its local I/O
(`spark.io.encryption.enabled`, a key per application held in memory) and a session without it
is refused.
"""

from __future__ import annotations

import gc
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

from .errors import AnalysisParameterError

PANDAS, DUCKDB, SPARK = "pandas", "duckdb", "spark"
ENGINES = (PANDAS, DUCKDB, SPARK)
ENGINE_LABELS = {PANDAS: "pandas", DUCKDB: "DuckDB", SPARK: "Spark"}
# Every table handed to a SQL engine carries its row's position in the loaded table, so that
# "the first row" and the order of results are the pandas reference's, whatever the engine.
ROW = "_row"
# Spark's local disk I/O encryption: shuffle and spill files, cached blocks and the tables PySpark
# hands to the JVM are written encrypted with a key that lives only in the application's memory.
IO_ENCRYPTION = "spark.io.encryption.enabled"
# Rows per batch when an answer is streamed (query_kept): a few MB of pandas at a time.
BATCH_ROWS = 262_144
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class EngineSettings:
    """How to start each engine (from the service's settings; defaults suit tests)."""

    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 0  # 0: DuckDB's default, one per core
    spark_master: str = "local[*]"
    spark_conf: Mapping[str, str] = field(default_factory=dict)


def choose_engine(
    configured: str, rows: int, duckdb_min_rows: int, spark_min_rows: int | None = None
) -> str:
    """The engine of a run: the configured one, or with "auto" by the rows it will read
    (Spark only when a threshold for it is set: it needs a cluster to be worth its start)."""
    if configured in ENGINES:
        return configured
    if configured != "auto":
        raise AnalysisParameterError("engine", f"must be auto or one of {', '.join(ENGINES)}")
    if spark_min_rows is not None and rows >= spark_min_rows:
        return SPARK
    return DUCKDB if rows >= duckdb_min_rows else PANDAS


def date_literal(value: Any) -> str:
    """A SQL date literal both dialects read; the value is a date, never text from a user."""
    day = pd.Timestamp(value)
    if pd.isna(day):
        raise ValueError("a date literal needs a date")
    return f"DATE '{day.date().isoformat()}'"


def to_arrow(frame: pd.DataFrame | pa.Table) -> pa.Table:
    """Arrow for the SQL engines, with dates (datetime64 at midnight) as Arrow dates, so that
    no engine reinterprets them in a time zone, and the row position in ``_row``."""
    if isinstance(frame, pa.Table) and ROW in frame.column_names:
        return frame
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    columns, names = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us")).cast(pa.date32())
        elif pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns.append(column)
        names.append(name)
    # 32 bits while they suffice: a register's hundred million events save 400 MB.
    positions = np.int32 if table.num_rows < np.iinfo(np.int32).max else np.int64
    columns.append(pa.array(np.arange(table.num_rows, dtype=positions)))
    names.append(ROW)
    return pa.Table.from_arrays(columns, names=names)


def from_engine(table: pa.Table, coded: Sequence[str] = ()) -> pd.DataFrame:
    """A query's answer as the pandas code expects it: dates as datetime64[ns] (converted in
    Arrow, not one date object at a time). The text columns named in ``coded`` are
    dictionary-encoded in Arrow and come back as pandas categoricals (an integer code per
    row and each distinct text once), never as a Python string per row."""
    for name in coded:
        position = table.schema.get_field_index(name)
        column = table.column(position)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            table = table.set_column(position, name, pc.dictionary_encode(column))
    # Integer columns with a missing value as pandas' nullable integers, as the door hands
    # them to pandas: the floats Arrow would make write 7 as "7.0" in a table's labels.
    gaps = [
        (position, field.name)
        for position, field in enumerate(table.schema)
        if pa.types.is_integer(field.type) and table.column(position).null_count
    ]
    # A block per column: a caller that drops columns one by one (kept_rows) frees each.
    frame = table.drop_columns([name for _, name in gaps]).to_pandas(
        date_as_object=False, split_blocks=True
    )
    for position, name in gaps:  # ascending, so each lands at its own position
        frame.insert(
            position, name, table.column(position).to_pandas(types_mapper=_nullable_integers)
        )
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame


def _nullable_integers(kind: pa.DataType) -> Any:
    """pandas' nullable integer type of an Arrow integer type (int64: Int64, uint8: UInt8)."""
    name = str(kind)
    return pd.api.types.pandas_dtype(
        "U" + name[1:].capitalize() if name[0] == "u" else name.title()
    )


def kept_rows(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    keep: Callable[[pd.DataFrame], np.ndarray],
    coded: Sequence[str] = (),
) -> pd.DataFrame:
    """The kept rows of an answer read a batch at a time, as ``from_engine`` of the whole
    answer then ``keep`` would give them: a coded column's levels are the whole answer's in
    order of first appearance (a batch's dropped rows' included); a column's type is the one
    pandas gives a column with a missing value when any batch had one (concatenation keeps
    the wider type of the batches, each converted before its rows are dropped)."""
    parts: list[pd.DataFrame] = []
    for batch in batches:
        frame = from_engine(pa.Table.from_batches([batch]), coded)
        parts.append(frame[keep(frame)])
        del frame
    if not parts:
        empty = from_engine(schema.empty_table(), coded)
        return empty[keep(empty)]
    columns: dict[str, Any] = {}
    for name in parts[0].columns:
        pieces = [part[name] for part in parts]
        if isinstance(pieces[0].dtype, pd.CategoricalDtype):
            # Levels in order of first appearance across batches, unused ones kept (the
            # whole answer's dictionary).
            column: Any = pd.Series(union_categoricals(pieces), copy=False)
        else:
            column = pd.concat(pieces, ignore_index=True)
        columns[name] = column
        for part in parts:
            del part[name]
    return pd.DataFrame(columns, copy=False)


class SqlEngine(ABC):
    """A SQL engine holding the run's tables; queries return small pandas frames."""

    name: str = ""

    @abstractmethod
    def register(self, name: str, table: pa.Table) -> None:
        """Make ``table`` queryable as ``name`` (replacing any earlier table of that name)."""

    @abstractmethod
    def query(self, sql: str, coded: Sequence[str] = ()) -> pd.DataFrame:
        """The answer as a DataFrame; ``coded`` text columns as categoricals (from_engine)."""

    def query_kept(
        self, sql: str, keep: Callable[[pd.DataFrame], np.ndarray], coded: Sequence[str] = ()
    ) -> pd.DataFrame:
        """The rows of the answer for which ``keep`` (a mask over a frame made as ``query``
        makes one) holds, in the answer's order: here from the whole answer; an engine that
        can stream its answer builds it a batch at a time (the same rows, columns and types)."""
        frame = self.query(sql, coded)
        return frame[keep(frame)]

    def unregister(self, name: str) -> None:  # noqa: B027 - an engine without its own copy
        """Forget table ``name``, so that its memory can go once nothing else holds it."""

    @abstractmethod
    def materialize(self, name: str, sql: str) -> None:
        """Keep the answer of ``sql`` in memory as table ``name``, for several queries."""

    @abstractmethod
    def days(self, start: str, end: str) -> str:
        """SQL for the whole days from date ``start`` to date ``end``."""

    @abstractmethod
    def quote(self, name: str) -> str:
        """A column name as an identifier of this dialect."""

    def close(self) -> None:  # noqa: B027 - engines without resources need nothing
        pass

    def check_name(self, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"not a table name: {name!r}")
        return name


class DuckDBEngine(SqlEngine):
    """In-process DuckDB on an in-memory database with spilling to disk switched off."""

    name = DUCKDB
    batch_rows = BATCH_ROWS

    def __init__(self, settings: EngineSettings) -> None:
        import duckdb

        config: dict[str, Any] = {
            "memory_limit": settings.duckdb_memory_limit,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if settings.duckdb_threads:
            config["threads"] = settings.duckdb_threads
        self.connection = duckdb.connect(":memory:", config=config)
        for statement in (
            # No temporary directory: DuckDB cannot spill intermediate (plaintext) rows to disk;
            # a query that needs more than memory_limit fails instead. (Its temp_file_encryption
            # only applies to an encrypted database file, which an in-memory database is not.)
            "SET temp_directory = ''",
            # Nothing outside the tables registered here may be read, and no setting changed.
            "SET enable_external_access = false",
            "SET lock_configuration = true",
        ):
            self.connection.execute(statement)
        self._tables: dict[str, pa.Table] = {}

    def register(self, name: str, table: pa.Table) -> None:
        self._tables[self.check_name(name)] = table
        self.connection.register(name, table)

    def query(self, sql: str, coded: Sequence[str] = ()) -> pd.DataFrame:
        return from_engine(self.connection.sql(sql).to_arrow_table(), coded)

    def query_kept(
        self, sql: str, keep: Callable[[pd.DataFrame], np.ndarray], coded: Sequence[str] = ()
    ) -> pd.DataFrame:
        # A register-sized answer (the comparison pool: a row per person) is never held whole
        # twice (Arrow and pandas): each batch becomes pandas and only its kept rows stay.
        reader = self.connection.sql(sql).to_arrow_reader(self.batch_rows)
        return kept_rows(reader.schema, reader, keep, coded)

    def unregister(self, name: str) -> None:
        if self._tables.pop(self.check_name(name), None) is not None:
            self.connection.unregister(name)
        # Arrow's allocator keeps freed pages for reuse; a register's table is worth returning.
        pa.default_memory_pool().release_unused()

    def materialize(self, name: str, sql: str) -> None:
        # A temporary table of an in-memory database lives in memory (no spill: see above).
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {self.check_name(name)} AS {sql}")

    def days(self, start: str, end: str) -> str:
        return f"date_diff('day', {start}, {end})"

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def close(self) -> None:
        self.connection.close()


class SparkEngine(SqlEngine):
    """Spark SQL on a session of the configured master (``local[*]`` in tests and demos)."""

    name = SPARK

    def __init__(self, settings: EngineSettings, session: Any = None) -> None:
        self.session = session if session is not None else spark_session(settings)
        self._views: list[str] = []
        self._cached: list[Any] = []

    def register(self, name: str, table: pa.Table) -> None:
        # With I/O encryption on, PySpark sends the table to the JVM over a local socket (not
        # through a plaintext temporary file) and leaves that socket to the garbage collector:
        # its ResourceWarning is PySpark's own, so it is collected and silenced here only.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "unclosed <socket", ResourceWarning)
            frame = self.session.createDataFrame(table)
            gc.collect()
        frame.createOrReplaceTempView(self.check_name(name))
        self._views.append(name)

    def unregister(self, name: str) -> None:
        if self.check_name(name) in self._views:
            self.session.catalog.dropTempView(name)
            self._views.remove(name)

    def query(self, sql: str, coded: Sequence[str] = ()) -> pd.DataFrame:
        answer = self.session.sql(sql)
        return from_engine(answer.toArrow(), coded)

    def materialize(self, name: str, sql: str) -> None:
        from pyspark import StorageLevel

        # Memory only: a partition that does not fit is recomputed, never written to disk.
        frame = self.session.sql(sql).persist(StorageLevel.MEMORY_ONLY)
        frame.createOrReplaceTempView(self.check_name(name))
        self._cached.append(frame)
        self._views.append(name)

    def days(self, start: str, end: str) -> str:
        return f"datediff({end}, {start})"

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def close(self) -> None:
        for view in self._views:
            self.session.catalog.dropTempView(view)
        for frame in self._cached:
            frame.unpersist()


def spark_session(settings: EngineSettings) -> Any:
    """The process's Spark session for ``settings.spark_master`` (started once: a JVM start
    takes seconds). Dates stay dates and the session's time zone is UTC."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName("governance-analysis")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
    )
    # Splink's string similarity functions (Jaro-Winkler...) for probabilistic linkage on
    # Spark: a jar shipped with Splink, registered by its SparkAPI, needed on the classpath from
    # the session's start.
    from splink.backends.spark import similarity_jar_location

    jars = [similarity_jar_location(), *filter(None, [settings.spark_conf.get("spark.jars")])]
    builder = builder.config("spark.jars", ",".join(jars))
    if settings.spark_master.startswith("local"):
        # A single-node run shares the worker's machine: bound the JVM (a cluster's driver is
        # sized by its deployment, see docs/analysis.md).
        builder = builder.config("spark.driver.memory", "2g")
    for key, value in settings.spark_conf.items():
        if key == "spark.jars":
            continue
        if key == IO_ENCRYPTION and str(value).lower() != "true":
            raise ValueError(
                f"{IO_ENCRYPTION} must stay true: without it Spark writes the rows it shuffles "
                "and the tables it is given to local disk in plaintext"
            )
        builder = builder.config(key, value)
    session = builder.config(IO_ENCRYPTION, "true").getOrCreate()
    # getOrCreate returns a session this process already started, with whatever settings it was
    # started with; a session that writes plaintext is not used.
    if session.sparkContext.getConf().get(IO_ENCRYPTION, "false").lower() != "true":
        raise RuntimeError(
            f"this process's Spark session was started without {IO_ENCRYPTION}: "
            "stop it and start the analysis again"
        )
    return session


def start_engine(name: str, settings: EngineSettings | None = None) -> SqlEngine:
    settings = settings or EngineSettings()
    if name == DUCKDB:
        return DuckDBEngine(settings)
    if name == SPARK:
        return SparkEngine(settings)
    raise ValueError(f"{name!r} is not a SQL engine")


@contextmanager
def running(name: str, settings: EngineSettings | None = None) -> Iterator[SqlEngine]:
    engine = start_engine(name, settings)
    try:
        yield engine
    finally:
        engine.close()
