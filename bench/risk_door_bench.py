"""Re-identification figures of a request through the one door, on 1 million stored records.

Setup (not timed): `governance init` in a fresh instance folder, then, in a child process, a
dataset of five columns (age, sex, area of 3,000 codes, date of birth over 20,000 days, and an
offence category as the sensitive column; risk_bench.records) stored encrypted through
ingestion. Timed: `data_door.assess_risk` as a request's review runs it: the decision for the
system purpose "risk assessment", the read of the five columns from the encrypted file
(straight from the datastore, no cache), the report with every alternative (each column
dropped, each coarsened) and the audit record. Median of 3 runs. Target: <= 30 s (issue 22).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analysis_bench import governance, instance_env  # noqa: E402 - after the path it needs


def _measure(size: int) -> dict[str, float]:
    """Child process: store the records, then time the door's assessment."""
    from governance import create_app
    from governance.access import data_door
    from governance.analysis import request_risk
    from governance.datasets.ingestion import ingest_frame
    from governance.datasets.models import (
        Classification,
        ColumnType,
        Dataset,
        DatasetColumn,
        SubjectArea,
    )
    from governance.identity.actors import System
    from governance.identity.models import User
    from governance.identity.organization_model import Organization, OrganizationKind
    from governance.kernel.extensions import database
    from governance.kernel.types import utcnow

    sys.path.insert(0, str(ROOT))
    from bench.risk_bench import records

    frame = records(size)
    quasi = ["age", "sex", "area", "date_of_birth"]
    kinds = {
        "age": ColumnType.INTEGER,
        "sex": ColumnType.CATEGORY,
        "area": ColumnType.STRING,
        "date_of_birth": ColumnType.DATE,
        "offence_category": ColumnType.CATEGORY,
    }
    app = create_app()
    db = database(app)
    setup = System("risk bench")
    with app.app_context(), db.session() as session:
        provider = Organization(name="Bench provider", kind=OrganizationKind.PROVIDER)
        session.add(provider)
        session.flush()
        dataset = Dataset(
            name="Bench register",
            provider_id=provider.id,
            subject_area=SubjectArea.CRIMINAL_JUSTICE,
            columns=[
                DatasetColumn(
                    position=i,
                    name=name,
                    type=kind,
                    classification=Classification.QUASI_IDENTIFIER
                    if name in quasi
                    else Classification.SENSITIVE,
                )
                for i, (name, kind) in enumerate(kinds.items())
            ],
        )
        session.add(dataset)
        session.commit()
        started = time.perf_counter()
        ingest_frame(
            session, dataset_id=dataset.id, frame=frame, source_filename="bench.csv", by=setup
        )
        session.commit()
        ingest = time.perf_counter() - started
        asker = User(email="bench@bench.example", name="Bench")  # never written: only its id
        times = []
        found: dict[str, object] = {}
        for _ in range(3):
            started = time.perf_counter()
            found = data_door.assess_risk(
                session,
                asked_by=asker,
                agreement_id=0,
                dataset_id=dataset.id,
                quasi_identifiers=quasi,
                sensitive=["offence_category"],
                assessor=lambda rows: request_risk.figures(rows, quasi, ["offence_category"], 10),
                now=utcnow(),
                context={"bench": True},
            )
            session.commit()
            times.append(time.perf_counter() - started)
    requested = found["requested"]
    assert isinstance(requested, dict)
    return {
        "seconds": statistics.median(times),
        "ingest_s": ingest,
        "records": float(requested["records"]),
        "unique_share": float(requested["unique_share"]),
    }


def run(quick: bool) -> dict[str, float]:
    size = 20_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="risk-door-bench-") as instance:
        env = instance_env(instance)
        governance(env, "init")
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(size)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
    figures = dict(json.loads(child.stdout.strip().splitlines()[-1]))
    print(
        f"   {int(figures['records']):,} records through the door: {figures['seconds']:.2f} s "
        f"(ingestion, not timed: {figures['ingest_s']:.1f} s); unique as requested "
        f"{figures['unique_share']:.1%}"
    )
    if quick:
        return {"reid_risk_door_20k_s": figures["seconds"]}
    return {"reid_risk_door_1m_s": round(figures["seconds"], 2)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_measure(int(sys.argv[2]))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
