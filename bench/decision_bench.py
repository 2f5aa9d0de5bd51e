"""Access decision latency at 1,000 and 100,000 column grants, against plain pycasbin, and
audited decisions per second on SQLite (and on PostgreSQL, `audited_decisions_per_s_postgres`,
when `http_bench.postgres_url()` names a database).

The decision measured is `governance.authz.decision.decide`: the policy-epoch freshness check
in the deciding transaction, the candidate lookup and Casbin's matcher. The baseline is
pycasbin's ordinary `Enforcer` loaded with the same lines, asked the same requests.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import casbin
from casbin import persist
from sqlalchemy import insert

from bench import http_bench

USERS = 1000


def _app(tmp: Path, url: str | None = None) -> Any:
    """An app over SQLite in `tmp`, or over the PostgreSQL database at `url` (its public
    schema dropped first)."""
    os.environ["GOVERNANCE_INSTANCE_PATH"] = str(tmp / "instance")
    from governance import create_app, schema
    from governance.kernel import keys
    from governance.kernel.extensions import database

    for purpose in keys.KeyPurpose:  # as `governance init` does: the app needs its keys
        keys.create_key(purpose, tmp / "instance" / f"{purpose}.key")
    app = create_app({"DATABASE_URL": url or f"sqlite:///{tmp / 'bench.db'}"})
    if url:
        with database(app).engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    schema.upgrade(database(app).engine)
    return app


def _world(app: Any, grants: int) -> tuple[int, int, list[str]]:
    """An active agreement over one dataset, USERS people and `grants` column grants."""
    from governance.access.models import Grant, GrantColumn
    from governance.agreements import service as agreements
    from governance.agreements.terms import Signatory, TermsInput
    from governance.datasets.models import Classification, ColumnType, Dataset, DatasetColumn
    from governance.identity.actors import System
    from governance.identity.models import User
    from governance.identity.organization_model import Organization, OrganizationKind
    from governance.kernel.extensions import database

    columns = [f"col_{i:03d}" for i in range(max(1, grants // USERS))]
    now = dt.datetime.now(dt.UTC)
    system = System("bench")
    with database(app).session() as session:
        lab = Organization(name="Lab", kind=OrganizationKind.RESEARCH)
        police = Organization(name="Police", kind=OrganizationKind.PROVIDER)
        session.add_all([lab, police])
        session.flush()
        dataset = Dataset(
            name="Arrests",
            provider_id=police.id,
            columns=[
                DatasetColumn(
                    position=i,
                    name=name,
                    type=ColumnType.STRING,
                    classification=Classification.GENERAL,
                )
                for i, name in enumerate(columns)
            ],
        )
        session.add(dataset)
        session.flush()
        session.execute(
            insert(User),
            [
                {
                    # Ids named, so the accounts can be sealed (kernel/sealed_kinds.py).
                    "id": i + 1,
                    "email": f"u{i}@bench.example",
                    "name": f"U{i}",
                    "password_hash": "x",
                    "organization_id": lab.id,
                }
                for i in range(USERS)
            ],
        )
        agreement = agreements.create_agreement(
            session,
            provider_id=police.id,
            recipient_id=lab.id,
            by=system,
            now=now,
            terms=TermsInput(
                title="Bench",
                purpose="Benchmark",
                effective_date=now.date(),
                expiry_date=now.date() + dt.timedelta(days=365),
                permitted_uses=["descriptive"],
                columns={dataset.id: columns},
                signatories=[Signatory("provider", "A", "B"), Signatory("recipient", "C", "D")],
                laws=["cjis"],
                third_party_recipients=[],
                personnel={1: "principal_investigator"},
            ),
        )
        session.commit()
        agreements.submit(session, agreement_id=agreement.id, by=system, now=now)
        agreements.approve(session, agreement_id=agreement.id, by=System("bench-2"), now=now)
        session.commit()
        until = now + dt.timedelta(days=300)
        rows, cols = [], []
        for grant_id in range(1, grants + 1):
            user_id = (grant_id - 1) % USERS + 1
            rows.append(
                {
                    "id": grant_id,
                    "user_id": user_id,
                    "agreement_id": agreement.id,
                    "agreement_version": 1,
                    "dataset_id": dataset.id,
                    "purpose": "descriptive",
                    "valid_from": now,
                    "valid_until": until,
                    "allow_download": False,
                    "status": "active",
                    "changed_epoch": 1,
                }
            )
            cols.append(
                {
                    "grant_id": grant_id,
                    "column_name": columns[(grant_id - 1) // USERS % len(columns)],
                    "classification": "general",
                }
            )
        session.execute(insert(Grant), rows)
        session.execute(insert(GrantColumn), cols)
        session.execute(__import__("sqlalchemy").text("UPDATE policy_epoch SET epoch = 1"))
        session.commit()
        return agreement.id, dataset.id, columns


def _requests(
    agreement_id: int, dataset_id: int, columns: list[str], count: int, seed: int
) -> list[Any]:
    from governance.authz.actions import DataAction
    from governance.authz.decision import DataRequest

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    return [
        DataRequest(
            user_id=rng.randint(1, USERS),
            agreement_id=agreement_id,
            dataset_id=dataset_id,
            columns=(rng.choice(columns),),
            action=DataAction.READ,
            purpose="descriptive",
            now=now,
        )
        for _ in range(count)
    ]


def _ours(app: Any, requests: list[Any]) -> list[float]:
    from governance.authz.decision import decide
    from governance.kernel.extensions import database

    timings = []
    with database(app).session() as session:
        decide(session, requests[0])  # first call loads the index
        for request in requests:
            start = time.perf_counter()
            decide(session, request)
            timings.append(time.perf_counter() - start)
        session.rollback()
    return timings


def _casbin_baseline(app: Any, requests: list[Any]) -> list[float]:
    from governance.authz import identifiers as ids
    from governance.authz.decision import grant_index
    from governance.authz.enforcer import DEFAULT_POLICY_DIR
    from governance.kernel.extensions import database

    with database(app).session() as session:
        index = grant_index(session)
        index.ensure_fresh(session)
        lines = index.all_lines()
    enforcer = casbin.Enforcer(str(DEFAULT_POLICY_DIR / "model.conf"))
    model = enforcer.get_model()
    for line in lines:
        persist.load_policy_line("p, " + ", ".join(line), model)
    timings = []
    for request in requests:
        args = (
            ids.subject(request.user_id),
            ids.domain(request.agreement_id),
            ids.column_object(request.dataset_id, request.columns[0]),
            "read",
            request.purpose,
            ids.time_token(request.now),
        )
        start = time.perf_counter()
        enforcer.enforce(*args)
        timings.append(time.perf_counter() - start)
    return timings


#: Rounds of the audited-decision loop; the median round's rate is reported. One 6-second loop
#: moved by a third between two runs of the same code (other work on the machine, a checkpoint
#: landing in it); the median of five shorter rounds is steadier in about the same time.
AUDITED_ROUNDS = 5


def _audited_median(app: Any, requests: list[Any], seconds: float) -> float:
    """The median of `AUDITED_ROUNDS` rounds of `_audited_per_second`, each `seconds` long,
    after a short untimed round (the first sessions pay for the pool and the statements'
    first compilation)."""
    _audited_per_second(app, requests, 0.25)
    rates = [_audited_per_second(app, requests, seconds) for _ in range(AUDITED_ROUNDS)]
    return statistics.median(rates)


def _audited_per_second(app: Any, requests: list[Any], seconds: float) -> float:
    from governance.authz.decision import decide
    from governance.identity.actors import System
    from governance.kernel.extensions import database

    actor = System("bench")
    db = database(app)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        request = requests[done % len(requests)]
        with db.session() as session:
            record_decision(session, request, decide(session, request), actor)
            session.commit()
        done += 1
    return done / (time.perf_counter() - start)


def record_decision(session: Any, request: Any, decision: Any, actor: Any) -> None:
    """The audit event of one decision, as a served read records it."""
    record, read, allowed, denied = _audit_names()
    record(
        session,
        read,
        by=actor,
        outcome=allowed if decision.allowed else denied,
        agreement_id=request.agreement_id,
        dataset_id=request.dataset_id,
        rule=decision.rule,
        clause=decision.clause,
        agreement_version=decision.agreement_version,
        detail={"columns": list(request.columns), "purpose": request.purpose},
    )


@functools.cache
def _audit_names() -> tuple[Any, ...]:
    """Imported at the first decision, not at every one (and not before `_app` set the
    instance path)."""
    from governance.audit import service as audit
    from governance.audit.models import AuditType, Outcome

    return audit.record, AuditType.DATASET_READ, Outcome.ALLOWED, Outcome.DENIED


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run(quick: bool = False) -> dict[str, float]:
    sizes = (1000, 10_000) if quick else (1000, 100_000)
    count = 2000 if quick else 20_000
    results: dict[str, float] = {}
    medians: dict[int, float] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            app = _app(Path(tmp))
            agreement_id, dataset_id, columns = _world(app, size)
            requests = _requests(agreement_id, dataset_id, columns, count, seed=size)
            # Three repetitions; the median of the per-run medians is reported.
            runs = [_ours(app, requests) for _ in range(3)]
            p50 = statistics.median(statistics.median(r) for r in runs) * 1e6
            p99 = statistics.median(_percentile(r, 0.99) for r in runs) * 1e6
            medians[size] = p50
            label = "1k" if size == 1000 else ("10k" if size == 10_000 else "100k")
            results[f"decision_p50_us_{label}"] = round(p50, 2)
            results[f"decision_p99_us_{label}"] = round(p99, 2)
            if size == sizes[-1]:
                baseline = _casbin_baseline(app, requests[: (10 if quick else 30)])
                results[f"casbin_p50_us_{label}"] = round(statistics.median(baseline) * 1e6, 1)
                results[f"decision_speedup_vs_casbin_{label}"] = round(
                    statistics.median(baseline) * 1e6 / p50, 1
                )
            if size == 1000:
                results["audited_decisions_per_s_sqlite"] = round(
                    _audited_median(app, requests, 0.4 if quick else 1.5), 1
                )
            from governance.kernel.extensions import database

            database(app).dispose()
    postgres = http_bench.postgres_url()
    if postgres:
        with tempfile.TemporaryDirectory() as tmp:
            app = _app(Path(tmp), postgres)
            agreement_id, dataset_id, columns = _world(app, 1000)
            requests = _requests(agreement_id, dataset_id, columns, count, seed=1000)
            results["audited_decisions_per_s_postgres"] = round(
                _audited_median(app, requests, 0.4 if quick else 1.5), 1
            )
            from governance.kernel.extensions import database

            database(app).dispose()
    large = max(sizes)
    results[f"decision_growth_{'100k' if large == 100_000 else '10k'}_over_1k"] = round(
        medians[large] / medians[1000], 3
    )
    return results


if __name__ == "__main__":
    print(run(quick=True))
