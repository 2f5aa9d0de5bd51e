"""Probabilistic linkage (Splink on in-memory DuckDB): a 10,000-person cohort against 10 million.

The labelled register and cohort come from the project's generator
(engine/synthetic_linkage.py; generation is timed apart and excluded). The measurement runs in
a fresh process so its peak RSS is the linkage's own: the model is estimated (u by random
sampling, m by EM), every blocked pair scored, links and clerical review decided. Target:
`splink_10k_vs_10m_s` <= 600 s. `SPLINK_BENCH_PEOPLE` runs another register size (the key then
names it, e.g. `splink_10k_vs_1m_s`), for a shared machine where 10 million does not fit.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COHORT = 10_000


def _measure(people: int, cohort: int) -> dict[str, float]:
    from governance.analysis.engine.probabilistic_linkage import (
        DuckDBLimits,
        LinkageThresholds,
        link_cohort_probabilistic,
    )
    from governance.analysis.engine.synthetic_linkage import labelled_linkage

    started = time.perf_counter()
    data = labelled_linkage(people, cohort, seed=7)
    generated = time.perf_counter() - started
    marks: dict[str, float] = {}

    def progress(_fraction: float, message: str) -> None:
        marks.setdefault(message.split(" ")[0], time.perf_counter())

    started, cpu = time.perf_counter(), time.process_time()
    result = link_cohort_probabilistic(
        data.cohort,
        data.register,
        LinkageThresholds(0.95, 0.5),
        # In-memory DuckDB cannot spill (no plaintext on disk): its ceiling must hold the
        # blocked pairs with their comparison columns (SPLINK_BENCH_MEMORY). 6GB ran out at
        # 10 M people; with 12GB the quiet run peaked at 7.9 GB resident (docs/benchmarks.md).
        limits=DuckDBLimits(os.environ.get("SPLINK_BENCH_MEMORY", "12GB")),
        progress=progress,
    )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    truth = data.true_person_id.fillna(-1).astype("int64").to_numpy()
    truth = truth[result.linked["cohort_row"].to_numpy()]
    right = float((result.linked["person_id"].to_numpy() == truth).sum())
    return {
        "seconds": elapsed,
        # Process CPU (both of DuckDB's threads count): steadier than wall time under load.
        "cpu_s": cpu,
        "preparation_s": marks["estimating"] - started,
        "estimation_s": marks["scoring"] - marks["estimating"],
        "scoring_s": marks["deciding"] - marks["scoring"],
        "generation_s": generated,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "precision": right / max(len(result.linked), 1),
        "recall": right / float(data.true_person_id.notna().sum()),
        "load_1m": os.getloadavg()[0],
    }


def _label(people: int) -> str:
    return f"{people // 1_000_000}m" if people >= 1_000_000 else f"{people // 1_000}k"


def run(quick: bool) -> dict[str, float]:
    people = int(os.environ.get("SPLINK_BENCH_PEOPLE", 0)) or (50_000 if quick else 10_000_000)
    cohort = 1_000 if quick else COHORT
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; from bench.linkage_bench import _measure; "
            f"print(json.dumps(_measure({people}, {cohort})))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    key = f"splink_{_label(cohort)}_vs_{_label(people)}"
    rounding = {"precision": 4, "recall": 4, "peak_mb": 0}
    return {
        (f"{key}_s" if name == "seconds" else f"{key}_{name}"): round(value, rounding.get(name, 1))
        for name, value in figures.items()
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
