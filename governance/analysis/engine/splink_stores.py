"""Where the Splink model of splink_model.py runs: an in-memory DuckDB that cannot spill (the
default, on the worker), or the run's Spark session (a run placed on Spark, at scale).

Both hold the two model frames as tables with the blocking keys derived in SQL, answer the
model's counting queries, and hand Splink its database API. Neither writes a plaintext row to
disk: DuckDB has no temporary directory and no database file; Spark keeps the tables in memory
(temporary views of persisted frames, never a table in a warehouse directory), Splink breaks
its lineage by persisting (not its default of writing Parquet files), and the session encrypts
whatever Spark itself writes (engines.spark_session).
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from .engines import DUCKDB, SPARK, EngineSettings, SparkEngine

if TYPE_CHECKING:
    from .splink_model import DuckDBLimits

# The model's columns and blocking keys from a model frame (splink_model.model_frame) registered
# as ``incoming``; SQL that DuckDB and Spark both run.
_MODEL_COLUMNS = (
    "select unique_id, first_name, middle_names, surname,"
    " cast(date_of_birth as date) as date_of_birth,"
    " cast(year(date_of_birth) as integer) as birth_year,"
    " left(first_name, 1) as forename_initial, left(surname, 1) as surname_initial,"
    " sex from {incoming}"
)


class SplinkStore(ABC):
    """The tables Splink links and the engine it runs its SQL on."""

    engine: str

    def table(self, name: str) -> str:
        """The engine's name of the model's table ``name`` ("cohort" or "register")."""
        return name

    @abstractmethod
    def load(self, name: str, frame: pd.DataFrame) -> None:
        """Hold ``frame`` (a model frame) as table ``name``, with its blocking keys: Splink
        reads its inputs several times, and each scan of a pandas text column goes through
        Python."""

    @abstractmethod
    def scalar(self, sql: str) -> int:
        """The one integer ``sql`` answers."""

    @abstractmethod
    def api(self) -> Any:
        """Splink's database API over this store."""

    @abstractmethod
    def pairs(self, predictions: Any) -> pd.DataFrame:
        """Of Splink's scored pairs, only the two keys, the weight, the probability and the
        comparison levels (``gamma_*``): never the compared names and dates beside them."""

    @abstractmethod
    def close(self) -> None:
        """Release the tables."""


def _kept(columns: list[str]) -> list[str]:
    keys = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
    return keys + [column for column in columns if column.startswith("gamma_")]


class DuckDBStore(SplinkStore):
    engine = DUCKDB

    def __init__(self, limits: DuckDBLimits) -> None:
        # DuckDB with the first probabilistic linkage, not with the service.
        import duckdb

        self.connection = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": limits.memory_limit,
                "threads": limits.threads,
                # No temporary directory: DuckDB cannot offload blocks, so no plaintext on disk.
                "temp_directory": "",
            },
        )

    def load(self, name: str, frame: pd.DataFrame) -> None:
        self.connection.register("incoming", frame)
        # ``name`` is splink_model's constant ("cohort" or "register"), never a user's text.
        self.connection.execute(
            f"create table {name} as {_MODEL_COLUMNS.format(incoming='incoming')}"
        ).fetchall()
        self.connection.unregister("incoming")

    def scalar(self, sql: str) -> int:
        return int(self.connection.execute(sql).fetchall()[0][0])

    def api(self) -> Any:
        from splink import DuckDBAPI

        return DuckDBAPI(self.connection)

    def pairs(self, predictions: Any) -> pd.DataFrame:
        relation = predictions.as_duckdbpyrelation()
        return relation.select(*_kept(relation.columns)).df()

    def close(self) -> None:
        self.connection.close()


class SparkStore(SplinkStore):
    """The run's Spark session; the tables are temporary views of frames persisted in memory,
    dropped with the views Splink made when the linkage ends."""

    engine = SPARK

    def __init__(self, session: Any) -> None:
        self.sql = SparkEngine(EngineSettings(), session=session)
        # The session is the run's: its own views (a table called "register", say) must not be
        # replaced by the model's, nor dropped with them, so the model's views get a prefix of
        # their own.
        self.prefix = f"splink_{secrets.token_hex(6)}_"

    def table(self, name: str) -> str:
        return self.prefix + name

    def load(self, name: str, frame: pd.DataFrame) -> None:
        incoming = self.table(f"{name}_incoming")
        self.sql.register(incoming, pa.Table.from_pandas(frame, preserve_index=False))
        self.sql.materialize(self.table(name), _MODEL_COLUMNS.format(incoming=incoming))

    def scalar(self, sql: str) -> int:
        return int(self.sql.query(sql).iloc[0, 0])

    def api(self) -> Any:
        # "persist" keeps Splink's intermediate tables in the executors' memory (spilled blocks
        # are encrypted by the session); its default writes them as Parquet files.
        return _arrow_spark_api()(spark_session=self.sql.session, break_lineage_method="persist")

    def pairs(self, predictions: Any) -> pd.DataFrame:
        frame = predictions.as_spark_dataframe()
        return frame.select(*_kept(frame.columns)).toArrow().to_pandas()

    def close(self) -> None:
        self.sql.close()
        # Splink's own views (blocked pairs, predictions) and the frames it persisted for them;
        # the run's other tables on the session stay.
        catalog = self.sql.session.catalog
        for table in catalog.listTables():
            if table.isTemporary and table.name.startswith("__splink"):
                catalog.uncacheTable(table.name)
                catalog.dropTempView(table.name)


def _arrow_spark_api() -> Any:
    """Splink's SparkAPI reading its answers through Arrow. Splink reads every answer (counts,
    parameters, the scored pairs) with PySpark's toPandas, which PySpark 4.3 does not support
    under pandas 3 (its Arrow path fails on a removed pandas keyword); the service's own Spark
    code reads answers as Arrow (engines.SparkEngine.query), and so does this."""
    from splink.backends.spark import SparkAPI
    from splink.internals.spark.dataframe import SparkDataFrame

    class ArrowSparkDataFrame(SparkDataFrame):
        def as_pandas_dataframe(self, limit: int | None = None) -> pd.DataFrame:
            frame = self.as_spark_dataframe()  # type: ignore[no-untyped-call]
            return (frame.limit(limit) if limit else frame).toArrow().to_pandas()

    class ArrowSparkAPI(SparkAPI):
        def table_to_splink_dataframe(
            self, templated_name: str, physical_name: str
        ) -> ArrowSparkDataFrame:
            return ArrowSparkDataFrame(templated_name, physical_name, self)

    return ArrowSparkAPI


def store_for(spark_session: Any, limits: DuckDBLimits) -> SplinkStore:
    """The run's Spark session when it runs on Spark, else an in-memory DuckDB."""
    return SparkStore(spark_session) if spark_session is not None else DuckDBStore(limits)
