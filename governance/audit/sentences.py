"""Each audit event as one sentence a compliance manager reads.

"Alex Kim read 50 rows of Index events v1: sex, region, under DUA-2026-001 (clause: Datasets
and columns covered)." The structured record stays beside it (the page shows it behind a
disclosure, exports keep it whole); the sentence is only how a person reads it.

Every event type has its verb in `VERBS` (a test fails when a type has none), and each family
of types (sign-ins, reads, requests and grants, agreements, analyses, outputs, incidents...)
has one renderer that says what was acted on. A refusal reads "Refused: <person> tried to
<verb> ...", with the rule that refused it. An event type this module does not know (a future
one, or a row written by another version) still reads as a sentence, never as a code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from governance.audit.directory import Names
from governance.audit.models import AuditType, Outcome
from governance.kernel.labels import label


class EventLike(Protocol):
    """The fields a sentence reads (an `AuditEvent`, or a row with the same names)."""

    @property
    def event_type(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def actor_email(self) -> str | None: ...
    @property
    def agreement_id(self) -> int | None: ...
    @property
    def agreement_version(self) -> int | None: ...
    @property
    def dataset_id(self) -> int | None: ...
    @property
    def target_type(self) -> str | None: ...
    @property
    def target_id(self) -> str | None: ...
    @property
    def rule(self) -> str | None: ...
    @property
    def clause(self) -> str | None: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


# What the person did (past tense) and what a refusal says they tried to do.
VERBS: dict[AuditType, tuple[str, str]] = {
    AuditType.LOGIN: ("signed in", "sign in"),
    AuditType.LOGIN_FAILED: ("failed to sign in", "sign in"),
    AuditType.LOCKOUT: ("was locked out after repeated failed sign-ins", "sign in"),
    AuditType.LOGOUT: ("signed out", "sign out"),
    AuditType.LOGIN_THROTTLED: ("was slowed down after too many sign-in attempts", "sign in"),
    AuditType.SESSIONS_END: ("ended sessions", "end sessions"),
    AuditType.PASSWORD_CHANGE: ("changed a password", "change a password"),
    AuditType.PASSWORD_RESET_LINK: ("sent a password reset link", "send a password reset link"),
    AuditType.PASSWORD_RESET: ("reset a password", "reset a password"),
    AuditType.UNLOCK: ("unlocked an account", "unlock an account"),
    AuditType.USER_CREATE: ("created an account", "create an account"),
    AuditType.USER_UPDATE: ("updated an account", "update an account"),
    AuditType.USER_ROLES_CHANGE: ("changed the roles of an account", "change roles"),
    AuditType.USER_DEACTIVATE: ("deactivated an account", "deactivate an account"),
    AuditType.USER_REACTIVATE: ("reactivated an account", "reactivate an account"),
    AuditType.ROLE_REQUEST: ("asked for a role", "ask for a role"),
    AuditType.ROLE_APPROVE: ("approved a role change", "approve a role change"),
    AuditType.ROLE_REJECT: ("rejected a role change", "reject a role change"),
    AuditType.TRAINING_RECORD: ("recorded training", "record training"),
    AuditType.ORGANIZATION_CREATE: ("created an organisation", "create an organisation"),
    AuditType.TOKEN_CREATE: ("created an API token", "create an API token"),
    AuditType.TOKEN_REVOKE: ("revoked an API token", "revoke an API token"),
    AuditType.AGREEMENT_CREATE: ("drafted", "draft"),
    AuditType.AGREEMENT_UPDATE: ("edited", "edit"),
    AuditType.AGREEMENT_SUBMIT: ("submitted for approval", "submit"),
    AuditType.AGREEMENT_RETURN: ("returned for changes", "return"),
    AuditType.AGREEMENT_APPROVE: ("approved", "approve"),
    AuditType.AGREEMENT_ACTIVATE: ("activated", "activate"),
    AuditType.AGREEMENT_EXPIRE: ("recorded the expiry of", "expire"),
    AuditType.AGREEMENT_TERMINATE: ("terminated", "terminate"),
    AuditType.AGREEMENT_AMEND: ("started an amendment of", "amend"),
    AuditType.AGREEMENT_CLOSE: ("closed", "close"),
    AuditType.AGREEMENT_PDF: ("downloaded the PDF of", "download the PDF of"),
    AuditType.AGREEMENT_DISCARD_AMENDMENT: (
        "discarded the amendment of",
        "discard an amendment of",
    ),
    AuditType.AGREEMENT_READ: ("opened", "open"),
    AuditType.LAW_CREATE: ("added a law to the catalogue", "add a law"),
    AuditType.AGREEMENT_ACCEPT: ("accepted the terms of", "accept the terms of"),
    AuditType.ETHICS_RECORD: ("recorded the ethics approval of", "record the ethics approval of"),
    AuditType.ATTESTATION_RECORD: ("attested compliance with", "attest compliance with"),
    AuditType.INCIDENT_REPORT: ("reported an incident", "report an incident"),
    AuditType.INCIDENT_FREEZE: ("froze access because of an incident", "freeze access"),
    AuditType.INCIDENT_UNFREEZE: ("lifted the freeze of an incident", "lift a freeze"),
    AuditType.INCIDENT_NOTIFY: ("notified the provider of an incident", "notify the provider"),
    AuditType.INCIDENT_ACKNOWLEDGE: ("acknowledged an incident", "acknowledge an incident"),
    AuditType.INCIDENT_CLOSE: ("closed an incident", "close an incident"),
    AuditType.PROGRESS_REPORT_SUBMIT: ("submitted a progress report", "submit a progress report"),
    AuditType.PROGRESS_REPORT_ACCEPT: ("accepted a progress report", "accept a progress report"),
    AuditType.PROGRESS_REPORT_RETURN: ("returned a progress report", "return a progress report"),
    AuditType.DATASET_CREATE: ("declared the dataset", "declare the dataset"),
    AuditType.DATASET_UPDATE: ("updated the description of", "update"),
    AuditType.DATASET_RECLASSIFY: ("reclassified a column of", "reclassify a column of"),
    AuditType.DATASET_RECLASSIFY_REQUEST: (
        "asked to reclassify a column of",
        "ask to reclassify a column of",
    ),
    AuditType.DATASET_RECLASSIFY_REJECT: (
        "rejected a reclassification of",
        "reject a reclassification of",
    ),
    AuditType.DATASET_STEWARD_ADD: ("added a steward to", "add a steward to"),
    AuditType.DATASET_STEWARD_REMOVE: ("removed a steward from", "remove a steward from"),
    AuditType.DATASET_INGEST: ("loaded a new version of", "load a new version of"),
    AuditType.DATASET_DESTROY: ("destroyed the stored files of", "destroy the files of"),
    AuditType.DATASET_REWRAP: ("re-encrypted a stored file of", "re-encrypt a file of"),
    AuditType.DATASET_CERTIFY_DESTRUCTION: (
        "certified the destruction of data under",
        "certify the destruction of data under",
    ),
    AuditType.DATASET_READ: ("read", "read"),
    AuditType.DATASET_DOWNLOAD: ("downloaded", "download"),
    AuditType.ACCESS_REQUEST_SUBMIT: ("asked for access to", "ask for access to"),
    AuditType.ACCESS_REQUEST_APPROVE: ("approved a request for", "approve a request for"),
    AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS: (
        "gave the second approval of direct identifiers in",
        "give the second approval of direct identifiers in",
    ),
    AuditType.ACCESS_REQUEST_DENY: ("denied a request for", "deny a request for"),
    AuditType.ACCESS_REQUEST_RETURN: ("returned a request for", "return a request for"),
    AuditType.ACCESS_REQUEST_WITHDRAW: ("withdrew a request for", "withdraw a request for"),
    AuditType.GRANT_CREATE: ("granted access to", "grant access to"),
    AuditType.GRANT_REVOKE: ("revoked access to", "revoke access to"),
    AuditType.GRANT_NARROW: ("narrowed access to", "narrow access to"),
    AuditType.GRANT_EXPIRE: ("recorded the end of access to", "end access to"),
    AuditType.GRANT_PAUSE: ("paused access to", "pause access to"),
    AuditType.GRANT_RESUME: ("resumed access to", "resume access to"),
    AuditType.GRANT_REVIEW: ("reviewed access to", "review access to"),
    AuditType.GRANT_REVIEW_EXPORT: ("downloaded the access review", "download the access review"),
    AuditType.AUDIT_SEARCH: ("searched the audit trail", "search the audit trail"),
    AuditType.AUDIT_EXPORT: ("exported the audit trail", "export the audit trail"),
    AuditType.AUDIT_REPORT: ("produced an audit report", "produce an audit report"),
    AuditType.AUDIT_VERIFY: ("verified the audit trail's chain", "verify the audit trail"),
    AuditType.AUDIT_UPGRADE: ("upgraded the audit trail's format", "upgrade the audit trail"),
    AuditType.AUDIT_SEARCH_SAVE: ("saved an audit search", "save an audit search"),
    AuditType.AUDIT_SEARCH_DELETE: ("deleted a saved audit search", "delete a saved search"),
    AuditType.KEY_ROTATE: ("rotated an encryption key", "rotate an encryption key"),
    AuditType.KEY_DISCARD: ("discarded a retired encryption key", "discard an encryption key"),
    AuditType.ANALYSIS_SUBMIT: ("submitted an analysis", "submit an analysis"),
    AuditType.ANALYSIS_REFUSE: ("had an analysis refused", "run an analysis"),
    AuditType.ANALYSIS_START: ("started an analysis", "start an analysis"),
    AuditType.ANALYSIS_COMPLETE: ("completed an analysis", "complete an analysis"),
    AuditType.ANALYSIS_FAIL: ("recorded a failed analysis", "run an analysis"),
    AuditType.ANALYSIS_RETRY: ("retried an analysis", "retry an analysis"),
    AuditType.ANALYSIS_DOWNLOAD: ("downloaded an analysis result", "download an analysis result"),
    AuditType.COHORT_UPLOAD: ("uploaded a cohort file", "upload a cohort file"),
    AuditType.COHORT_READ: ("read a cohort file", "read a cohort file"),
    AuditType.OUTPUT_PRODUCE: ("produced an output", "produce an output"),
    AuditType.OUTPUT_CHECK_APPROVE: ("approved an output check", "approve an output"),
    AuditType.OUTPUT_CHECK_RETURN: ("returned an output for changes", "return an output"),
    AuditType.OUTPUT_PREVIEW_OPEN: ("opened the partner preview of", "open the preview of"),
    AuditType.OUTPUT_PREVIEW_CLOSE: ("closed the partner preview of", "close the preview of"),
    AuditType.OUTPUT_FLAG: ("raised a concern about", "raise a concern about"),
    AuditType.OUTPUT_FLAG_ANSWER: ("answered a concern about", "answer a concern about"),
    AuditType.OUTPUT_FLAG_ACCEPT: ("accepted a concern about", "accept a concern about"),
    AuditType.OUTPUT_FLAG_RESOLVE: ("resolved a concern about", "resolve a concern about"),
    AuditType.OUTPUT_CORRECT: ("corrected", "correct"),
    AuditType.OUTPUT_CLEAR: ("cleared for release", "clear"),
    AuditType.OUTPUT_RELEASE: ("released", "release"),
    AuditType.OUTPUT_PUBLISH: ("published", "publish"),
    AuditType.OUTPUT_PUBLIC_FILES: ("wrote the public files of", "write the public files of"),
    AuditType.OUTPUT_DOWNLOAD: ("downloaded", "download"),
    AuditType.OUTPUT_READ: ("opened", "open"),
}


def event_label(event_type: str) -> str:
    """The event type as a filter's option reads it ("Agreement: approved")."""
    verbs = _verbs(event_type)
    if verbs is None:
        return label(event_type)
    family = event_type.split(":", 1)[0]
    return f"{FAMILIES.get(family, label(family))}: {verbs[0]}"


# The families of event types, as the filter's options group them.
FAMILIES = {
    "auth": "Sign-in",
    "user": "Account",
    "training": "Training",
    "organization": "Organisation",
    "token": "API token",
    "agreement": "Agreement",
    "law": "Law",
    "ethics": "Ethics",
    "attestation": "Attestation",
    "incident": "Incident",
    "progress_report": "Progress report",
    "dataset": "Dataset",
    "access_request": "Access request",
    "grant": "Grant",
    "audit": "Audit trail",
    "key": "Encryption key",
    "analysis": "Analysis",
    "cohort": "Cohort",
    "output": "Output",
}


def _verbs(event_type: str) -> tuple[str, str] | None:
    try:
        return VERBS.get(AuditType(event_type))
    except ValueError:
        return None


def _detail(event: EventLike) -> Mapping[str, Any]:
    detail = event.detail
    return detail if isinstance(detail, Mapping) else {}


def _columns(detail: Mapping[str, Any]) -> list[str]:
    for key in ("shown", "columns", "granted_columns", "requested_columns"):
        value = detail.get(key)
        if isinstance(value, list) and value:
            return [str(item) for item in value[:12]]
    return []


def _dataset_phrase(event: EventLike, names: Names) -> str:
    if event.dataset_id is None:
        return ""
    version = _detail(event).get("version")
    named = names.dataset(event.dataset_id)
    return f"{named} v{version}" if isinstance(version, int) else named


def _target_phrase(event: EventLike) -> str:
    if not event.target_type or event.target_type in {"agreement", "dataset", "audit_trail"}:
        return ""
    kind = label(event.target_type).lower()
    return f"{kind} {event.target_id}" if event.target_id else kind


def _read(event: EventLike, names: Names) -> str:
    """Reads and downloads of rows: how many, of what, which columns."""
    detail = _detail(event)
    parts: list[str] = []
    count = detail.get("row_count", detail.get("rows"))
    dataset = _dataset_phrase(event, names) or _target_phrase(event)
    if isinstance(count, int) and event.outcome not in (Outcome.DENIED, Outcome.FAILURE):
        parts.append(f"{count:,} row{'s' if count != 1 else ''} of {dataset}")
    else:
        parts.append(dataset)
    columns = _columns(detail)
    text = " ".join(part for part in parts if part)
    return f"{text}: {', '.join(columns)}" if columns else text


def _object(event: EventLike, names: Names) -> str:
    """What was acted on, for every family but reads: the dataset, the target, the agreement
    (when the agreement is itself the object)."""
    family = event.event_type.split(":", 1)[0]
    if family == "agreement" and event.agreement_id is not None:
        version = f" (version {event.agreement_version})" if event.agreement_version else ""
        return names.agreement(event.agreement_id) + version
    pieces = [_dataset_phrase(event, names), _target_phrase(event)]
    if family in {"user", "auth", "token", "training"}:
        email = _detail(event).get("email")
        if isinstance(email, str) and email:
            pieces.append(f"for {names.person(email)}")
    return ", ".join(piece for piece in pieces if piece)


_RENDERERS: dict[str, Callable[[EventLike, Names], str]] = {
    AuditType.DATASET_READ.value: _read,
    AuditType.DATASET_DOWNLOAD.value: _read,
    AuditType.COHORT_READ.value: _read,
}


def _context(event: EventLike, names: Names, *, with_agreement: bool) -> str:
    bits: list[str] = []
    if with_agreement and event.agreement_id is not None:
        bits.append(f"under {names.agreement(event.agreement_id)}")
    if event.clause:
        bits.append(f"(clause: {label(event.clause)})")
    return " ".join(bits)


def _why(event: EventLike) -> str:
    detail = _detail(event)
    for key in ("reason", "message", "error"):
        value = detail.get(key)
        if isinstance(value, str) and value:
            return value
    return label(event.rule) if event.rule else ""


def sentence(event: EventLike, names: Names) -> str:
    """The event as one sentence, ending with a full stop."""
    who = names.person(event.actor_email)
    verbs = _verbs(event.event_type)
    family = event.event_type.split(":", 1)[0]
    renderer = _RENDERERS.get(event.event_type, _object)
    what = renderer(event, names)
    context = _context(event, names, with_agreement=family != "agreement")
    if verbs is None:
        did = f"recorded “{label(event.event_type).lower()}”"
        tried = f"do “{label(event.event_type).lower()}”"
    else:
        did, tried = verbs
    if event.outcome == Outcome.DENIED:
        body = "Refused: " + _join(f"{who} tried to {tried}", what, context)
        why = _why(event)
        return f"{body}{f' — {why}' if why else ''}."
    if event.outcome == Outcome.FAILURE:
        body = _join(f"{who} tried to {tried}", what, context)
        why = _why(event)
        return f"{body}, which failed{f' ({why})' if why else ''}."
    return _join(f"{who} {did}", what, context) + "."


def _join(*parts: str) -> str:
    """Non-empty parts, a space apart; a list of columns is closed by a comma before what
    follows it ("...: sex, region, under DUA-2026-001")."""
    text, previous = "", ""
    for part in parts:
        if not part:
            continue
        if not text:
            text = part
        else:
            comma = "," if ": " in previous and not part.startswith("(") else ""
            text = f"{text}{comma} {part}"
        previous = part
    return text


def detail_items(event: EventLike) -> Sequence[tuple[str, str]]:
    """The structured detail as (label, value) pairs, for the disclosure behind the sentence."""
    items: list[tuple[str, str]] = []
    for key, value in sorted(_detail(event).items()):
        if isinstance(value, list):
            shown = ", ".join(str(item) for item in value) or "none"
        elif isinstance(value, dict):
            shown = "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        elif value is None:
            shown = "none"
        else:
            shown = str(value)
        items.append((label(key), shown))
    return items


# Every event type's label, registered with the other labels (`kernel.labels`).
EVENT_LABELS: dict[str, str] = {kind.value: event_label(kind.value) for kind in AuditType}
