"""The matched comparison on DuckDB and Spark at register scale (engine level).

Data: the synthetic generator (governance/analysis/engine/synthetic.py), run in chunks of up to
a million people (person ids offset per chunk; the partner cohort comes from the first chunk),
each chunk turned into Arrow as the data door hands tables to an engine, written to an Arrow
IPC file in a temporary folder (synthetic data only) so that the measuring process starts with
nothing but the tables: its peak RSS is the run's own. Generation is timed separately. Each
person has about 10 events (index events and offence records, the register's scale: the
generator adds earlier offence history, which changes no result).

Keys:
* matched_10k_vs_10m_duckdb_s / _peak_mb: a 10,000-person cohort against 10 million people on
  DuckDB (targets 600 s and 8,192 MB; the cohort is a thousandth of the register).
  `ENGINES_BENCH_PEOPLE=1000000` runs a reduced size instead, reported as
  matched_scaled_duckdb_s / _peak_mb beside `matched_register_people` / `_events`, so a reduced
  figure is never mistaken for the target's.
* spark_local_1m_s, spark_local_agrees_1m: the 1 million case on Spark local[*] and whether its
  tables and estimates equal DuckDB's (1 or 0), with duckdb_local_1m_s beside it.
Run alone: `python bench/engines_bench.py [--quick]`.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1_000_000
FULL_PEOPLE = 10_000_000
PARAMS: dict[str, Any] = {"eligibility": {"data_complete_until": "2022-12-31"}}
# Index events and offence records per person at a national register's scale (the issue's
# 100 million events for 10 million people); `ENGINES_BENCH_EVENTS_PER_PERSON` changes it.
EVENTS_PER_PERSON = float(os.environ.get("ENGINES_BENCH_EVENTS_PER_PERSON", "10"))


def generate(folder: Path, people: int, cohort: int, seed: int = 0) -> dict[str, float]:
    """Stream the generator's chunks into Arrow IPC files: index_events, offences, cohort."""
    import numpy as np
    import pyarrow as pa

    from governance.analysis.engine import columns_needed, generate_dataset
    from governance.analysis.engine.engines import to_arrow

    read = columns_needed("matched_comparison", PARAMS)
    writers: dict[str, Any] = {}
    rows = {"index_events": 0, "offences": 0}
    started = time.perf_counter()
    for number, first in enumerate(range(0, people, CHUNK)):
        size = min(CHUNK, people - first)
        data = generate_dataset(
            size,
            seed=seed + number,
            programme_size=cohort if number == 0 else max(1, size // 1000),
            events_per_person=EVENTS_PER_PERSON,
        )
        for name in ("index_events", "offences"):
            frame = getattr(data, name)[read[name]].copy()
            frame["person_id"] = frame["person_id"] + np.int64(first)
            table = to_arrow(frame).drop_columns(["_row"])
            if name not in writers:
                writers[name] = pa.ipc.new_file(str(folder / f"{name}.arrow"), table.schema)
            writers[name].write_table(table)
            rows[name] += table.num_rows
        if number == 0:
            data.cohort[read["cohort"]].to_parquet(folder / "cohort.parquet")
        del data
    for writer in writers.values():
        writer.close()
    return {
        "generate_s": time.perf_counter() - started,
        "index_events": float(rows["index_events"]),
        "offences": float(rows["offences"]),
    }


def load(folder: Path) -> tuple[dict[str, Any], Any]:
    import pandas as pd
    import pyarrow as pa

    tables = {
        name: pa.ipc.open_file(str(folder / f"{name}.arrow")).read_all()
        for name in ("index_events", "offences")
    }
    return tables, pd.read_parquet(folder / "cohort.parquet")


class Phases:
    """Wall and CPU seconds and peak RSS of each step the run reports (its progress
    messages), written to stderr: where a run's time and memory go."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        # Restarting the high-water mark loses the earlier peak (getrusage's too): keep it.
        self.peak_mb = _phase_peak_mb()
        self.name = "loading the tables, registering them on the engine"
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        _reset_peak()

    def __call__(self, fraction: float, message: str) -> None:
        if message != self.name:
            self.close()
            self.name = message

    def close(self) -> None:
        wall, cpu, peak = time.perf_counter(), time.process_time(), _phase_peak_mb()
        self.peak_mb = max(self.peak_mb, peak)
        self.rows.append(
            {
                "phase": self.name,
                "wall_s": round(wall - self.wall, 2),
                "cpu_s": round(cpu - self.cpu, 2),
                "peak_rss_mb": round(peak),
            }
        )
        self.wall, self.cpu = wall, cpu
        _reset_peak()


def _reset_peak() -> None:
    """Restart the kernel's high-water mark of this process's RSS (Linux: clear_refs 5)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _phase_peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_mb()


def run_matched(
    engine: str, folder: Path, phases: Phases | None = None, **settings: Any
) -> tuple[float, dict[str, Any]]:
    from governance.analysis.engine import DisclosurePolicy, RunContext, run_analysis
    from governance.analysis.engine.engines import EngineSettings, from_engine, running
    from governance.analysis.engine.sources import EngineTables

    tables, cohort = load(folder)
    context = RunContext(
        DisclosurePolicy(), ledger_key=b"bench" * 8, keep_population_keys=True, progress=phases
    )
    if engine == "pandas":
        # Today's path: the door's DataFrames (dates as datetime64), made before the clock
        # starts as the engines' Arrow tables are.
        frames = {name: from_engine(tables.pop(name)) for name in list(tables)}
        started = time.perf_counter()
        result = run_analysis("matched_comparison", {**frames, "cohort": cohort}, PARAMS, context)
        if phases is not None:
            phases.close()
        return time.perf_counter() - started, result.to_dict(include_keys=True)
    started = time.perf_counter()
    with running(engine, EngineSettings(**settings)) as sql:
        data = EngineTables(sql, tables, {"cohort": cohort})
        del tables
        result = run_analysis("matched_comparison", data, PARAMS, context)
    if phases is not None:
        phases.close()
    return time.perf_counter() - started, result.to_dict(include_keys=True)


def agree(expected: Any, found: Any) -> bool:
    """Equal to the last count; floating-point figures within 1e-9 (relative)."""
    if isinstance(expected, float) and isinstance(found, float | int):
        both_nan = math.isnan(expected) and math.isnan(found)
        return both_nan or math.isclose(expected, found, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, Mapping):
        return (
            isinstance(found, Mapping)
            and set(expected) == set(found)
            and all(agree(expected[k], found[k]) for k in expected)
        )
    if isinstance(expected, list | tuple):
        return (
            isinstance(found, list | tuple)
            and len(expected) == len(found)
            and all(agree(a, b) for a, b in zip(expected, found, strict=True))
        )
    return bool(expected == found)


def _child(*arguments: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, *arguments],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(what: str, folder: Path) -> dict[str, float]:
    if what in ("duckdb", "pandas"):
        phases = Phases()
        before = resource.getrusage(resource.RUSAGE_SELF)
        seconds, _ = run_matched(what, folder, phases, duckdb_memory_limit="6GB")
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps(phases.rows, indent=1), file=sys.stderr)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"seconds": seconds, "peak_mb": max(phases.peak_mb, _peak_mb()), "cpu_s": cpu}
    duck_seconds, on_duckdb = run_matched("duckdb", folder, duckdb_memory_limit="3GB")
    spark_seconds, on_spark = run_matched("spark", folder)
    return {
        "duckdb_s": duck_seconds,
        "spark_s": spark_seconds,
        "agrees": float(agree(on_duckdb, on_spark)),
    }


@contextmanager
def _data_folder(people: int, cohort: int) -> Iterator[Path]:
    """A temporary folder, or with `ENGINES_BENCH_DATA` a kept one per size, so that
    repeated runs of a size generate its data once (delete the folder when done)."""
    kept = os.environ.get("ENGINES_BENCH_DATA")
    if kept:
        folder = Path(kept) / f"{people}-{cohort}-{EVENTS_PER_PERSON:g}"
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="engines-bench-") as temporary:
        yield Path(temporary)


def _generated(folder: Path, people: int, cohort: int) -> dict[str, float]:
    """Generate into ``folder`` unless a completed generation is there already."""
    done = folder / "generated.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    made = _child("--generate", str(folder), str(people), str(cohort))
    done.write_text(json.dumps(made))
    return made


def run(quick: bool) -> dict[str, float]:
    people = 50_000 if quick else int(os.environ.get("ENGINES_BENCH_PEOPLE", str(FULL_PEOPLE)))
    cohort = max(1_000, people // 1_000) if not quick else 500
    # The target's keys only for the target's size (and quick runs, which smoke-test the
    # harness under every name); a reduced run reports under "matched_scaled_*".
    name = "matched_10k_vs_10m" if quick or people == FULL_PEOPLE else "matched_scaled"
    figures: dict[str, float] = {}
    with _data_folder(people, cohort) as folder:
        made = _generated(folder, people, cohort)
        run_figures = _child("--measure", "duckdb", str(folder))
        figures.update(
            {
                f"{name}_duckdb_s": run_figures["seconds"],
                f"{name}_duckdb_peak_mb": run_figures["peak_mb"],
                f"{name}_duckdb_cpu_s": run_figures["cpu_s"],
                "matched_register_people": float(people),
                "matched_register_cohort": float(cohort),
                "matched_register_events": made["index_events"] + made["offences"],
                "matched_register_events_per_person": (made["index_events"] + made["offences"])
                / people,
                "matched_register_generate_s": made["generate_s"],
            }
        )
        if os.environ.get("ENGINES_BENCH_PANDAS") == "1":
            # Today's pandas path on the same data, for the ratio (fresh process).
            on_pandas = _child("--measure", "pandas", str(folder))
            figures[f"{name}_pandas_s"] = on_pandas["seconds"]
            figures[f"{name}_pandas_peak_mb"] = on_pandas["peak_mb"]
            figures[f"{name}_pandas_cpu_s"] = on_pandas["cpu_s"]
    spark_people = 50_000 if quick else 1_000_000
    if os.environ.get("ENGINES_BENCH_SPARK", "1") == "1":
        with tempfile.TemporaryDirectory(prefix="engines-bench-spark-") as folder:
            _child("--generate", folder, str(spark_people), "1000" if not quick else "500")
            spark = _child("--measure", "spark", folder)
        figures.update(
            {
                "spark_local_1m_s": spark["spark_s"],
                "duckdb_local_1m_s": spark["duckdb_s"],
                "spark_local_agrees_1m": spark["agrees"],
            }
        )
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["--generate"]:
        folder, people, cohort = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(generate(folder, people, cohort)))
    elif sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], Path(sys.argv[3]))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
