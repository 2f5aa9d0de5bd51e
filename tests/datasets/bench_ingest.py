"""Ingestion throughput and memory for a large CSV (not collected by pytest).

    .venv/bin/python -m tests.datasets.bench_ingest [ROWS]

Builds a throwaway instance (SQLite, its own data key), writes a ROWS-row, 13-column CSV shaped
like an arrests extract (default 1,000,000 rows, about 170 MB), ingests it through the same
service the page and CLI use, then reads two columns back through the datastore. Prints the
wall time and the process's peak resident memory after each step.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(1)
    first = ["Ann", "Bob", "Chidi", "Dana", "Émile"]
    last = ["Smith", "O'Neil", "Nguyen", "García"]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "person_id,first_name,last_name,dob,sex,race,zip,arrest_date,offence,"
            "charge_count,bail,released,notes\n"
        )
        for i in range(rows):
            out.write(
                f"P{i:08d},{rng.choice(first)},{rng.choice(last)},"
                f"19{rng.randint(50, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
                f"{rng.choice('MF')},{rng.choice(['White', 'Black', 'Asian', 'Other'])},"
                f"{rng.randint(10000, 99999)},"
                f"20{rng.randint(10, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
                f"{rng.choice(['burglary', 'assault', 'theft', 'drug possession'])},"
                f"{rng.randint(1, 9)},{rng.random() * 10000:.2f},"
                f"{rng.choice(['true', 'false'])},{'x' * rng.randint(20, 150)}\n"
            )


SCHEMA = [
    ("person_id", "string", "direct_identifier"),
    ("first_name", "string", "direct_identifier"),
    ("last_name", "string", "direct_identifier"),
    ("dob", "date", "direct_identifier"),
    ("sex", "category", "quasi_identifier"),
    ("race", "category", "quasi_identifier"),
    ("zip", "string", "quasi_identifier"),
    ("arrest_date", "date", "general"),
    ("offence", "category", "sensitive"),
    ("charge_count", "integer", "general"),
    ("bail", "float", "general"),
    ("released", "boolean", "general"),
    ("notes", "string", "free_text"),
]


def main(rows: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    os.environ["GOVERNANCE_INSTANCE_PATH"] = str(work / "instance")
    from governance import create_app, schema
    from governance.datasets import datastore, ingestion
    from governance.datasets import service as datasets
    from governance.identity import users
    from governance.identity.actors import System
    from governance.identity.organization_model import OrganizationKind
    from governance.kernel import keys
    from governance.kernel.extensions import database

    actor = System("bench")
    for purpose in keys.KeyPurpose:  # as `governance init` does: the app needs its keys
        keys.create_key(purpose, work / "instance" / f"{purpose}.key")
    app = create_app({"MAX_UPLOAD_MB": 1024})
    schema.upgrade(database(app).engine)
    csv_path = work / "arrests.csv"
    started = time.perf_counter()
    write_csv(csv_path, rows)
    print(
        f"wrote {rows:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB in "
        f"{time.perf_counter() - started:.1f} s"
    )
    with app.app_context(), database(app).session() as session:
        provider = users.create_organization(
            session, name="Police", kind=OrganizationKind.PROVIDER, by=actor
        )
        columns = datasets.parse_columns(
            [{"name": n, "type": t, "classification": c} for n, t, c in SCHEMA]
        )
        dataset = datasets.create_dataset(
            session,
            name="Arrests",
            description="",
            provider_id=provider.id,
            columns=columns,
            by=actor,
        )
        session.commit()
        baseline = peak_mb()
        started = time.perf_counter()
        with csv_path.open("rb") as source:
            version = ingestion.ingest_upload(
                session, dataset_id=dataset.id, source=source, filename="arrests.csv", by=actor
            )
        session.commit()
        print(
            f"ingested {version.row_count:,} rows in {time.perf_counter() - started:.1f} s; "
            f"stored Parquet {version.byte_size / 1e6:.0f} MB; peak RSS {peak_mb():.0f} MB "
            f"(before ingest {baseline:.0f} MB)"
        )
        started = time.perf_counter()
        frame = datastore.read_columns(version, ["sex", "charge_count"])
        print(
            f"read 2 of 13 columns ({len(frame):,} rows) in "
            f"{time.perf_counter() - started:.1f} s; peak RSS {peak_mb():.0f} MB"
        )
    database(app).dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
