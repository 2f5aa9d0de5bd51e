"""Matched comparison, submission to PDF: a 1,000-person cohort against 1,000,000 people.

Setup (not timed) runs `governance init` and `governance demo --people N` in a fresh instance
folder: the synthetic register is generated, stored encrypted through ingestion, and the analyst
holds grants and has uploaded the partner's cohort file. The measurement then runs in a fresh
process, so its peak RSS is the run's own: `submit_run` (the scope gate), then the worker's
`execute_run` in-process (gate again, loading only the needed columns through the data door,
the engine, the PDF and CSV), until the PDF bytes are read back. Targets: 30 s, 2,048 MB.
The same run is measured again with ANALYSIS_ENGINE=duckdb (target: no slower than pandas).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def matched_run(db: Any, session: Any) -> Any:
    """Submit the matched comparison on the newest cohort file as the analyst who uploaded it,
    run it with the worker's code (`runner.execute_run`, looked up at call time so that a
    bench's instrumentation of the runner applies), and return the stored run; raise unless it
    produced its PDF. Used by this bench and service_scale_bench.py."""
    from sqlalchemy import select

    from governance.analysis import runner
    from governance.analysis import runs as analyses
    from governance.analysis.models import AnalysisRun
    from governance.datasets.cohort_model import CohortFile
    from governance.datasets.models import Dataset
    from governance.demo.analyses import MATCHED_PARAMETERS
    from governance.demo.analysis_data import INDEX_EVENTS, OFFENCES
    from governance.identity.models import User
    from governance.kernel.types import utcnow

    cohort = session.scalars(select(CohortFile).order_by(CohortFile.id.desc())).first()
    assert cohort is not None
    analyst = session.get(User, cohort.uploaded_by_id)
    assert analyst is not None
    ids = {d.name: d.id for d in session.scalars(select(Dataset))}
    run = analyses.submit_run(
        session,
        agreement_id=cohort.agreement_id,
        kind="matched_comparison",
        parameters=MATCHED_PARAMETERS,
        datasets={"index_events": ids[INDEX_EVENTS], "offences": ids[OFFENCES]},
        cohort_id=cohort.id,
        by=analyst,
        now=utcnow(),
    )
    session.commit()
    status = runner.execute_run(db, run.id, worker_id="bench")
    session.expire_all()
    stored = session.get(AnalysisRun, run.id)
    assert stored is not None
    if status is None or stored.report_pdf is None:
        raise RuntimeError(f"the run did not succeed: {stored.status} {stored.reason}")
    return stored


def _measure() -> dict[str, float]:
    """Child process: one matched comparison from submission to PDF bytes."""
    from governance import create_app
    from governance.kernel.extensions import database

    app = create_app()
    db = database(app)
    with app.app_context(), db.session() as session:
        started = time.perf_counter()
        stored = matched_run(db, session)
        elapsed = time.perf_counter() - started
        pdf = stored.report_pdf
        rows = float(stored.provenance["sources"]["index_events"]["rows"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": elapsed, "peak_mb": peak, "index_events": rows, "pdf_bytes": float(len(pdf))}


def governance(env: dict[str, str], *command: str) -> None:
    """Run `governance <command>` in a fresh process with `env`; raise with its output's end
    when it fails."""
    done = subprocess.run(
        [sys.executable, "-c", "from governance.cli import main; main()", *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(
            f"governance {' '.join(command)} failed: {(done.stderr or done.stdout)[-2000:]}"
        )


def instance_env(instance: str) -> dict[str, str]:
    """This process's environment for a fresh instance folder: no other GOVERNANCE_ setting
    (a developer's database or keys) leaks into the benchmark (risk_door_bench.py too)."""
    env = {**os.environ, "GOVERNANCE_INSTANCE_PATH": instance}
    for name in list(env):
        if name.startswith("GOVERNANCE_") and name != "GOVERNANCE_INSTANCE_PATH":
            env.pop(name)
    return env


def run(quick: bool) -> dict[str, float]:
    people = 50_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="analysis-bench-") as instance:
        env = instance_env(instance)
        setup_started = time.perf_counter()
        governance(env, "init")
        governance(env, "demo", "--people", str(people))
        setup = time.perf_counter() - setup_started
        # Today's path (pandas) and DuckDB, each in a fresh process on the same stored data;
        # the second run repeats the first's populations, which the differencing check allows.
        figures, duckdb = (
            _measure_in_child({**env, "GOVERNANCE_ANALYSIS_ENGINE": engine})
            for engine in ("pandas", "duckdb")
        )
    # Quick runs (50,000 people) report under the same names, as a smoke test of the harness.
    return {
        "matched_1k_vs_1m_s": figures["seconds"],
        "matched_peak_mb": figures["peak_mb"],
        "matched_index_events": figures["index_events"],
        "matched_setup_s": setup,
        "matched_1k_vs_1m_duckdb_s": duckdb["seconds"],
        "matched_duckdb_peak_mb": duckdb["peak_mb"],
        "matched_duckdb_over_pandas": duckdb["seconds"] / figures["seconds"],
    }


def _measure_in_child(env: dict[str, str]) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, __file__, "--measure"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_measure()))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
