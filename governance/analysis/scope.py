"""The scope gate: what must hold before an analysis reads any data.

Checked when an analyst submits a run and again when a worker starts it (an agreement that
expired, a grant revoked or a cohort file withdrawn in between stops the run):
1. the person may run analyses (`analysis:run`);
2. the agreement is active (its version in force governs the run);
3. the kind is one of the agreement's permitted uses (`scope.permitted_uses`);
4. the parameters are valid for the kind (422 naming the field), and do not loosen a term of
   the agreement (a balance threshold above `analysis.balance.max_abs_smd`, or a linkage
   acceptance probability below `analysis.linkage.min_match_probability`, is 422 naming it);
5. every column the kind will read, in each source table, is granted to this person for this
   purpose (the purpose is the kind), decided by Casbin over their grants like any other read;
6. a partner cohort file, if the kind reads one, belongs to the agreement's provider.
Every refusal raises with an `analysis:refuse` audit record naming the clause; the caller's
transaction is rolled back and the refusal alone is recorded and committed by the error handler
(web, CLI or worker). Nothing is read here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from governance import authz
from governance.access import agreement_seals
from governance.access.ended_grants import decide_explained
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.agreements.queries import in_force_version
from governance.analysis.engine import (
    AnalysisParameterError,
    UnknownParameters,
    columns_needed,
    list_kinds,
    validate_parameters,
)
from governance.audit.models import AuditType, Outcome
from governance.authz import Permission
from governance.authz.actions import DataAction
from governance.authz.decision import DataRequest, Decision, grant_index
from governance.datasets import seals as dataset_seals
from governance.datasets.cohort_model import CohortFile
from governance.datasets.lowest_values import declared
from governance.datasets.models import Classification, ColumnType, Dataset
from governance.identity.models import User
from governance.kernel.errors import DomainError, NotFound, PermissionDenied, ValidationFailed

COHORT_TABLE = "cohort"
CLAUSE_PROVIDER = "parties.provider"
CLAUSE_USES = "scope.permitted_uses"
CLAUSE_BALANCE = "analysis.balance.max_abs_smd"
CLAUSE_LINKAGE = "analysis.linkage.min_match_probability"
CLAUSE_COHORT = "publication.min_cohort_size"


@dataclass
class Scope:
    """What the gate allowed: the agreement version, the columns per table and their datasets."""

    agreement: Agreement
    version: AgreementVersion
    kind: str
    parameters: dict[str, Any]
    columns: dict[str, list[str]]
    datasets: dict[str, int]
    cohort: CohortFile | None
    decisions: dict[str, Decision] = field(default_factory=dict)
    dataset_rows: dict[str, Dataset] = field(default_factory=dict)
    # Columns the allowing grants gave as direct identifiers (kept after a reclassification).
    granted_identifiers: set[str] = field(default_factory=set)

    def protected_columns(self) -> tuple[frozenset[str], frozenset[str]]:
        """Direct-identifier and free-text column names of the datasets read (outputs may
        never be grouped by them)."""
        identifiers: set[str] = {"name", "date_of_birth", *self.granted_identifiers}
        free_text: set[str] = set()
        for dataset in self.dataset_rows.values():
            for column in dataset.columns:
                if column.classification == Classification.DIRECT_IDENTIFIER:
                    identifiers.add(column.name)
                elif column.classification == Classification.FREE_TEXT:
                    free_text.add(column.name)
        return frozenset(identifiers), frozenset(free_text)

    def value_labels(self) -> dict[str, dict[str, str]]:
        """Declared value labels of the columns read (column -> code -> label); where two
        datasets label one column name, the dataset read first wins."""
        labels: dict[str, dict[str, str]] = {}
        for dataset in self.dataset_rows.values():
            for column in dataset.columns:
                if column.value_labels and column.name not in labels:
                    labels[column.name] = dict(column.value_labels)
        return labels

    def lowest_values(self) -> dict[str, dict[str, float]]:
        """Per table read, the lowest values its dataset's stewards declared for its number
        columns (column -> value): under rounding a mean's sums are taken from them."""
        return {table: declared(dataset) for table, dataset in self.dataset_rows.items()}


class _Gate:
    def __init__(
        self,
        *,
        agreement_id: int,
        kind: str,
        by: User,
        now: dt.datetime,
        stage: str,
        run_id: int | None,
    ) -> None:
        self.base: dict[str, Any] = {
            "event_type": AuditType.ANALYSIS_REFUSE,
            "outcome": Outcome.DENIED,
            "now": now,
            "agreement_id": agreement_id,
            "target_type": "analysis_run",
            "target_id": run_id,
        }
        self.detail: dict[str, Any] = {"kind": kind, "stage": stage, "user_id": by.id}

    def audit(self, clause: str | None, reason: str, **extra: Any) -> dict[str, Any]:
        detail = {**self.detail, "reason": reason, **extra.pop("detail", {})}
        return {**self.base, "clause": clause, "detail": detail, **extra}

    def deny(self, reason: str, clause: str, **extra: Any) -> PermissionDenied:
        return PermissionDenied(reason, clause=clause, audit=self.audit(clause, reason, **extra))

    def invalid(
        self, reason: str, fields: Mapping[str, str], clause: str | None = None, **extra: Any
    ) -> ValidationFailed:
        return ValidationFailed(reason, fields, audit=self.audit(clause, reason, **extra))


# The clause a refusal under an agreement not in force cites: why it is not (the clauses the
# grants' endings cite, access/grant_hooks.py); not yet in force, its effective date.
ENDED_CLAUSES = {
    AgreementStatus.EXPIRED: "term.expiry_date",
    AgreementStatus.TERMINATED: "term.termination",
    AgreementStatus.CLOSED: "retention.destruction_days",
}


def not_active_clause(agreement: Agreement) -> str:
    return ENDED_CLAUSES.get(AgreementStatus(agreement.status), "term.effective_date")


def check_scope(
    session: Session,
    *,
    agreement_id: int,
    kind: str,
    parameters: Mapping[str, Any],
    datasets: Mapping[str, int],
    cohort_id: int | None,
    by: User,
    now: dt.datetime,
    stage: str = "submit",
    run_id: int | None = None,
) -> Scope:
    """The gate; returns what it allowed or raises a recorded refusal (see module doc)."""
    gate = _Gate(agreement_id=agreement_id, kind=kind, by=by, now=now, stage=stage, run_id=run_id)
    agreement, version = _in_force_for(session, gate, agreement_id, kind, by)
    params = with_agreement_exclusions(
        kind, parameters, version, _records_dataset(session, datasets)
    )
    try:
        validate_parameters(kind, params)
        needed = columns_needed(kind, params)
    except UnknownParameters as error:
        # Refused by name, never ignored: the run would otherwise not be what was asked for.
        raise gate.invalid(
            f"The parameters are not valid: {error.field} {error.message}.",
            {f"parameters.{name}": f"not a parameter of {kind} analyses" for name in error.names},
            detail={"unknown": error.names, "accepted": error.accepted},
        ) from None
    except AnalysisParameterError as error:
        raise gate.invalid(
            f"The parameters are not valid: {error.field} {error.message}.",
            {error.field: error.message},
        ) from None
    _check_balance_ceiling(gate, version, params)
    _check_linkage_floor(gate, version, params)
    _check_cohort_size(gate, version, params)
    scope = Scope(
        agreement=agreement,
        version=version,
        kind=kind,
        parameters=params,
        columns=needed,
        datasets={},
        cohort=None,
    )
    for table, columns in needed.items():
        if table == COHORT_TABLE:
            scope.cohort = _check_cohort(session, gate, agreement, cohort_id, by)
            continue
        _check_table(session, gate, scope, table, columns, datasets, by, now)
    return scope


def check_release(
    session: Session,
    *,
    agreement_id: int,
    kind: str,
    columns: Mapping[str, list[str]],
    datasets: Mapping[str, int],
    cohort_id: int | None,
    by: User,
    now: dt.datetime,
    run_id: int,
) -> None:
    """What must still hold when a run's figures are handed on (stage "complete"): the gate's
    checks of the person, the agreement and each read, at the completion's moment. A run that
    read its columns while its grant held computes its figures afterwards, possibly for hours;
    a grant revoked, an agreement ended, a lapsed condition (training), columns narrowed by an
    amendment or a deactivated account meanwhile refuses it here, recorded like the gate's
    refusals. The parameters are not checked again: the run keeps the terms it ran under."""
    gate = _Gate(
        agreement_id=agreement_id, kind=kind, by=by, now=now, stage="complete", run_id=run_id
    )
    agreement, _version = _in_force_for(session, gate, agreement_id, kind, by)
    for table, needed in columns.items():
        if table == COHORT_TABLE:
            _check_cohort(session, gate, agreement, cohort_id, by)
        else:
            _decide_table(
                session, gate, agreement_id, kind, table, datasets[table], needed, by, now
            )


def _in_force_for(
    session: Session, gate: _Gate, agreement_id: int, kind: str, by: User
) -> tuple[Agreement, AgreementVersion]:
    """Steps 1 to 3: the person may run analyses, the agreement is active, the kind is one
    of its permitted uses; the agreement and its version in force."""
    authz.require(by, Permission.ANALYSIS_RUN, audit=gate.audit(None, "no analysis:run"))
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(f"There is no agreement {agreement_id}.")
    version = in_force_version(session, agreement_id)
    if version is None:
        raise gate.deny(
            f"Agreement {agreement.reference} is {agreement.status}, not active: no "
            "analysis may run under it.",
            not_active_clause(agreement),
        )
    gate.base["agreement_version"] = version.number
    if not agreement_seals.holds(session, agreement_id):
        # Its thresholds (minimum cell size, rounding...) may not be the ones it was approved
        # with: no analysis runs under it, whatever its grants say.
        raise gate.deny(
            agreement_seals.refusal(agreement.reference),
            agreement_seals.AGREEMENT_SEAL_CLAUSE,
            rule=agreement_seals.AGREEMENT_SEAL_RULE,
        )
    if kind not in {k["name"] for k in list_kinds()}:
        raise gate.invalid(f"There is no analysis kind {kind!r}.", {"kind": "Unknown kind."})
    if kind not in version.permitted_uses:
        raise gate.deny(
            f"Agreement {agreement.reference} does not permit {kind} analyses "
            f"(permitted: {', '.join(version.permitted_uses) or 'none'}).",
            CLAUSE_USES,
        )
    return agreement, version


# The kinds that read one person-level `records` table; the matched comparison applies the
# agreement's exclusions through its own eligibility rules (analysis_runner).
RECORDS_KINDS = ("descriptive", "rate_comparison")
EXCLUSIONS = "excluded_offence_categories"


def _records_dataset(session: Session, datasets: Mapping[str, int]) -> Dataset | None:
    chosen = datasets.get("records")
    return session.get(Dataset, chosen) if isinstance(chosen, int) else None


def with_agreement_exclusions(
    kind: str, parameters: Mapping[str, Any], version: AgreementVersion, records: Dataset | None
) -> dict[str, Any]:
    """The agreement's excluded offence categories apply to every analysis kind, not only the
    matched comparison: added to the parameters of a kind that reads a records table with an
    offence_category column (which the run then reads, under the analyst's grant, to leave
    those records out). A table without the column holds no offences to exclude."""
    params = dict(parameters)
    if (
        kind not in RECORDS_KINDS
        or not version.excluded_offence_categories
        or records is None
        or "offence_category" not in records.column_names
    ):
        return params
    asked = params.get(EXCLUSIONS)
    params[EXCLUSIONS] = sorted(
        set(asked if isinstance(asked, list) else []) | set(version.excluded_offence_categories)
    )
    return params


def _check_balance_ceiling(
    gate: _Gate, version: AgreementVersion, params: Mapping[str, Any]
) -> None:
    """The agreement sets the most imbalance a matched comparison may release outcomes with;
    an analyst may only ask for less (the balance gate is what restrains the analyst)."""
    asked = params.get("max_abs_smd")
    if (
        isinstance(asked, (int, float))
        and not isinstance(asked, bool)
        and asked > version.max_abs_smd
    ):
        limit = f"{version.max_abs_smd:g}"
        raise gate.invalid(
            f"The balance threshold {asked:g} is above the agreement's {limit} "
            f"(clause {CLAUSE_BALANCE}): choose {limit} or less.",
            {"max_abs_smd": f"At most {limit} under this agreement ({CLAUSE_BALANCE})."},
            CLAUSE_BALANCE,
        )


def _check_cohort_size(gate: _Gate, version: AgreementVersion, params: Mapping[str, Any]) -> None:
    """The agreement alone sets the smallest cohort a matched comparison runs on. A threshold
    of the analyst's choosing would make its refusal a counter: runs refused or not at
    thresholds 150, 225, 190, ... give the exact number of eligible people, and with the
    treatment group's size a cohort flow count the tables suppress (refused runs enter no
    ledger)."""
    eligibility = params.get("eligibility")
    asked = eligibility.get("min_cohort_size") if isinstance(eligibility, Mapping) else None
    if asked is not None and asked != version.min_cohort_size:
        size = version.min_cohort_size
        raise gate.invalid(
            f"The minimum cohort size is the agreement's {size} (clause {CLAUSE_COHORT}); "
            "a run cannot choose another.",
            {"eligibility.min_cohort_size": f"{size} under this agreement ({CLAUSE_COHORT})."},
            CLAUSE_COHORT,
        )


def _check_linkage_floor(gate: _Gate, version: AgreementVersion, params: Mapping[str, Any]) -> None:
    """The agreement sets the lowest match probability at which probabilistic linkage may
    accept a pair unreviewed; an analyst may only ask for a stricter threshold."""
    linkage = params.get("linkage")
    asked = linkage.get("accept_probability") if isinstance(linkage, Mapping) else None
    floor = version.min_link_probability
    if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked < floor:
        raise gate.invalid(
            f"The linkage acceptance probability {asked:g} is below the agreement's {floor:g} "
            f"(clause {CLAUSE_LINKAGE}): choose {floor:g} or more, and let pairs below it go "
            "to clerical review.",
            {
                "linkage.accept_probability": f"At least {floor:g} under this agreement "
                f"({CLAUSE_LINKAGE})."
            },
            CLAUSE_LINKAGE,
        )


def _check_table(
    session: Session,
    gate: _Gate,
    scope: Scope,
    table: str,
    columns: list[str],
    datasets: Mapping[str, int],
    by: User,
    now: dt.datetime,
) -> None:
    dataset_id = datasets.get(table)
    if dataset_id is None:
        raise gate.invalid(
            f"Choose the dataset that holds the {table} table.",
            {f"datasets.{table}": "Choose a dataset."},
        )
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise gate.invalid(
            f"There is no dataset {dataset_id}.", {f"datasets.{table}": "Unknown dataset."}
        )
    if not dataset_seals.check(session, dataset_id):
        # Checked afresh for every run, not under the door's memo: the run takes its direct
        # identifiers, free-text columns and rounding origins from these rows.
        raise gate.deny(
            dataset_seals.refusal(dataset.name),
            dataset_seals.COLUMN_SEAL_CLAUSE,
            rule=dataset_seals.COLUMN_SEAL_RULE,
        )
    decision = _decide_table(
        session, gate, scope.agreement.id, scope.kind, table, dataset_id, columns, by, now
    )
    _check_mean_column(gate, scope, dataset)
    scope.datasets[table] = dataset_id
    scope.decisions[table] = decision
    index = grant_index(session)
    scope.granted_identifiers |= {
        name for rule in decision.rules for name in index.granted_by(rule).identifiers
    }
    scope.dataset_rows[table] = dataset


def _decide_table(
    session: Session,
    gate: _Gate,
    agreement_id: int,
    kind: str,
    table: str,
    dataset_id: int,
    columns: list[str],
    by: User,
    now: dt.datetime,
) -> Decision:
    """Step 5 for one table: its columns granted to this person for the kind, decided by
    Casbin like any other read; a refusal raises, recorded with the decision's clause."""
    decision = decide_explained(
        session,
        DataRequest(
            user_id=by.id,
            agreement_id=agreement_id,
            dataset_id=dataset_id,
            columns=tuple(columns),
            action=DataAction.READ,
            purpose=kind,
            now=now,
        ),
    )
    if not decision.allowed:
        raise gate.deny(
            decision.reason,
            decision.clause,
            dataset_id=dataset_id,
            rule=decision.rule,
            detail={
                "table": table,
                "columns": columns,
                "denied_columns": list(decision.denied_columns),
                "purpose": kind,
            },
        )
    return decision


# The declared types whose values are not numbers: a mean of them is refused by name here,
# not left to the engine, which would find no number to average and no rows to show.
NOT_NUMBERS = frozenset({ColumnType.STRING, ColumnType.CATEGORY, ColumnType.DATE})


def _check_mean_column(gate: _Gate, scope: Scope, dataset: Dataset) -> None:
    column = scope.parameters.get("mean_of")
    declared = next((c.type for c in dataset.columns if c.name == column), None)
    if declared in NOT_NUMBERS:
        raise gate.invalid(
            f"{column!r} is a {declared} column of {dataset.name}, not a number: "
            "choose a number column to average.",
            {"mean_of": f"{column!r} holds {declared} values, not numbers."},
        )


def _check_cohort(
    session: Session, gate: _Gate, agreement: Agreement, cohort_id: int | None, by: User
) -> CohortFile:
    if cohort_id is None:
        raise gate.invalid(
            "A matched comparison needs the partner's cohort file.",
            {"cohort": "Upload or choose a cohort file."},
        )
    cohort = session.get(CohortFile, cohort_id)
    if cohort is None or cohort.destroyed_at is not None:
        raise gate.invalid(
            f"There is no cohort file {cohort_id}.", {"cohort": "Unknown cohort file."}
        )
    if cohort.provider_id != agreement.provider_id or cohort.agreement_id != agreement.id:
        raise gate.deny(
            "The cohort file belongs to another provider than this agreement's "
            f"({agreement.provider.name}).",
            CLAUSE_PROVIDER,
            detail={"cohort_file_id": cohort.id, "cohort_provider_id": cohort.provider_id},
        )
    if cohort.uploaded_by_id != by.id:
        raise gate.deny(
            "Only the analyst who uploaded a cohort file may analyse it.",
            "personnel",
            detail={"cohort_file_id": cohort.id},
        )
    return cohort


def refusal_clause(error: DomainError) -> str | None:
    """The clause a refusal cites, for the run's record."""
    clause = getattr(error, "clause", None)
    if clause is None and error.audit:
        clause = error.audit.get("clause")
    return clause if isinstance(clause, str) else None
