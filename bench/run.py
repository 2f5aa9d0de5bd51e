"""Run every benchmark under bench/, write bench/results/latest.json and print a table.

Each `bench/*_bench.py` module exposes `run(quick: bool) -> dict[str, float]`. Figures on a
shared 2-core machine are noisy: each benchmark repeats and reports medians, and states ratios
against a baseline measured in the same run where one exists. `--quick` runs small sizes, as
a smoke test of the harness (CI does that); the targets apply to the full run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
DOC = HERE.parent / "docs" / "benchmarks.md"

# key: (target description, check)
TARGETS = {
    "decision_p50_us_100k": ("<= 50 µs", lambda v: v <= 50),
    "decision_p99_us_100k": ("<= 250 µs", lambda v: v <= 250),
    "decision_growth_100k_over_1k": ("<= 1.5", lambda v: v <= 1.5),
    "decision_speedup_vs_casbin_100k": (">= 1,000", lambda v: v >= 1000),
    "audited_decisions_per_s_sqlite": (">= 2,000", lambda v: v >= 2000),
    "audited_decisions_per_s_postgres": (">= 2,000", lambda v: v >= 2000),
    "audit_forks_postgres_4_writers": ("0", lambda v: v == 0),
    "audit_verify_1m_s": ("<= 5 s", lambda v: v <= 5),
    "csv_export_1m_s": ("<= 10 s", lambda v: v <= 10),
    "csv_export_peak_mb": ("<= 300 MB", lambda v: v <= 300),
    "pdf_audit_report_1m_s": ("<= 10 s", lambda v: v <= 10),
    "audit_verify_1m_s_postgres": ("<= 5 s", lambda v: v <= 5),
    "csv_export_1m_s_postgres": ("<= 10 s", lambda v: v <= 10),
    "csv_export_peak_mb_postgres": ("<= 300 MB", lambda v: v <= 300),
    "pdf_audit_report_1m_s_postgres": ("<= 10 s", lambda v: v <= 10),
    "http_reads_per_s": (">= 500/s", lambda v: v >= 500),
    "http_read_p99_ms": ("<= 50 ms", lambda v: v <= 50),
    "http_reads_per_s_postgres": (">= 500/s", lambda v: v >= 500),
    "http_read_p99_ms_postgres": ("<= 50 ms", lambda v: v <= 50),
    # The load test (http_bench.py): 64 clients, every read answered, audited and chained.
    "load_errors": ("0", lambda v: v == 0),
    "load_audited_equals_reads": ("1 (yes)", lambda v: v == 1),
    "load_chain_intact": ("1 (yes)", lambda v: v == 1),
    "load_errors_postgres": ("0", lambda v: v == 0),
    "load_audited_equals_reads_postgres": ("1 (yes)", lambda v: v == 1),
    "load_chain_intact_postgres": ("1 (yes)", lambda v: v == 1),
    "page_view_p99_ms": ("<= 100 ms", lambda v: v <= 100),
    "page_view_p99_ms_postgres": ("<= 100 ms", lambda v: v <= 100),
    "matched_1k_vs_1m_s": ("<= 30 s", lambda v: v <= 30),
    "matched_peak_mb": ("<= 2,048 MB", lambda v: v <= 2048),
    "protection_large_s": ("<= 10 s", lambda v: v <= 10),
    "reid_risk_1m_s": ("<= 30 s", lambda v: v <= 30),
    "reid_risk_door_1m_s": ("<= 30 s", lambda v: v <= 30),
    "matched_duckdb_over_pandas": ("<= 1.0", lambda v: v <= 1.0),
    "matched_10k_vs_10m_duckdb_s": ("<= 600 s", lambda v: v <= 600),
    "matched_10k_vs_10m_duckdb_peak_mb": ("<= 8,192 MB", lambda v: v <= 8192),
    "spark_local_agrees_1m": ("1", lambda v: v == 1),
    "splink_10k_vs_10m_s": ("<= 600 s", lambda v: v <= 600),
    # The same comparison as a service run: stored encrypted, gated, read through the door.
    "matched_10k_vs_10m_service_duckdb_s": ("<= 600 s", lambda v: v <= 600),
    "matched_10k_vs_10m_service_duckdb_peak_mb": ("<= 8,192 MB", lambda v: v <= 8192),
    "matched_10k_vs_10m_service_duckdb_audited": ("1 (yes)", lambda v: v == 1),
}


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*_bench.py"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("names", nargs="*", help="only these benchmark modules")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    results: dict[str, float] = {}
    failures = []
    started = time.perf_counter()
    for name in args.names or discover():
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            figures = module.run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failures.append(name)
            continue
        results.update(figures)
        print(f"   done in {time.perf_counter() - t0:.1f} s", flush=True)
    results["bench_total_s"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    table = render_table(results, quick=args.quick)
    print(table)
    if not args.quick and not args.names:
        DOC.write_text(table_document(table))
    return 1 if failures else 0


def render_table(results: dict[str, float], *, quick: bool) -> str:
    lines = ["| key | value | target | met |", "| --- | ---: | --- | --- |"]
    for key in sorted(results):
        value = results[key]
        target, check = TARGETS.get(key, ("", None))
        met = "" if check is None else ("yes" if check(value) else "**no**")
        if quick and check is not None:
            met = "(quick run)"
        lines.append(f"| `{key}` | {value:,.2f} | {target} | {met} |")
    return "\n".join(lines)


# The hand-written part of docs/benchmarks.md (profiles, before and after, the engines'
# figures) starts at this marker and is kept when a full run rewrites the table above it.
NOTES = "<!-- notes: kept across runs -->"


def table_document(table: str) -> str:
    """The page: this run's table, then the hand-written notes below NOTES, kept."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    old = DOC.read_text() if DOC.exists() else ""
    notes = old[old.index(NOTES) :] if NOTES in old else ""
    return (
        f"# Benchmarks\n\nLatest full `make bench` run: {dt.date.today().isoformat()}, on "
        f"{machine} (a shared machine: medians of repeated runs; ratios are measured in the "
        f"same run).\n\n{table}\n" + (f"\n{notes}" if notes else "")
    )


if __name__ == "__main__":
    raise SystemExit(main())
