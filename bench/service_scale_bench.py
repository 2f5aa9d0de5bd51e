"""The matched comparison at register scale as a service run: stored, gated, read through the door.

`engines_bench.py` measures the engine on Arrow tables made beside it; this measures the
service's own path to the same run. Setup (not timed): `governance init` and `governance demo`
in a fresh instance folder (the people, the active agreement, the analyst's grants of the
columns the matched comparison reads, the datasets and their stewards). Then, in a fresh
process, the synthetic generator runs in chunks of up to a million people (about 10 events
each: the issue's 100 million events for 10 million people), and each chunk is streamed into
the encrypted store as it is made: `ingestion.ingest_stream`, the steward's streamed upload
(checks, Parquet with modular encryption and wrapped column keys, the audit record), one new
version of each dataset, never held whole. Generation and storing are timed apart (generation
is excluded from every target). The partner's cohort (the first chunk's programme) is uploaded
under the agreement. Last, in a fresh process (its peak RSS is the run's own): `submit_run`
(the scope gate), the worker's `execute_run` on DuckDB (the gate again, the door decrypting only
the granted columns and recording each read with the engine and the columns), to the PDF.

Keys (full size: 10,000-person cohort against 10,000,000 people; `--quick` uses 50,000 people
and a 500-person cohort under the same names, a smoke test of the harness):
* matched_10k_vs_10m_service_duckdb_s / _peak_mb / _cpu_s: submission to PDF (targets 600 s,
  8,192 MB), with _load_s (the door's reads and the hand-over to the engine);
* matched_10k_vs_10m_service_audited: 1 when every read event of the run names the engine and
  exactly the granted columns;
* store_10m_register_s / _cpu_s / _peak_mb: streaming the register into the store;
  generate_10m_register_s: the generator's own time (excluded).
`SERVICE_BENCH_DATA=/some/folder` keeps the instance (and its stored register) per size, so a
second run measures the service run only. Run alone: `python bench/service_scale_bench.py`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.analysis_bench import governance, instance_env, matched_run  # noqa: E402
from bench.engines_bench import Phases, _phase_peak_mb, _reset_peak  # noqa: E402

CHUNK = 1_000_000
FULL_PEOPLE = 10_000_000
DEMO_PEOPLE = 20_000
EVENTS_PER_PERSON = 10.0
SEED = 7


def _settings_env(instance: str) -> dict[str, str]:
    return {
        **instance_env(instance),
        # One version holds the register's 88 million offence rows: the host operator raises
        # the per-upload row limit for a bulk load like this one.
        "GOVERNANCE_MAX_UPLOAD_ROWS": "1000000000",
        "GOVERNANCE_ANALYSIS_ENGINE": "duckdb",
        "GOVERNANCE_ANALYSIS_DUCKDB_MEMORY_LIMIT": "6GB",
    }


def _rusage_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def store_register(people: int, cohort: int) -> dict[str, float]:
    """Child process: generate the register in chunks and stream each into the store."""
    import io

    import numpy as np
    from sqlalchemy import select

    from governance import create_app
    from governance.analysis import cohorts
    from governance.analysis.engine import generate_dataset
    from governance.datasets.cohort_model import CohortFile
    from governance.datasets.ingestion import ingest_stream
    from governance.datasets.models import Dataset
    from governance.demo.analysis_data import INDEX_EVENTS, OFFENCES
    from governance.identity.models import User
    from governance.kernel.extensions import database
    from governance.kernel.types import utcnow

    app = create_app()
    db = database(app)
    generate_s = store_s = store_cpu = 0.0
    rows = {INDEX_EVENTS: 0, OFFENCES: 0}
    _reset_peak()
    with app.app_context(), db.session() as session:
        demo_cohort = session.scalars(select(CohortFile).order_by(CohortFile.id)).first()
        assert demo_cohort is not None, "run `governance demo` first"
        analyst = session.get(User, demo_cohort.uploaded_by_id)
        datasets = {d.name: d for d in session.scalars(select(Dataset))}
        steward = session.get(User, min(datasets[INDEX_EVENTS].steward_ids))
        assert analyst is not None
        assert steward is not None
        partner = None
        with ExitStack() as streams:
            opened = time.perf_counter(), _rusage_cpu()
            writers = {
                name: streams.enter_context(
                    ingest_stream(
                        session,
                        dataset_id=datasets[name].id,
                        source_filename=f"register-{people}-{name.lower().replace(' ', '-')}",
                        by=steward,
                    )
                )
                for name in (INDEX_EVENTS, OFFENCES)
            }
            store_s += time.perf_counter() - opened[0]
            store_cpu += _rusage_cpu() - opened[1]
            for number, first in enumerate(range(0, people, CHUNK)):
                size = min(CHUNK, people - first)
                started = time.perf_counter()
                data = generate_dataset(
                    size,
                    seed=SEED + number,
                    programme_size=cohort if number == 0 else max(1, size // 1000),
                    events_per_person=EVENTS_PER_PERSON,
                )
                parts = {INDEX_EVENTS: data.index_events, OFFENCES: data.offences}
                # Person and event ids continue from the earlier chunks.
                for frame in parts.values():
                    frame["person_id"] += np.int64(first)
                parts[INDEX_EVENTS]["index_id"] += np.int64(rows[INDEX_EVENTS])
                if number == 0:
                    partner = data.cohort
                del data
                generate_s += time.perf_counter() - started
                started, cpu = time.perf_counter(), _rusage_cpu()
                for name, frame in parts.items():
                    writers[name].write(frame[datasets[name].column_names])
                    rows[name] += len(frame)
                del parts, frame
                store_s += time.perf_counter() - started
                store_cpu += _rusage_cpu() - cpu
            started, cpu = time.perf_counter(), _rusage_cpu()
        # Leaving the block finished both versions (their files and audit records).
        session.commit()
        store_s += time.perf_counter() - started
        store_cpu += _rusage_cpu() - cpu
        assert partner is not None
        text = io.StringIO()
        partner.to_csv(text, index=False)
        cohorts.upload_cohort(
            session,
            agreement_id=demo_cohort.agreement_id,
            data=text.getvalue().encode(),
            filename="programme.csv",
            label=f"Programme participants ({len(partner):,})",
            by=analyst,
            now=utcnow(),
        )
        session.commit()
        stored = {
            name: (writers[name].version.row_count, writers[name].version.byte_size)
            for name in writers
            if writers[name].version is not None
        }
    return {
        "generate_s": generate_s,
        "store_s": store_s,
        "store_cpu_s": store_cpu,
        "peak_mb": _phase_peak_mb(),
        "index_events": float(stored[INDEX_EVENTS][0]),
        "offences": float(stored[OFFENCES][0]),
        "stored_bytes": float(stored[INDEX_EVENTS][1] + stored[OFFENCES][1]),
        "cohort": float(len(partner)),
    }


def measure() -> dict[str, float]:
    """Child process: the matched comparison from submission to PDF, run by the worker code."""
    from sqlalchemy import select

    from governance import create_app
    from governance.analysis import runner
    from governance.audit.models import AuditEvent
    from governance.kernel.extensions import database

    # Where the door's part ends (the tables loaded), and each step the run reports: wall, CPU
    # and peak RSS per phase, to stderr (bench instrumentation only).
    load: dict[str, float] = {}
    original_load = runner._load
    phases: list[Phases] = []

    def timed_load(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        loaded = original_load(*args, **kwargs)
        load["seconds"] = time.perf_counter() - started
        load["peak_mb"] = _phase_peak_mb()
        phases[0].close()
        phases[0].name = "handing the tables to the engine"
        return loaded

    original_progress = runner.Heartbeat.progress

    def progress(self: Any, fraction: float, message: str) -> None:
        phases[0](fraction, message)
        original_progress(self, fraction, message)

    runner._load = timed_load  # type: ignore[assignment]
    runner.Heartbeat.progress = progress  # type: ignore[method-assign]
    app = create_app()
    db = database(app)
    with app.app_context(), db.session() as session:
        first_event = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())) or 0
        phases.append(Phases())
        phases[0].name = "the gate and the door's reads"
        started, cpu = time.perf_counter(), _rusage_cpu()
        stored = matched_run(db, session)
        elapsed, cpu = time.perf_counter() - started, _rusage_cpu() - cpu
        phases[0].close()
        peak = max(phases[0].peak_mb, _phase_peak_mb())
        print(json.dumps(phases[0].rows, indent=1), file=sys.stderr)
        sources = stored.provenance["sources"]
        reads = [
            e
            for e in session.scalars(select(AuditEvent).where(AuditEvent.seq > first_event))
            if (e.detail or {}).get("analysis_run") == stored.id and e.dataset_id is not None
        ]
        audited = bool(reads) and all(
            e.detail.get("engine") == "duckdb"
            and sorted(e.detail.get("columns", [])) == sorted(sources[e.detail["table"]]["columns"])
            for e in reads
        )
    return {
        "seconds": elapsed,
        "cpu_s": cpu,
        "peak_mb": peak,
        "load_s": load.get("seconds", float("nan")),
        "load_peak_mb": load.get("peak_mb", float("nan")),
        "audited": float(audited and stored.provenance["engine"] == "duckdb"),
        "index_events": float(sources["index_events"]["rows"]),
        "offences": float(sources["offences"]["rows"]),
    }


def _child(env: dict[str, str], *arguments: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, *arguments],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@contextmanager
def _instance(people: int, cohort: int) -> Iterator[Path]:
    """A temporary instance folder, or with `SERVICE_BENCH_DATA` a kept one per size."""
    kept = os.environ.get("SERVICE_BENCH_DATA")
    if kept:
        folder = Path(kept) / f"instance-{people}-{cohort}-{EVENTS_PER_PERSON:g}"
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="service-scale-bench-") as temporary:
        yield Path(temporary)


def stored_register(instance: Path, people: int, cohort: int) -> dict[str, float]:
    """Set the instance up and store the register, unless a completed store is there."""
    done = instance / "stored.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    env = _settings_env(str(instance))
    governance(env, "init")
    governance(env, "demo", "--people", str(DEMO_PEOPLE if people > DEMO_PEOPLE else 5_000))
    made = _child(env, "--store", str(people), str(cohort))
    done.write_text(json.dumps(made))
    return made


def run(quick: bool) -> dict[str, float]:
    people = 50_000 if quick else int(os.environ.get("SERVICE_BENCH_PEOPLE", str(FULL_PEOPLE)))
    cohort = 500 if quick else max(1_000, people // 1_000)
    # The target's keys for the target's size (and quick runs, as a smoke test of the harness).
    name = "10k_vs_10m" if quick or people == FULL_PEOPLE else "scaled"
    with _instance(people, cohort) as instance:
        made = stored_register(instance, people, cohort)
        figures = _child(_settings_env(str(instance)), "--measure")
    prefix = f"matched_{name}_service_duckdb"
    register = "10m" if name == "10k_vs_10m" else "scaled"
    return {
        f"{prefix}_s": figures["seconds"],
        f"{prefix}_peak_mb": figures["peak_mb"],
        f"{prefix}_cpu_s": figures["cpu_s"],
        f"{prefix}_load_s": figures["load_s"],
        f"{prefix}_load_peak_mb": figures["load_peak_mb"],
        f"{prefix}_audited": figures["audited"],
        f"{prefix}_events": figures["index_events"] + figures["offences"],
        f"store_{register}_register_s": made["store_s"],
        f"store_{register}_register_cpu_s": made["store_cpu_s"],
        f"store_{register}_register_peak_mb": made["peak_mb"],
        f"store_{register}_register_bytes": made["stored_bytes"],
        f"generate_{register}_register_s": made["generate_s"],
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--store"]:
        print(json.dumps(store_register(int(sys.argv[2]), int(sys.argv[3]))))
    elif sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure()))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
