"""The one function that decides every access to dataset rows.

Each requested column is decided by Casbin's matcher from policies/model.conf, evaluated over
the grant lines that can match it (see grant_index.py), so a decision costs the same with a
thousand grants or a hundred thousand. The answer names the rule that allowed the access (the
grant), the agreement version it was made under, and the agreement clause that allowed or
refused it; the caller records all of it in the audit event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from governance.authz import current_policy
from governance.authz import identifiers as ids
from governance.authz.actions import DataAction
from governance.authz.enforcer import data_enforcer
from governance.authz.grant_index import GrantEntry, GrantIndex

CLAUSE_ALLOWED = "scope.datasets"
CLAUSE_COLUMNS = "access.columns"
CLAUSE_PURPOSE = "scope.permitted_uses"
CLAUSE_EXPIRY = "access.valid_until"
CLAUSE_DOWNLOAD = "access.row_level_download"
CLAUSE_NO_GRANT = "access.grant"
CLAUSE_RISK = "privacy.minimum_necessary"
RISK_ASSESSMENT_PURPOSE = "risk assessment"


@dataclass(frozen=True)
class DataRequest:
    user_id: int
    agreement_id: int
    dataset_id: int
    columns: tuple[str, ...]
    action: DataAction
    purpose: str
    now: dt.datetime


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    clause: str
    rules: tuple[str, ...] = ()
    agreement_version: int | None = None
    denied_columns: tuple[str, ...] = ()
    granted: dict[str, str] = field(default_factory=dict)  # column -> rule that allowed it
    # A refusal by a rule other than the grants' own lines (`grant-seal`, `training-seal`),
    # with the grants it is about.
    refused_by: str | None = None
    refusing_grants: tuple[int, ...] = ()

    @property
    def rule(self) -> str | None:
        if self.refused_by:
            return self.refused_by
        return ",".join(self.rules) if self.rules else None


def grant_index(session: Session) -> GrantIndex:
    index = session.info.get("grant_index")
    if not isinstance(index, GrantIndex):
        raise RuntimeError(
            "This session has no grant index: open it from governance.kernel.db."
            "Database so that decisions see every process's grants."
        )
    return index


def decide(session: Session, request: DataRequest) -> Decision:
    """Decide a request for some columns of a dataset under an agreement, for a purpose,
    after bringing this process's grant index up to the database's policy epoch."""
    index = grant_index(session)
    index.ensure_fresh(session)
    return evaluate(index, request)


def evaluate(index: GrantIndex, request: DataRequest) -> Decision:
    """Casbin's answer for each requested column over the index's candidate lines."""
    if not request.columns:
        # A view that names no column asks for every column granted for the purpose: none
        # at all is most often no current grant, which the refusal says.
        scope_grants = index.grants_for(request.user_id, request.agreement_id, request.dataset_id)
        return _explain_refusal(request, (), scope_grants, {})
    enforcer = data_enforcer(current_policy())
    sub, dom = ids.subject(request.user_id), ids.domain(request.agreement_id)
    act = DataAction(request.action).value
    purpose, now = ids.purpose_token(request.purpose), ids.time_token(request.now)
    granted: dict[str, str] = {}
    denied: list[str] = []
    for column in dict.fromkeys(request.columns):
        obj = ids.column_object(request.dataset_id, column)
        allowed, line = enforcer.enforce_lines(
            index.lines((sub, dom, obj, act)), sub, dom, obj, act, purpose, now
        )
        if allowed:
            granted[column] = line[6]
        else:
            denied.append(column)
    if denied:
        scope_grants = index.grants_for(request.user_id, request.agreement_id, request.dataset_id)
        return _explain_refusal(request, denied, scope_grants, granted)
    # The allowing grants are found by their rules, not by scanning the person's grants on the
    # dataset: an allowed decision then costs the same however many grants the person holds.
    rules = tuple(dict.fromkeys(granted.values()))
    version = max(index.granted_by(rule).agreement_version for rule in rules)
    return Decision(
        True,
        "Every requested column is granted for this purpose.",
        CLAUSE_ALLOWED,
        rules=rules,
        agreement_version=version,
        granted=granted,
    )


def _explain_refusal(
    request: DataRequest, denied: Sequence[str], grants: list[GrantEntry], granted: dict[str, str]
) -> Decision:
    """Say which rule refused, without naming anything the person may not see: of the first
    denied column, or of the dataset when no column was asked for."""
    column = denied[0] if denied else None
    subject = f"column {column!r}" if column is not None else "this dataset"
    version = max((g.agreement_version for g in grants), default=None)

    def refuse(reason: str, clause: str, rule: str = "", about: Sequence[int] = ()) -> Decision:
        return Decision(
            False,
            reason,
            clause,
            rules=tuple(dict.fromkeys(granted.values())),
            agreement_version=version,
            denied_columns=tuple(denied),
            granted=granted,
            refused_by=rule or None,
            refusing_grants=tuple(about),
        )

    broken = [g for g in grants if not g.sealed and (column is None or column in g.columns)]
    if broken:
        numbers = ", ".join(str(g.id) for g in broken)
        return refuse(
            f"Your grant {numbers} of {subject} fails its integrity check: it was written or "
            "changed outside the service, so it allows nothing. The compliance team has the "
            "record; a data steward can grant the access again.",
            CLAUSE_NO_GRANT,
            broken[0].broken_rule,
            [g.id for g in broken],
        )
    grants = [g for g in grants if g.sealed]
    if not grants:
        return refuse(
            "You hold no current grant on this dataset under this agreement.", CLAUSE_NO_GRANT
        )
    holding = [g for g in grants if column is None or column in g.columns]
    if not holding:
        return refuse(f"Column {column!r} is not granted to you.", CLAUSE_COLUMNS)
    current = [g for g in holding if g.ends_at > request.now]
    if not current:
        # The grant that ended last says why: its own end, or a condition it depends on.
        ended = max(holding, key=lambda g: (g.ends_at, g.id))
        if ended.until_clause == CLAUSE_EXPIRY or not ended.until_reason:
            return refuse(f"Your grant of {subject} has expired.", ended.until_clause)
        about = (ended.id,) if ended.until_rule else ()
        return refuse(ended.until_reason, ended.until_clause, ended.until_rule, about)
    for_purpose = [g for g in current if g.purpose == request.purpose]
    if not for_purpose:
        purposes = ", ".join(sorted({g.purpose for g in current}))
        return refuse(
            f"{subject[:1].upper()}{subject[1:]} is granted to you for {purposes}, not for "
            f"{request.purpose}.",
            CLAUSE_PURPOSE,
        )
    if column is None:
        return refuse("No columns were requested.", CLAUSE_COLUMNS)
    if request.action == DataAction.DOWNLOAD:
        return refuse("Downloading row-level data is not allowed by your grant.", CLAUSE_DOWNLOAD)
    return refuse(f"Column {column!r} is not granted for this action.", CLAUSE_COLUMNS)


def decide_risk_assessment(columns: Sequence[str], *, assessable: set[str]) -> Decision:
    """The system purpose "risk assessment": the service itself counts classes of rows for a
    request's figures and shows no row to anyone, so it needs no grant; it may touch only the
    columns the dataset classifies as quasi-identifier or sensitive."""
    if not columns:
        return Decision(False, "No columns were named for the risk assessment.", CLAUSE_RISK)
    other = [c for c in columns if c not in assessable]
    if other:
        return Decision(
            False,
            f"Column {other[0]!r} is neither a quasi-identifier nor sensitive: a risk "
            "assessment does not read it.",
            CLAUSE_RISK,
            denied_columns=tuple(other),
        )
    return Decision(True, "A risk assessment counts classes and shows no row.", CLAUSE_RISK)
