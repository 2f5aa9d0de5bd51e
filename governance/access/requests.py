"""Access requests and their review under the minimum-necessary rule.

"Designated data stewards are responsible for approving the data accessible to each staff
member under the minimum necessary rule." A requester asks for columns of a dataset for one of
the agreement's permitted uses; the dataset's steward approves all or only some of them,
denies, or returns the request. Direct identifiers also need a privacy officer (two people).
Nobody reviews their own request. Eligibility is checked at submission and again at approval.

Each requested column's classification is taken when the request is made and again at each
decision (the more protected of the two is kept) and recorded in the request, its audit events
and the grant: the two-person rule reads that record, so reclassifying the dataset's column
cannot take a pending request or an existing grant out of it (see datasets/reclassification.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from governance import authz
from governance.access import column_forms, data_door, grants
from governance.access.data_use import check_purpose, recheck_at_decision
from governance.access.eligibility import check_eligibility, grant_end
from governance.access.models import AccessRequest, AccessRequestColumn, RequestStatus
from governance.access.request_checks import (
    audit_fields,
    for_change,
    start_step,
)
from governance.access.workflow import LIFECYCLE, Action, check_transition
from governance.agreements.models import AgreementVersion, DerivedForms
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.models import Classification, Dataset, more_protected
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed

MAX_TEXT = 4000

#: Who opens a committee case for a request that an agreement, dataset or organisation has
#: named a committee for; returns the committee's id (None: the steward decides). The
#: registry installs the committees' router (committees sit above access).
CommitteeRouter = Callable[[Session, AccessRequest, dt.datetime], "int | None"]
_committee_routers: list[CommitteeRouter] = []


#: Computes a request's re-identification figures from the counted frame: (frame, quasi-
#: identifiers, sensitive columns, threshold) -> counts and shares. The registry installs the
#: analysis engine's (analysis sits above access).
RiskCalculator = Callable[[pd.DataFrame, Sequence[str], Sequence[str], int], dict[str, Any]]
_risk_calculators: list[RiskCalculator] = []


def compute_risk_with(calculator: RiskCalculator) -> RiskCalculator:
    """Install the calculator; installing it again has no effect."""
    if calculator not in _risk_calculators:
        _risk_calculators.clear()
        _risk_calculators.append(calculator)
    return calculator


def _assess_risk(
    session: Session,
    request: AccessRequest,
    version: AgreementVersion,
    *,
    by: Actor,
    now: dt.datetime,
    granted: bool = False,
) -> None:
    """Compute and keep the figures when the request names quasi-identifiers (nothing
    otherwise): the rows are counted through the one door and shown to nobody.

    `granted`: the figures of what the decision grants (the approved quasi-identifiers, each
    in its granted form), kept beside the requested ones under "granted"."""
    columns = [c for c in request.columns if c.approved] if granted else list(request.columns)
    quasi = [c.column_name for c in columns if c.classification == Classification.QUASI_IDENTIFIER]
    forms = {c: f for c, f in request.approved_forms.items() if c in quasi} if granted else {}
    kept = dict(request.risk_figures or {})
    kept.pop("granted", None)
    kept.pop("privacy_officer_because", None)
    request.risk_figures = (kept or None) if granted else None
    if not quasi or not _risk_calculators:
        return
    try:
        data_door.current_version(session, request.dataset_id)
    except NotFound:
        return  # no stored data yet: nothing to count (the page says the figures are absent)
    dataset = session.get(Dataset, request.dataset_id)
    assert dataset is not None  # eligibility refused an unknown dataset
    sensitive = [c.name for c in dataset.columns if c.classification == Classification.SENSITIVE]
    threshold = version.min_cell_size
    calculate = _risk_calculators[0]
    described = {c: str(f) for c, f in sorted(forms.items())}
    figures = data_door.assess_risk(
        session,
        asked_by=by,
        agreement_id=request.agreement_id,
        dataset_id=request.dataset_id,
        quasi_identifiers=quasi,
        sensitive=sensitive,
        assessor=lambda frame: calculate(
            column_forms.for_figures(frame, forms), quasi, sensitive, threshold
        ),
        now=now,
        context={
            "access_request_id": request.id,
            **({"granted": True, "forms": described} if granted else {}),
        },
    )
    requested = figures["requested"]
    if granted:
        request.risk_figures = {
            **kept,
            "granted": {**requested, "forms": described, "version": figures["version"]},
        }
    else:
        request.risk_figures = {**figures, "agreement_version": version.number}
    audit.record(
        session,
        AuditType.ACCESS_REQUEST_RISK_ASSESSED,
        by=data_door.RISK_ASSESSOR,
        **audit_fields(request),
        agreement_version=version.number,
        clause="publication.min_cell_size",
        detail={
            "asked_by": by.id,
            "quasi_identifiers": quasi,
            "sensitive": sensitive,
            "threshold": threshold,
            "dataset_version": figures["version"],
            "unique_share": requested["unique_share"],
            "k_anonymity": requested["k_anonymity"],
            **({"granted": True, "forms": described} if granted else {}),
        },
        now=now,
    )


def _above_unique_limit(request: AccessRequest, version: AgreementVersion) -> str:
    """Why a privacy officer must approve too because the combination singles out more
    records than the agreement allows ("" when it does not), naming the figure. The figure is
    that of what is granted (the approved quasi-identifiers in their granted form) once the
    decision has been counted, else that of the request."""
    limit = version.max_unique_share
    figures = request.risk_figures
    if limit is None or not figures:
        return ""
    granted = figures.get("granted")
    counted = granted or figures.get("requested")
    if not counted:
        return ""
    share = float(counted["unique_share"])
    if share <= limit:
        return ""
    forms = granted.get("forms") if granted else None
    what = (
        "the approved quasi-identifiers"
        + (
            " in their granted form (" + ", ".join(f"{c} {f}" for c, f in forms.items()) + ")"
            if forms
            else ""
        )
        if granted
        else "the requested quasi-identifiers"
    )
    return (
        f"{share:.1%} of the records are unique on {what}, above the "
        f"{limit:.1%} the agreement allows (privacy.max_unique_share): a privacy officer "
        "approves too."
    )


def privacy_officer_reasons(request: AccessRequest) -> list[str]:
    """Why a request waits for a privacy officer, in words for the requester and reviewers:
    the direct identifiers approved, and the figure above the agreement's threshold."""
    if request.status != RequestStatus.AWAITING_PRIVACY_OFFICER:
        return []
    reasons = []
    identifiers = [
        c.column_name
        for c in request.columns
        if c.approved and c.classification == Classification.DIRECT_IDENTIFIER
    ]
    if identifiers:
        reasons.append(
            f"It grants direct identifiers ({', '.join(identifiers)}): two people approve "
            "them, the steward and a privacy officer (privacy.laws)."
        )
    because = (request.risk_figures or {}).get("privacy_officer_because")
    if because:
        reasons.append(str(because))
    return reasons


def recompute_risk(
    session: Session, *, request_id: int, by: Actor, now: dt.datetime
) -> AccessRequest:
    """Count the figures again on the dataset's current version (after a new version, say),
    for the requested combination and, once decided, for what is granted; shows no row.
    Only a steward of the dataset asks; the request and its decision do not change."""
    request = start_step(session, "risk", request_id, by)
    version = _agreement_version(session, request)
    before = request.risk_figures or {}
    because = before.get("privacy_officer_because")
    _assess_risk(session, request, version, by=by, now=now)
    if request.columns and any(c.approved for c in request.columns):
        _assess_risk(session, request, version, by=by, now=now, granted=True)
    if because and request.risk_figures is not None:
        # The reason the decision was taken under stays as it was decided.
        request.risk_figures = {**request.risk_figures, "privacy_officer_because": because}
    after = request.risk_figures or {}
    audit.record(
        session,
        AuditType.ACCESS_REQUEST_RISK_RECOMPUTE,
        by=by,
        **audit_fields(request),
        agreement_version=version.number,
        clause="publication.min_cell_size",
        detail={
            "before": _headline(before),
            "after": _headline(after),
            "rows_shown": False,
        },
        now=now,
    )
    return request


def _headline(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures an audit record keeps of a recomputation: version, unique share, k."""
    out: dict[str, Any] = {}
    for key in ("requested", "granted"):
        counted = figures.get(key)
        if counted:
            out[key] = {
                "unique_share": counted["unique_share"],
                "k_anonymity": counted["k_anonymity"],
            }
    if "version" in figures:
        out["dataset_version"] = figures["version"]
    return out


def _agreement_version(session: Session, request: AccessRequest) -> AgreementVersion:
    """The agreement version in force (its minimum cell size is the figures' threshold)."""
    from governance.agreements.queries import in_force_version

    version = in_force_version(session, request.agreement_id)
    if version is None:
        raise InvalidTransition(
            "The request's agreement is not in force: its figures are not counted again."
        )
    return version


def route_to_committees(router: CommitteeRouter) -> CommitteeRouter:
    """Install a router; installing it again has no effect."""
    if router not in _committee_routers:
        _committee_routers.append(router)
    return router


def _route(session: Session, request: AccessRequest, now: dt.datetime) -> None:
    request.committee_id = None
    for router in _committee_routers:
        committee_id = router(session, request, now)
        if committee_id is not None:
            request.committee_id = committee_id
            return


def _clean_text(value: str, field: str, *, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise ValidationFailed(f"The {field} is required.", {field: "Required."})
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"The {field} is longer than {MAX_TEXT} characters.",
            {field: f"At most {MAX_TEXT} characters."},
        )
    return text


def _requested_columns(
    session: Session, dataset_id: int, names: Sequence[str]
) -> list[AccessRequestColumn]:
    """The columns with their classification now (eligibility checked they exist)."""
    dataset = session.get(Dataset, dataset_id)
    assert dataset is not None  # check_eligibility refused an unknown dataset
    return [
        AccessRequestColumn(
            column_name=name, position=i, classification=_current_class(dataset, name)
        )
        for i, name in enumerate(names)
    ]


def _current_class(dataset: Dataset, name: str) -> Classification:
    column = dataset.column(name)
    # A column no longer declared is treated as the most protected class.
    return (
        Classification.DIRECT_IDENTIFIER
        if column is None
        else Classification(column.classification)
    )


def _classify_at_decision(request: AccessRequest, dataset: Dataset) -> dict[str, str]:
    """Take the classification again at a decision, keeping the more protected of the
    request's record and the dataset's column; returns the record for the audit event."""
    for column in request.columns:
        column.classification = more_protected(
            Classification(column.classification), _current_class(dataset, column.column_name)
        )
    return {c.column_name: str(c.classification) for c in request.columns}


def submit_request(
    session: Session,
    *,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    justification: str,
    end_date: dt.date,
    download: bool,
    by: User,
    now: dt.datetime,
    data_use: Mapping[str, Any] | None = None,
) -> AccessRequest:
    """Ask for columns; `data_use` is the research purpose as DUO terms with the requester's
    statements (access/data_use.py), refused when it cannot match the dataset's conditions."""
    authz.require(
        by,
        Permission.ACCESS_REQUEST_CREATE,
        audit={
            "event_type": AuditType.ACCESS_REQUEST_SUBMIT,
            "target_type": "access_request",
            "agreement_id": agreement_id,
            "dataset_id": dataset_id,
        },
    )
    names = list(dict.fromkeys(c.strip() for c in columns if c.strip()))
    version = check_eligibility(
        session,
        user=by,
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        columns=names,
        purpose=purpose,
        end_date=end_date,
        download=download,
        now=now,
    )
    dataset = session.get(Dataset, dataset_id)
    assert dataset is not None  # eligibility refused an unknown dataset
    purpose_record = check_purpose(
        session,
        dataset=dataset,
        agreement_id=agreement_id,
        statement=data_use,
        end_date=end_date,
        user=by,
        now=now,
    )
    request = AccessRequest(
        requester_id=by.id,
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        purpose=purpose,
        justification=_clean_text(justification, "justification", required=True),
        end_date=end_date,
        download_requested=download,
        status=RequestStatus.SUBMITTED,
        submitted_at=now,
        data_use=purpose_record,
    )
    request.columns = _requested_columns(session, dataset_id, names)
    session.add(request)
    session.flush()
    _route(session, request, now)
    audit.record(
        session,
        AuditType.ACCESS_REQUEST_SUBMIT,
        by=by,
        **audit_fields(request),
        agreement_version=version.number,
        clause="scope.datasets",
        detail={
            "columns": names,
            "purpose": purpose,
            "classification": {c.column_name: str(c.classification) for c in request.columns},
            "end_date": end_date.isoformat(),
            "download": download,
            "committee_id": request.committee_id,
            **({"data_use": purpose_record} if purpose_record else {}),
        },
        now=now,
    )
    _assess_risk(session, request, version, by=by, now=now)
    return request


def resubmit_request(
    session: Session,
    *,
    request_id: int,
    columns: Sequence[str],
    purpose: str,
    justification: str,
    end_date: dt.date,
    download: bool,
    by: User,
    now: dt.datetime,
    data_use: Mapping[str, Any] | None = None,
) -> AccessRequest:
    request = start_step(session, "resubmit", request_id, by)
    names = list(dict.fromkeys(c.strip() for c in columns if c.strip()))
    version = check_eligibility(
        session,
        user=by,
        agreement_id=request.agreement_id,
        dataset_id=request.dataset_id,
        columns=names,
        purpose=purpose,
        end_date=end_date,
        download=download,
        now=now,
    )
    dataset = session.get(Dataset, request.dataset_id)
    assert dataset is not None  # a foreign key guarantees it
    request.data_use = check_purpose(
        session,
        dataset=dataset,
        agreement_id=request.agreement_id,
        statement=data_use,
        end_date=end_date,
        user=by,
        now=now,
    )
    request.columns = _requested_columns(session, request.dataset_id, names)
    request.purpose = purpose
    request.justification = _clean_text(justification, "justification", required=True)
    request.end_date = end_date
    request.download_requested = download
    request.submitted_at = now
    _route(session, request, now)
    LIFECYCLE.apply(
        session,
        request,
        Action.RESUBMIT,
        by=by,
        record={
            **audit_fields(request),
            "agreement_version": version.number,
            "now": now,
            "detail": {
                "columns": names,
                "purpose": purpose,
                "resubmitted": True,
                **({"data_use": request.data_use} if request.data_use else {}),
                "classification": {c.column_name: str(c.classification) for c in request.columns},
            },
        },
    )
    _assess_risk(session, request, version, by=by, now=now)
    return request


def withdraw_request(
    session: Session, *, request_id: int, by: User, now: dt.datetime
) -> AccessRequest:
    request = start_step(session, "withdraw", request_id, by)
    LIFECYCLE.apply(
        session, request, Action.WITHDRAW, by=by, record={**audit_fields(request), "now": now}
    )
    return request


def steward_approve(
    session: Session,
    *,
    request_id: int,
    columns: Sequence[str],
    comment: str,
    by: Actor,
    now: dt.datetime,
    forms: Mapping[str, str] | None = None,
) -> AccessRequest:
    """Approve all or some of the requested columns, each as stored or in the form `forms`
    names (coarsened, pseudonymised); direct identifiers, or figures above the agreement's
    threshold, wait for a privacy officer, everything else becomes a grant now."""
    request = start_step(session, "approve", request_id, by)
    dataset = session.get(Dataset, request.dataset_id)
    assert dataset is not None  # the steward rule held for it
    return _approve(
        session,
        request,
        dataset,
        set(columns),
        comment,
        by=by,
        now=now,
        action=Action.APPROVE,
        forms=forms,
    )


def _approve(
    session: Session,
    request: AccessRequest,
    dataset: Dataset,
    approved: set[str],
    comment: str,
    *,
    by: Actor,
    now: dt.datetime,
    action: Action,
    detail: dict[str, Any] | None = None,
    forms: Mapping[str, str] | None = None,
) -> AccessRequest:
    """The approval of a steward or a committee: the columns approved, each in its granted
    form, a grant now unless a direct identifier or the granted figures wait for a privacy
    officer."""
    unknown = approved - set(request.requested_columns)
    if unknown:
        raise ValidationFailed(
            "You can approve only columns that were requested.",
            {"columns": ", ".join(sorted(unknown))},
        )
    if not approved:
        raise ValidationFailed(
            "Approve at least one column, or deny the request.", {"columns": "Choose at least one."}
        )
    requester = session.get(User, request.requester_id)
    assert requester is not None  # a foreign key guarantees it
    version = check_eligibility(
        session,
        user=requester,
        agreement_id=request.agreement_id,
        dataset_id=request.dataset_id,
        columns=sorted(approved),
        purpose=request.purpose,
        end_date=request.end_date,
        download=request.download_requested,
        now=now,
    )
    recheck_at_decision(session, request, dataset)
    granted_forms = column_forms.parse_forms(forms, allowed=approved)
    _refuse_forms_not_allowed(request, version, granted_forms, now=now)
    for column in request.columns:
        column.approved = column.column_name in approved
        column.form = granted_forms.get(column.column_name) if column.approved else None
    request.steward_id = by.id
    request.steward_decided_at = now
    request.steward_comment = _clean_text(comment, "comment", required=False)
    classes = _classify_at_decision(request, dataset)
    identifiers = sorted(
        c.column_name
        for c in request.columns
        if c.column_name in approved and c.classification == Classification.DIRECT_IDENTIFIER
    )
    _assess_risk(session, request, version, by=by, now=now, granted=True)
    too_unique = _above_unique_limit(request, version)
    if too_unique and request.risk_figures is not None:
        request.risk_figures = {**request.risk_figures, "privacy_officer_because": too_unique}
    LIFECYCLE.apply(
        session,
        request,
        action,
        by=by,
        target=RequestStatus.AWAITING_PRIVACY_OFFICER
        if identifiers or too_unique
        else RequestStatus.APPROVED,
        record={
            **audit_fields(request),
            "agreement_version": version.number,
            "clause": "scope.datasets",
            "now": now,
            "detail": {
                "approved": sorted(approved),
                "left_out": sorted(set(request.requested_columns) - approved),
                "direct_identifiers": identifiers,
                "classification": {c: classes[c] for c in sorted(approved)},
                **(
                    {"forms": {c: str(f) for c, f in sorted(granted_forms.items())}}
                    if granted_forms
                    else {}
                ),
                **({"awaits_privacy_officer": too_unique} if too_unique else {}),
                **(detail or {}),
            },
        },
    )
    if not identifiers and not too_unique:
        _grant(session, request, version_number=version.number, by=by, now=now)
    return request


def _refuse_forms_not_allowed(
    request: AccessRequest,
    version: AgreementVersion,
    forms: Mapping[str, str],
    *,
    now: dt.datetime,
    event: AuditType = AuditType.ACCESS_REQUEST_APPROVE,
) -> None:
    """422 naming `access.derived_forms` when the agreement in force does not allow a column in
    the form the decision grants it in; nothing is written, the refusal is recorded."""
    column_forms.refuse_unless_allowed(
        forms,
        DerivedForms(version.derived_forms),
        field="forms",
        audit={
            "event_type": event,
            "now": now,
            **audit_fields(request),
            "agreement_version": version.number,
        },
    )


def privacy_approve(
    session: Session, *, request_id: int, comment: str, by: Actor, now: dt.datetime
) -> AccessRequest:
    """The second approval that direct identifiers need, by someone other than the steward."""
    request = start_step(session, "approve-identifiers", request_id, by)
    # The second approver answers for the identifiers in writing: why this project needs them.
    body = comment.strip()
    if not body:
        raise ValidationFailed(
            "Say why the direct identifiers are needed: a second approval of direct "
            "identifiers needs a comment; nothing was approved.",
            {"comment": "Required for a second approval of direct identifiers."},
        )
    requester = session.get(User, request.requester_id)
    assert requester is not None
    version = check_eligibility(
        session,
        user=requester,
        agreement_id=request.agreement_id,
        dataset_id=request.dataset_id,
        columns=request.approved_columns,
        purpose=request.purpose,
        end_date=request.end_date,
        download=request.download_requested,
        now=now,
    )
    # The steward chose the forms under the version then in force: an amendment since may
    # have narrowed what the agreement allows.
    _refuse_forms_not_allowed(
        request,
        version,
        request.approved_forms,
        now=now,
        event=AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS,
    )
    request.privacy_officer_id = by.id
    request.privacy_decided_at = now
    request.privacy_comment = _clean_text(comment, "comment", required=True)
    dataset = session.get(Dataset, request.dataset_id)
    assert dataset is not None
    classes = _classify_at_decision(request, dataset)
    LIFECYCLE.apply(
        session,
        request,
        Action.APPROVE_IDENTIFIERS,
        by=by,
        record={
            **audit_fields(request),
            "agreement_version": version.number,
            "clause": "privacy.laws",
            "now": now,
            "detail": {
                "columns": request.approved_columns,
                "classification": {c: classes[c] for c in request.approved_columns},
                # The figure this approval answers for, when the combination was too unique.
                **_answered_figure(request),
            },
        },
    )
    _grant(session, request, version_number=version.number, by=by, now=now)
    return request


def _answered_figure(request: AccessRequest) -> dict[str, Any]:
    """The figure a privacy officer's approval answers for: the granted combination's unique
    share once counted, else the requested one's."""
    figures = request.risk_figures or {}
    counted = figures.get("granted") or figures.get("requested")
    return {"unique_share": counted["unique_share"]} if counted else {}


def deny_request(
    session: Session, *, request_id: int, reason: str, by: Actor, now: dt.datetime
) -> AccessRequest:
    request = start_step(session, "deny", request_id, by)
    second_approval = request.status == RequestStatus.AWAITING_PRIVACY_OFFICER
    text = _clean_text(reason, "reason", required=True)
    if second_approval:
        request.privacy_officer_id = by.id
        request.privacy_decided_at = now
        request.privacy_comment = text
    else:
        request.steward_id = by.id
        request.steward_decided_at = now
        request.steward_comment = text
    LIFECYCLE.apply(
        session,
        request,
        Action.DENY,
        by=by,
        record={**audit_fields(request), "detail": {"reason": text}, "now": now},
    )
    return request


def return_request(
    session: Session, *, request_id: int, comment: str, by: Actor, now: dt.datetime
) -> AccessRequest:
    request = start_step(session, "return", request_id, by)
    request.steward_id = by.id
    request.steward_comment = _clean_text(comment, "comment", required=True)
    LIFECYCLE.apply(
        session,
        request,
        Action.RETURN,
        by=by,
        record={
            **audit_fields(request),
            "detail": {"comment": request.steward_comment},
            "now": now,
        },
    )
    return request


def committee_decide(
    session: Session,
    *,
    request_id: int,
    approve: bool,
    columns: Sequence[str] | None,
    end_date: dt.date | None,
    no_download: bool,
    comment: str,
    detail: dict[str, Any],
    by: Actor,
    now: dt.datetime,
    forms: Mapping[str, str] | None = None,
) -> AccessRequest:
    """Apply a committee's decision; its case has checked the rule and who voted.

    An approval takes the structured conditions of the members' approvals: the columns they
    allow (else all requested), an earlier end and no download. Direct identifiers still need
    a privacy officer's second approval: the committee decides whether the project should
    have the data, the privacy officer answers for the identifiers in writing (the two-person
    rule is unchanged whoever made the first decision)."""
    request = for_change(session, request_id)
    if not approve:
        check_transition(request, Action.COMMITTEE_REJECT)
        request.steward_id = by.id
        request.steward_decided_at = now
        request.steward_comment = _clean_text(comment, "reason", required=False)
        LIFECYCLE.apply(
            session,
            request,
            Action.COMMITTEE_REJECT,
            by=by,
            record={
                **audit_fields(request),
                "detail": {"reason": request.steward_comment, **detail},
                "now": now,
            },
        )
        return request
    check_transition(request, Action.COMMITTEE_APPROVE)
    dataset = session.get(Dataset, request.dataset_id)
    assert dataset is not None  # a foreign key guarantees it
    if end_date is not None and end_date < request.end_date:
        request.end_date = end_date
    if no_download:
        request.download_requested = False
    approved = set(request.requested_columns if columns is None else columns)
    return _approve(
        session,
        request,
        dataset,
        approved,
        comment,
        by=by,
        now=now,
        action=Action.COMMITTEE_APPROVE,
        detail=detail,
        forms={c: f for c, f in (forms or {}).items() if c in approved},
    )


def _grant(
    session: Session, request: AccessRequest, *, version_number: int, by: Actor, now: dt.datetime
) -> None:
    grant = grants.create_grant(
        session,
        user_id=request.requester_id,
        agreement_id=request.agreement_id,
        agreement_version=version_number,
        dataset_id=request.dataset_id,
        columns={
            c.column_name: Classification(c.classification) for c in request.columns if c.approved
        },
        purpose=request.purpose,
        valid_until=grant_end(session, request.agreement_id, request.end_date),
        allow_download=request.download_requested,
        by=by,
        now=now,
        request_id=request.id,
        forms=request.approved_forms,
    )
    request.grant_id = grant.id
