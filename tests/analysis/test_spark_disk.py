"""Spark never leaves a granted row on disk in plaintext.

Spark writes to its local directories whatever it shuffles, spills or caches on disk, and
PySpark hands a table to the JVM through a temporary file unless I/O encryption is on. The
service's sessions encrypt that I/O (`spark.io.encryption.enabled`, engines.spark_session).

The attacker here is anyone who can read the worker's disk (an administrator, a backup, a
stolen volume) while or after an analysis runs on Spark: they look for the rows' bytes in every
file under the session's local and temporary directories. Each run is a fresh process (its own
JVM, so its own local directory and settings); a control run with encryption forced off shows
that the search finds the rows when they are there, so the test can fail.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from governance.analysis.engine.engines import IO_ENCRYPTION, EngineSettings, spark_session
from tests.analysis.conftest import java_missing

pytestmark = pytest.mark.skipif(
    java_missing(), reason="Spark tests need Java (a JRE 17 or later) and pyspark; neither is here"
)

ROOT = Path(__file__).resolve().parents[2]

# Registers a table whose every name carries the marker, shuffles it (GROUP BY, ORDER BY) and
# caches a query, as an analysis does; prints the files under SCAN_ROOT that hold the marker while
# the session runs, then the answers. With "plain" on the command line the
# session is built without the service's function, I/O encryption forced off (the control).
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import pyarrow as pa
    from governance.analysis.engine.engines import EngineSettings, SparkEngine, spark_session
    marker = os.environ["MARKER"]
    conf = {"spark.local.dir": os.environ["LOCAL_DIR"], "spark.sql.shuffle.partitions": "4"}
    if sys.argv[1:] == ["plain"]:
        from pyspark.sql import SparkSession
        builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
        for key, value in conf.items():
            builder = builder.config(key, value)
        session = builder.config("spark.io.encryption.enabled", "false").getOrCreate()
    else:
        session = spark_session(EngineSettings(spark_master="local[2]", spark_conf=conf))
    engine = SparkEngine(EngineSettings(), session=session)
    names = [f"{marker}-{i % 500}" for i in range(20_000)]
    engine.register("people", pa.table({"name": names, "x": list(range(20_000))}))
    counted = engine.query("SELECT COUNT(DISTINCT name) AS n FROM people")
    engine.materialize("ordered", "SELECT name, SUM(x) AS total FROM people GROUP BY name")
    ordered = engine.query("SELECT COUNT(*) AS n FROM ordered ORDER BY n")
    # Searched while the session runs: Spark deletes its local directories when it stops.
    root, needle, found = Path(os.environ["SCAN_ROOT"]), marker.encode(), []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(str(path.relative_to(root)))
    print(json.dumps(found))
    print(int(counted["n"][0]), int(ordered["n"][0]))
    engine.close()
    session.stop()
    """
)


def _files_with(root: Path, needle: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(str(path.relative_to(root)))
            except OSError:
                continue
    return found


def _run(tmp_path: Path, *args: str) -> tuple[str, list[str]]:
    """Run SCRIPT in a fresh process whose every temporary place is under tmp_path; return
    its answers and the files there that held the marker's bytes while it ran or after."""
    marker = "R" + secrets.token_hex(12)  # only in this process's memory and the child's
    local, scratch = tmp_path / "local", tmp_path / "tmp"
    local.mkdir()
    scratch.mkdir()
    env = {
        **os.environ,
        "MARKER": marker,
        "SCAN_ROOT": str(tmp_path),
        "LOCAL_DIR": str(local),
        "TMPDIR": str(scratch),
        "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={scratch}",
        "PYTHONPATH": str(ROOT),
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *_, during, answers = done.stdout.strip().splitlines()
    return answers, sorted({*json.loads(during), *_files_with(tmp_path, marker.encode())})


@pytest.mark.slow
def test_a_spark_run_leaves_no_row_in_plaintext_on_disk(tmp_path: Path) -> None:
    answers, found = _run(tmp_path)
    assert answers == "500 500"  # the run read, shuffled and cached the rows
    assert found == []


@pytest.mark.slow
def test_the_search_finds_rows_that_spark_wrote_without_encryption(tmp_path: Path) -> None:
    # The control: the same run with I/O encryption off leaves the rows in its shuffle files.
    answers, found = _run(tmp_path, "plain")
    assert answers == "500 500"
    assert found, "the control found no plaintext: the search above proves nothing"


def test_a_setting_that_turns_spark_io_encryption_off_is_refused() -> None:
    settings = EngineSettings(spark_master="local[1]", spark_conf={IO_ENCRYPTION: "false"})
    with pytest.raises(ValueError, match="must stay true"):
        spark_session(settings)


def test_the_service_session_encrypts_its_io(spark_session: object) -> None:
    assert spark_session.sparkContext.getConf().get(IO_ENCRYPTION) == "true"  # type: ignore[attr-defined]
