"""Executing a queued analysis run in a worker: claim, gate, load, run, report, record.

Each step is its own short transaction, so a long engine run never holds a database lock:
1. claim: `UPDATE ... SET status='running', attempts=attempts+1 WHERE id=? AND
   status='queued'`; only one worker wins, a duplicate message finds nothing to do;
2. the scope gate again (the agreement may have ended or a grant been revoked since the
   submission), then only the needed columns are loaded through the data door, which records
   each read; a refusal is recorded and the run marked refused;
3. the engine runs outside any transaction; progress and a heartbeat are written in small
   separate transactions (a run whose heartbeat stops is retried or failed by the reaper);
4. the PDF and CSV are rendered, then the result, provenance, the ledger's populations, the
   `analysis:complete` event and the hand-off to output checking are committed together.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import update
from sqlalchemy.orm import Session

from governance.access import data_door as data_access
from governance.agreements.models import AgreementVersion
from governance.analysis import differencing as analysis_ledger
from governance.analysis import linkage_review, placement
from governance.analysis import report as analysis_report
from governance.analysis.engine import (
    AnalysisError,
    AnalysisRefused,
    DisclosurePolicy,
    EligibilityRules,
    Population,
    RunContext,
    run_analysis,
)
from governance.analysis.engine.engines import PANDAS
from governance.analysis.engine.ledger import DifferencingRefused
from governance.analysis.models import AnalysisRun, ReleasedPopulation, RunStatus
from governance.analysis.provenance import (
    REFUSAL_CLAUSES,
    engine_version,
    json_ready,
    result_digest,
)
from governance.analysis.run_lifecycle import LIFECYCLE, Action
from governance.analysis.scope import (
    Scope,
    check_release,
    check_scope,
    refusal_clause,
    with_agreement_exclusions,
)
from governance.audit import service as audit
from governance.audit.models import Outcome
from governance.datasets.models import ColumnType, Dataset
from governance.identity.models import User
from governance.kernel.db import Database
from governance.kernel.errors import DomainError
from governance.kernel.types import utcnow
from governance.outputs import service as outputs
from governance.outputs.content import released_from_analysis

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
# Called with (run id, fraction, message) after each progress report is written. Production
# installs none; a test's worker installs one to hold a run in flight while it kills the
# worker (tests/analysis/paused_worker.py).
ProgressHook = Callable[[int, float, str], None]
progress_hooks: list[ProgressHook] = []
CLAUSE_DIFFERENCING = REFUSAL_CLAUSES["differencing"]


def heartbeat_timeout(database: Database) -> int:
    return int(database.info["settings"]["ANALYSIS_HEARTBEAT_TIMEOUT"])


def execute_run(
    database: Database, run_id: int, *, worker_id: str, clock: Clock = utcnow
) -> RunStatus | None:
    """Run a queued run to its end; None when another worker has it or it is not queued."""
    if not _claim(database, run_id, worker_id, clock()):
        return None
    beat = Heartbeat(database, run_id, worker_id, max(1.0, heartbeat_timeout(database) / 4), clock)
    beat.start()
    try:
        return _execute_claimed(database, run_id, worker_id, clock, beat)
    except Exception as error:
        log.exception("analysis run %s failed unexpectedly", run_id)
        # A refusal past the gate (the output's own checks) says why; anything else is ours.
        reason = (
            f"{error.message} Nothing was released."
            if isinstance(error, DomainError)
            else f"The run stopped on an internal error ({type(error).__name__}); "
            "nothing was released."
        )
        _finish_failed(database, run_id, worker_id, clock(), reason)
        return RunStatus.FAILED
    finally:
        beat.stop()


def _claim(database: Database, run_id: int, worker_id: str, now: dt.datetime) -> bool:
    with database.session() as session:
        claimed = session.execute(
            LIFECYCLE.update(
                Action.CLAIM,
                AnalysisRun.id == run_id,
                worker_id=worker_id,
                started_at=now,
                heartbeat_at=now,
                attempts=AnalysisRun.attempts + 1,
                progress=0.0,
                progress_message="checking the scope and loading the granted columns",
                reason="",
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return False
        run = _get(session, run_id)
        LIFECYCLE.record(
            session,
            Action.CLAIM,
            by=_requester(session, run),
            source=RunStatus.QUEUED,
            record={
                **_run_fields(run),
                "now": now,
                "detail": {"worker": worker_id, "attempt": run.attempts},
            },
        )
        session.commit()
        return True


def _get(session: Session, run_id: int) -> AnalysisRun:
    run = session.get(AnalysisRun, run_id)
    if run is None:
        raise LookupError(f"analysis run {run_id} vanished")
    return run


def _requester(session: Session, run: AnalysisRun) -> User:
    user = session.get(User, run.requested_by_id)
    if user is None:
        raise LookupError(f"the requester of analysis run {run.id} vanished")
    return user


class Heartbeat:
    """Writes `heartbeat_at` (and progress, when the engine reports it) in small separate
    transactions while the run is in flight."""

    def __init__(
        self, database: Database, run_id: int, worker_id: str, interval: float, clock: Clock
    ) -> None:
        self.database, self.run_id, self.worker_id = database, run_id, worker_id
        self.interval, self.clock = interval, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"heartbeat-{run_id}")
        self._last_progress = (-1.0, "")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.write()
            except Exception:
                log.exception("heartbeat of analysis run %s failed", self.run_id)

    def write(self, **values: Any) -> None:
        with self.database.session() as session:
            session.execute(
                update(AnalysisRun)
                .where(
                    AnalysisRun.id == self.run_id,
                    AnalysisRun.status == RunStatus.RUNNING,
                    AnalysisRun.worker_id == self.worker_id,
                )
                .values(heartbeat_at=self.clock(), **values)
                .execution_options(synchronize_session=False)
            )
            session.commit()

    def progress(self, fraction: float, message: str) -> None:
        fraction = round(min(max(fraction, 0.0), 1.0), 3)
        last_fraction, last_message = self._last_progress
        if message == last_message and fraction - last_fraction < 0.05:
            return
        self._last_progress = (fraction, message)
        self.write(progress=fraction, progress_message=message[:500])
        for hook in progress_hooks:
            hook(self.run_id, fraction, message)


def _execute_claimed(
    database: Database, run_id: int, worker_id: str, clock: Clock, beat: Heartbeat
) -> RunStatus | None:
    with database.session() as session:
        run = _get(session, run_id)
        user = _requester(session, run)
        now = clock()
        settings = database.info["settings"]
        # Chosen before anything is read, so the read events (and a refusal) name it.
        engine = placement.engine_for(settings, placement.rows_to_read(session, run.datasets))
        try:
            scope = check_scope(
                session,
                agreement_id=run.agreement_id,
                kind=run.kind,
                parameters=run.parameters,
                datasets=run.datasets,
                cohort_id=run.cohort_file_id,
                by=user,
                now=now,
                stage="execute",
                run_id=run.id,
            )
            tables, sources = _load(session, scope, run, user, now, engine)
        except DomainError as error:
            session.rollback()
            return _refuse_at_gate(session, run, user, worker_id, clock(), error, engine)
        version = scope.version
        key = analysis_ledger.ledger_key(session)
        try:
            ledger = analysis_ledger.DatasetLedger.open(
                session,
                database.session,
                analysis_ledger.person_dataset(run.kind, scope.datasets),
                key,
            )
        except analysis_ledger.LedgerKeyChanged as changed:
            return _refuse_key_changed(session, run, user, worker_id, clock(), changed)
        session.commit()
        parameters = effective_parameters(
            run.kind, run.parameters, version, scope.dataset_rows.get("records")
        )
        identifiers, free_text = scope.protected_columns()
        context = RunContext(
            policy=policy_of(version),
            direct_identifiers=identifiers,
            free_text_columns=free_text,
            released=ledger,
            ledger_key=key,
            value_labels=scope.value_labels(),
            lowest_values=scope.lowest_values(),
            progress=lambda f, m: beat.progress(0.1 + 0.75 * f, m),
        )
        try:
            with placement.on_engine(engine, tables, settings) as data:
                result = run_analysis(run.kind, data, parameters, context)
        except AnalysisRefused as refused:
            return _refuse(session, run, user, worker_id, clock(), refused)
        except AnalysisError as error:
            message = getattr(error, "message", str(error))
            return _fail(session, run, user, worker_id, clock(), message)
        beat.progress(0.88, "rendering the report")
        released_result = json_ready(result.to_dict())
        provenance = {
            "engine_version": engine_version(),
            "engine": engine,
            "kind": run.kind,
            "agreement": {
                "id": run.agreement_id,
                "reference": scope.agreement.reference,
                "version": version.number,
                "title": version.title,
                "policy": policy_of(version).to_dict(),
            },
            "parameters": json_ready(parameters),
            "sources": sources,
            "result_sha256": result_digest(released_result),
        }
        seq, head = audit.chain_head(session)
        provenance["audit_chain_head"] = {"seq": seq, "sha256": head}
        session.rollback()
        report = analysis_report.render(
            run=run, result=released_result, provenance=provenance, requester=user.name
        )
        provenance["outputs"] = {"pdf_sha256": report.pdf_sha256, "csv_sha256": report.csv_sha256}
        return _complete(
            session,
            run_id,
            user,
            worker_id,
            clock(),
            released_result,
            provenance,
            report,
            result.populations,
            ledger,
            context.policy,
            result.linkage,
        )


def _refuse(
    session: Session,
    run: AnalysisRun,
    user: User,
    worker_id: str,
    now: dt.datetime,
    refused: AnalysisRefused,
) -> RunStatus | None:
    """An engine refusal: recorded with its clause; a differencing refusal keeps the earlier
    releases it conflicts with on the run, for the people allowed to see them (the reason the
    analyst reads never names them)."""
    clause = REFUSAL_CLAUSES.get(refused.reason, "publication.aggregate_only")
    conflicts = (
        analysis_ledger.conflict_records(session, refused.conflicts)
        if isinstance(refused, DifferencingRefused)
        else None
    )
    detail: dict[str, Any] = {
        "kind": run.kind,
        "stage": "engine",
        "reason": refused.reason,
        "message": refused.message,
    }
    if conflicts is not None:
        detail["conflicts"] = conflicts
    return _finish_refused(
        session, run, user, worker_id, now, refused.message, clause, detail, conflicts
    )


def _finish_refused(
    session: Session,
    run: AnalysisRun,
    user: User,
    worker_id: str,
    now: dt.datetime,
    message: str,
    clause: str | None,
    detail: dict[str, Any],
    conflicts: list[dict[str, Any]] | None = None,
) -> RunStatus | None:
    """End the run refused, with its `analysis:refuse` event citing the clause."""
    return _finish(
        session,
        run.id,
        worker_id,
        now,
        Action.REFUSE,
        message,
        clause,
        conflicts,
        by=user,
        record={
            **_run_fields(run),
            "outcome": Outcome.DENIED,
            "clause": clause,
            "now": now,
            "detail": detail,
        },
    )


def _refuse_at_gate(
    session: Session,
    run: AnalysisRun,
    user: User,
    worker_id: str,
    now: dt.datetime,
    error: DomainError,
    engine: str,
) -> RunStatus | None:
    """The scope gate's or the data door's refusal, recorded with the run's end. An error
    that carries its own event (the gate's refusals) is that event; any other (a dataset
    with no stored data left, a cohort file gone) is recorded as the run's refusal, so no
    run ends without an event saying why."""
    clause = refusal_clause(error)
    if error.audit:
        detail = error.audit.setdefault("detail", {})
        detail.setdefault("engine", engine)
        if audit.record_refusal(session, error.audit, by=user) is not None:
            return _finish(
                session, run.id, worker_id, now, Action.REFUSE_AT_GATE, error.message, clause
            )
    detail = {"kind": run.kind, "stage": "gate", "message": error.message, "engine": engine}
    return _finish_refused(session, run, user, worker_id, now, error.message, clause, detail)


def _refuse_key_changed(
    session: Session,
    run: AnalysisRun,
    user: User,
    worker_id: str,
    now: dt.datetime,
    changed: analysis_ledger.LedgerKeyChanged,
) -> RunStatus | None:
    """Loudly: a ledger key that changed would otherwise switch the differencing check off."""
    log.critical("analysis run %s refused: %s", run.id, changed.message)
    session.rollback()
    detail = {
        "kind": run.kind,
        "stage": "ledger",
        "reason": "ledger_key_changed",
        "message": changed.message,
    }
    return _finish_refused(
        session, run, user, worker_id, now, changed.message, CLAUSE_DIFFERENCING, detail
    )


def _load(
    session: Session, scope: Scope, run: AnalysisRun, user: User, now: dt.datetime, engine: str
) -> tuple[dict[str, pd.DataFrame | pa.Table], dict[str, Any]]:
    """Only the columns the kind declared, each through the door (which records the read,
    naming the engine the columns are handed to); for DuckDB and Spark as Arrow tables."""
    tables: dict[str, pd.DataFrame | pa.Table] = {}
    sources: dict[str, Any] = {}
    context = {"analysis_run": run.id, "engine": engine}
    for table, columns in scope.columns.items():
        if scope.cohort is not None and table == "cohort":
            cohort = data_access.load_cohort(
                session,
                by=user,
                agreement_id=run.agreement_id,
                cohort_id=scope.cohort.id,
                columns=columns,
                purpose=run.kind,
                now=now,
                context={**context, "table": table},
            )
            tables[table] = cohort.frame
            sources[table] = {
                "cohort_file_id": cohort.cohort_id,
                "sha256": cohort.sha256,
                "rows": cohort.row_count,
                "audit_seq": cohort.audit_seq,
                "columns": columns,
            }
            continue
        dataset = scope.dataset_rows[table]
        door: dict[str, Any] = {
            "by": user,
            "agreement_id": run.agreement_id,
            "dataset_id": dataset.id,
            "columns": columns,
            "purpose": run.kind,
            "now": now,
            "context": {**context, "table": table},
        }
        # DuckDB and Spark take Arrow: the door's table goes to them without a pandas copy.
        loaded = data_access.load_columns(session, **door, arrow=engine != PANDAS)
        tables[table] = _engine_input(loaded.data, dataset.columns)
        sources[table] = {
            "dataset_id": dataset.id,
            "dataset": dataset.name,
            "version": loaded.version,
            "sha256": loaded.sha256,
            "rows": loaded.rows,
            "audit_seq": loaded.audit_seq,
            "rule": loaded.decision.rule,
            "columns": columns,
        }
    return tables, sources


def _engine_input(data: pd.DataFrame | pa.Table, declared: Any) -> pd.DataFrame | pa.Table:
    """What the engine is handed: a frame as `_engine_types` makes it, or the door's Arrow
    table as read (`to_arrow` then makes dates and categories alike for both). Integers with
    a gap stay integers either way (pandas' nullable Int64, Arrow's int64 with nulls): a
    table grouped by such a column is labelled "7", not "7.0"."""
    if isinstance(data, pd.DataFrame):
        return _engine_types(data, declared)
    return data


def _engine_types(frame: pd.DataFrame, declared: Any) -> pd.DataFrame:
    """Dates as datetime64 and categories as plain labels, as the engine expects them."""
    types = {column.name: column.type for column in declared}
    for name in frame.columns:
        if types.get(name) == ColumnType.DATE:
            frame[name] = pd.to_datetime(frame[name])
        elif isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(object)
    return frame


def policy_of(version: AgreementVersion) -> DisclosurePolicy:
    """The engine's thresholds, every one the agreement sets taken from the version in force:
    the engine's own defaults stand only for rules no agreement term covers."""
    return DisclosurePolicy(
        min_cell_size=version.min_cell_size,
        dominance_k=float(version.dominance_threshold),
        rounding_base=version.rounding_base,
        protection_width=version.protection_width,
    )


def effective_parameters(
    kind: str, parameters: dict[str, Any], version: AgreementVersion, records: Dataset | None = None
) -> dict[str, Any]:
    """The analyst's parameters with the agreement's terms applied: its minimum cohort size
    (never the analyst's, see `scope._check_cohort_size`); the stricter of the two for the
    minimum age, excluded offence categories (for every kind), and the balance threshold (the
    agreement's when the analyst did not ask for a stricter one)."""
    if kind != "matched_comparison":
        return with_agreement_exclusions(kind, parameters, version, records)
    asked = parameters.get("max_abs_smd")
    balance = version.max_abs_smd if asked is None else min(float(asked), version.max_abs_smd)
    eligibility = dict(parameters.get("eligibility") or {})
    defaults = EligibilityRules()
    eligibility["min_cohort_size"] = version.min_cohort_size
    if version.min_age is not None:
        eligibility["min_age"] = max(
            int(eligibility.get("min_age", defaults.min_age)), version.min_age
        )
    excluded = eligibility.get("excluded_offence_categories", defaults.excluded_offence_categories)
    eligibility["excluded_offence_categories"] = sorted(
        set(excluded) | set(version.excluded_offence_categories)
    )
    linkage = dict(parameters.get("linkage") or {})
    if linkage.get("method") == "probabilistic":
        # The agreement's floor when the analyst asked for nothing stricter.
        asked = linkage.get("accept_probability")
        floor = version.min_link_probability
        linkage["accept_probability"] = floor if asked is None else max(float(asked), floor)
        linkage.setdefault("review_probability", min(0.5, floor))
    return {
        **parameters,
        "eligibility": eligibility,
        "max_abs_smd": balance,
        **({"linkage": linkage} if linkage else {}),
    }


def _run_fields(run: AnalysisRun) -> dict[str, Any]:
    return {
        "agreement_id": run.agreement_id,
        "agreement_version": run.agreement_version,
        "target_type": "analysis_run",
        "target_id": run.id,
    }


def _finish(
    session: Session,
    run_id: int,
    worker_id: str,
    now: dt.datetime,
    action: Action,
    reason: str,
    clause: str | None,
    conflicts: list[dict[str, Any]] | None = None,
    *,
    by: User | None = None,
    record: dict[str, Any] | None = None,
) -> RunStatus | None:
    """End the run, with the transition's event, unless the reaper took it from this worker
    meanwhile."""
    changed = session.execute(
        LIFECYCLE.update(
            action,
            AnalysisRun.id == run_id,
            AnalysisRun.worker_id == worker_id,
            reason=reason,
            clause=clause,
            finished_at=now,
            heartbeat_at=now,
            conflicts=conflicts,
        )
    )
    taken = changed.rowcount == 1  # type: ignore[attr-defined]
    if taken and by is not None:
        LIFECYCLE.record(session, action, by=by, source=RunStatus.RUNNING, record=record)
    session.commit()
    return LIFECYCLE.steps(RunStatus.RUNNING, action)[0].target if taken else None


def _fail(
    session: Session, run: AnalysisRun, user: User, worker_id: str, now: dt.datetime, reason: str
) -> RunStatus | None:
    session.rollback()
    return _finish(
        session,
        run.id,
        worker_id,
        now,
        Action.FAIL,
        reason,
        None,
        by=user,
        record={
            **_run_fields(run),
            "outcome": Outcome.FAILURE,
            "now": now,
            "detail": {"kind": run.kind, "reason": reason},
        },
    )


def _finish_failed(
    database: Database, run_id: int, worker_id: str, now: dt.datetime, reason: str
) -> None:
    with database.session() as session:
        run = _get(session, run_id)
        _fail(session, run, _requester(session, run), worker_id, now, reason)


def _complete(
    session: Session,
    run_id: int,
    user: User,
    worker_id: str,
    now: dt.datetime,
    result: dict[str, Any],
    provenance: dict[str, Any],
    report: analysis_report.RenderedRun,
    populations: list[Population],
    ledger: analysis_ledger.DatasetLedger,
    policy: DisclosurePolicy,
    linkage: dict[str, Any] | None = None,
) -> RunStatus | None:
    # One writer at a time from here: a run over the same people that finished while this one
    # was in the engine is in the ledger now, and this run is checked against it before its
    # own populations are recorded.
    audit.take_writer_lock(session)
    run = _get(session, run_id)
    session.refresh(run)
    if run.status != RunStatus.RUNNING or run.worker_id != worker_id:
        session.rollback()
        log.warning(
            "analysis run %s was taken from worker %s; its result is dropped", run_id, worker_id
        )
        return None
    try:
        # The figures go on only while the run's reads would still be allowed now.
        session.refresh(user)
        check_release(
            session,
            agreement_id=run.agreement_id,
            kind=run.kind,
            columns={table: source["columns"] for table, source in provenance["sources"].items()},
            datasets=run.datasets,
            cohort_id=run.cohort_file_id,
            by=user,
            now=now,
            run_id=run.id,
        )
    except DomainError as error:
        session.rollback()
        return _refuse_at_gate(session, run, user, worker_id, now, error, provenance["engine"])
    try:
        newer = ledger.newer_conflicts(session, populations, policy, result.get("tables", []))
    except analysis_ledger.LedgerKeyChanged as changed:
        return _refuse_key_changed(session, run, user, worker_id, now, changed)
    if newer:
        population, conflicts = newer[0]
        return _refuse(
            session,
            run,
            user,
            worker_id,
            now,
            DifferencingRefused(population, conflicts, policy.min_cell_size),
        )
    run.result = result
    run.provenance = provenance
    run.report_pdf, run.report_sha256 = report.pdf, report.pdf_sha256
    run.report_csv, run.csv_sha256 = report.csv, report.csv_sha256
    run.progress, run.progress_message = 1.0, "done"
    run.finished_at = run.heartbeat_at = now
    ledger_rows = analysis_ledger.record_populations(
        session,
        run=run,
        dataset_id=ledger.dataset_id,
        key=ledger.key,
        populations=populations,
        tables=result.get("tables", []),
    )
    LIFECYCLE.apply(
        session,
        run,
        Action.COMPLETE,
        by=user,
        record={
            **_run_fields(run),
            "clause": "scope.permitted_uses",
            "now": now,
            "detail": {
                "kind": run.kind,
                "engine_version": provenance["engine_version"],
                "engine": provenance["engine"],
                "columns": {
                    table: source.get("columns", [])
                    for table, source in provenance["sources"].items()
                },
                "parameters": provenance["parameters"],
                "sources": provenance["sources"],
                "result_sha256": provenance["result_sha256"],
                "outputs": provenance["outputs"],
                "withheld": sorted(result.get("withheld", {})),
                "populations": [
                    {"label": p.label, "size": p.size, "digest": p.digest} for p in ledger_rows
                ],
            },
        },
    )
    if linkage is not None:
        linkage_review.keep(session, run=run, linkage=linkage)
    _hand_off(
        session,
        run=run,
        version=provenance["agreement"]["version"],
        result=result,
        report=report,
        ledger=ledger_rows,
        by=user,
        now=now,
    )
    session.commit()
    return RunStatus.SUCCEEDED


def _hand_off(
    session: Session,
    *,
    run: AnalysisRun,
    version: int,
    result: dict[str, Any],
    report: analysis_report.RenderedRun,
    ledger: list[ReleasedPopulation],
    by: User,
    now: dt.datetime,
) -> Any:
    """Give the finished run to output checking, in the same transaction as
    `analysis:complete`: the released figures become an output in state "produced", and
    the checkers see the per-cell disclosure record beside them. The output belongs to the
    `version` the run was executed under (whose thresholds the engine applied), which is not
    the one it was submitted under when an amendment took effect while it waited."""
    released, disclosure = released_from_analysis(result)
    # The output's CSV is made from its released cells by produce_output (what partners and
    # the public receive); the run keeps its fuller CSV (statistics, balance) for the team.
    output = outputs.produce_output(
        session,
        run_id=run.id,
        agreement_id=run.agreement_id,
        agreement_version=version,
        title=run.title,
        kind=run.kind,
        summary=str(result.get("summary", "")),
        result=released,
        disclosure=disclosure,
        pdf=report.pdf,
        populations=[
            {"ledger_id": row.id, "label": row.label, "size": row.size, "digest": row.digest}
            for row in ledger
        ],
        by=by,
        now=now,
    )
    for row in ledger:
        row.output_id = output.id
    return output
