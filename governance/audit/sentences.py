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

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from markupsafe import Markup, escape

from governance.audit.directory import Names
from governance.audit.models import AuditType, Outcome
from governance.kernel.labels import in_words, label


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
    AuditType.PASSWORD_RESET_LINK: (
        "sent a password reset link to",
        "send a password reset link to",
    ),
    AuditType.PASSWORD_RESET: ("reset a password", "reset a password"),
    AuditType.UNLOCK: ("unlocked the account of", "unlock the account of"),
    AuditType.USER_CREATE: ("created the account of", "create the account of"),
    AuditType.USER_UPDATE: ("updated the account of", "update the account of"),
    AuditType.USER_ROLES_CHANGE: ("changed the roles of", "change the roles of"),
    AuditType.USER_DEACTIVATE: ("deactivated the account of", "deactivate the account of"),
    AuditType.USER_REACTIVATE: ("reactivated the account of", "reactivate the account of"),
    AuditType.ROLE_REQUEST: ("asked for a role", "ask for a role"),
    AuditType.ROLE_APPROVE: ("approved a new role for", "approve a new role for"),
    AuditType.ROLE_REJECT: ("rejected a new role for", "reject a new role for"),
    AuditType.TRAINING_RECORD: ("recorded training of", "record training of"),
    AuditType.ORGANIZATION_CREATE: ("added the organisation", "add an organisation"),
    AuditType.TOKEN_CREATE: ("created", "create"),
    AuditType.TOKEN_REVOKE: ("revoked", "revoke"),
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
    AuditType.AGREEMENT_ODRL: (
        "exported as an ODRL policy a version of",
        "export as an ODRL policy a version of",
    ),
    AuditType.AGREEMENT_DISCARD_AMENDMENT: (
        "discarded the amendment of",
        "discard an amendment of",
    ),
    AuditType.AGREEMENT_READ: ("opened", "open"),
    AuditType.LAW_CREATE: ("added to the catalogue of laws", "add to the catalogue of laws"),
    AuditType.AGREEMENT_ACCEPT: ("accepted the terms of", "accept the terms of"),
    AuditType.ETHICS_RECORD: ("recorded the ethics approval of", "record the ethics approval of"),
    AuditType.ATTESTATION_RECORD: ("attested compliance with", "attest compliance with"),
    AuditType.INCIDENT_REPORT: ("reported", "report"),
    AuditType.INCIDENT_FREEZE: ("froze access because of", "freeze access because of"),
    AuditType.INCIDENT_UNFREEZE: ("lifted the freeze of", "lift the freeze of"),
    AuditType.INCIDENT_NOTIFY: ("notified the provider of", "notify the provider of"),
    AuditType.INCIDENT_ACKNOWLEDGE: ("acknowledged", "acknowledge"),
    AuditType.INCIDENT_CLOSE: ("closed", "close"),
    AuditType.PROGRESS_REPORT_SUBMIT: ("submitted", "submit"),
    AuditType.PROGRESS_REPORT_ACCEPT: ("accepted", "accept"),
    AuditType.PROGRESS_REPORT_RETURN: ("returned for changes", "return"),
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
    AuditType.DATASET_DECLARE_LOWEST: (
        "declared the lowest values of columns of",
        "declare the lowest values of columns of",
    ),
    AuditType.DATASET_SET_DATA_USE: (
        "stated the data-use conditions (DUO) of",
        "state the data-use conditions (DUO) of",
    ),
    AuditType.DATASET_INGEST: ("loaded a new version of", "load a new version of"),
    AuditType.DATASET_DESTROY: ("destroyed the stored files of", "destroy the files of"),
    AuditType.DATASET_DESTROY_AGREEMENT_KEY: (
        "destroyed the data keys of",
        "destroy the data keys of",
    ),
    AuditType.DATASET_RELEASE_AGREEMENT_KEYS: (
        "destroyed the agreement's keys to the data an amendment dropped from",
        "destroy the agreement's keys to the data an amendment dropped from",
    ),
    AuditType.DATASET_REWRAP: ("re-encrypted a stored file of", "re-encrypt a file of"),
    AuditType.DATASET_MIGRATE_ENCRYPTION: (
        "moved to Parquet modular encryption a stored version of",
        "move to Parquet modular encryption a version of",
    ),
    AuditType.DATASET_CERTIFY_DESTRUCTION: (
        "certified the destruction of data under",
        "certify the destruction of data under",
    ),
    AuditType.DATASET_READ: ("read", "read"),
    AuditType.DATASET_DOWNLOAD: ("downloaded", "download"),
    AuditType.DATASET_VIEW: ("looked at the description of", "look at the description of"),
    AuditType.ACCESS_REQUEST_SUBMIT: ("asked for access to", "ask for access to"),
    AuditType.DATASET_ASSESS_RISK: (
        "counted, without showing a row, the records of",
        "count, without showing a row, the records of",
    ),
    AuditType.ACCESS_REQUEST_RISK_ASSESSED: (
        "computed the re-identification figures of",
        "compute the re-identification figures of",
    ),
    AuditType.ACCESS_REQUEST_RISK_RECOMPUTE: (
        "asked for the re-identification figures again of",
        "ask for the re-identification figures again of",
    ),
    AuditType.ACCESS_REQUEST_APPROVE: ("approved a request for", "approve a request for"),
    AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS: (
        "gave the second approval of direct identifiers in",
        "give the second approval of direct identifiers in",
    ),
    AuditType.ACCESS_REQUEST_DENY: ("denied a request for", "deny a request for"),
    AuditType.ACCESS_REQUEST_RETURN: ("returned a request for", "return a request for"),
    AuditType.ACCESS_REQUEST_WITHDRAW: ("withdrew a request for", "withdraw a request for"),
    AuditType.COMMITTEE_READ: ("looked at", "see"),
    AuditType.COMMITTEE_CREATE: ("created the committee", "create a committee"),
    AuditType.COMMITTEE_RULE: ("set the decision rule of", "set the decision rule of"),
    AuditType.COMMITTEE_MEMBER_ADD: ("added a member to", "add a member to"),
    AuditType.COMMITTEE_MEMBER_REMOVE: ("removed a member from", "remove a member from"),
    AuditType.COMMITTEE_ASSIGN: (
        "named the committee deciding for",
        "name the committee deciding for",
    ),
    AuditType.COMMITTEE_CASE_OPEN: ("opened a committee case on", "open a committee case on"),
    AuditType.COMMITTEE_VOTE: ("voted on", "vote on"),
    AuditType.COMMITTEE_VOTE_CHANGE: ("changed their vote on", "change their vote on"),
    AuditType.COMMITTEE_RECUSE: (
        "declared a conflict of interest on",
        "declare a conflict of interest on",
    ),
    AuditType.COMMITTEE_DECIDE: ("recorded the committee's decision on", "decide"),
    AuditType.COMMITTEE_DECIDE_ALONE: (
        "decided alone, as chair after the deadline,",
        "decide alone as chair",
    ),
    AuditType.COMMITTEE_AMENDMENT_IMPACT: (
        "approved an amendment with the impact shown on",
        "approve an amendment's impact on",
    ),
    AuditType.ACCESS_REQUEST_READ: ("opened", "open"),
    AuditType.ACCESS_REQUEST_NUDGE: (
        "sent a reminder about a request for",
        "send a reminder about a request for",
    ),
    AuditType.MAIL_DIGEST_CHOSEN: (
        "chose how often to receive the task digest of",
        "choose the task digest of",
    ),
    AuditType.GRANT_CREATE: ("granted access to", "grant access to"),
    AuditType.GRANT_REVOKE: ("revoked access to", "revoke access to"),
    AuditType.GRANT_NARROW: ("narrowed access to", "narrow access to"),
    AuditType.GRANT_EXPIRE: ("recorded the end of access to", "end access to"),
    AuditType.GRANT_PAUSE: ("paused access to", "pause access to"),
    AuditType.GRANT_SEALS_START: (
        "sealed the grants and training records stored before seals were kept",
        "seal the grants and training records stored before seals were kept",
    ),
    AuditType.AGREEMENT_SEALS_START: (
        "sealed the agreements stored before their terms were sealed",
        "seal the agreements stored before their terms were sealed",
    ),
    AuditType.GRANT_RESUME: ("resumed access to", "resume access to"),
    AuditType.GRANT_REVIEW: ("reviewed access to", "review access to"),
    AuditType.GRANT_REVIEW_EXPORT: ("downloaded the access review", "download the access review"),
    AuditType.GRANT_READ: ("opened", "open"),
    AuditType.PASSPORT_VISA_ISSUE: (
        "was issued a GA4GH visa asserting access to",
        "obtain a GA4GH visa for",
    ),
    AuditType.AUDIT_SEARCH: ("searched the audit trail", "search the audit trail"),
    AuditType.AUDIT_EXPORT: ("exported the audit trail", "export the audit trail"),
    AuditType.AUDIT_REPORT: ("produced an audit report", "produce an audit report"),
    AuditType.AUDIT_VERIFY: ("verified the audit trail's chain", "verify the audit trail"),
    AuditType.AUDIT_TIMESTAMP: (
        "had a time-stamping authority witness the audit trail's signed head",
        "have a time-stamping authority witness the audit trail's signed head",
    ),
    AuditType.AUDIT_UPGRADE: ("upgraded the audit trail's format", "upgrade the audit trail"),
    AuditType.AUDIT_SEARCH_SAVE: ("saved a search of the audit trail", "save a search"),
    AuditType.AUDIT_SEARCH_DELETE: ("deleted a saved audit search", "delete a saved search"),
    AuditType.KEY_ROTATE: ("rotated", "rotate"),
    AuditType.KEY_DISCARD: ("discarded the retired", "discard the retired"),
    AuditType.ANALYSIS_SUBMIT: ("submitted", "submit"),
    AuditType.ANALYSIS_REFUSE: ("refused", "run"),
    AuditType.ANALYSIS_START: ("started", "start"),
    AuditType.ANALYSIS_COMPLETE: ("completed", "complete"),
    AuditType.ANALYSIS_FAIL: ("recorded the failure of", "run"),
    AuditType.ANALYSIS_RETRY: ("retried", "retry"),
    AuditType.ANALYSIS_DOWNLOAD: ("downloaded the result of", "download the result of"),
    AuditType.COHORT_UPLOAD: ("uploaded", "upload"),
    AuditType.COHORT_READ: ("read", "read"),
    AuditType.LINKAGE_REVIEW_OPEN: (
        "opened the clerical review queue of the linkage of",
        "open the clerical review queue of the linkage of",
    ),
    AuditType.LINKAGE_REVIEW_DECIDE: (
        "decided a pair in the clerical review queue of the linkage of",
        "decide a pair in the clerical review queue of the linkage of",
    ),
    AuditType.OUTPUT_PRODUCE: ("produced", "produce"),
    AuditType.OUTPUT_CHECK_APPROVE: ("approved in an output check", "approve"),
    AuditType.OUTPUT_CHECK_RETURN: ("returned for changes", "return"),
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
    AuditType.METRICS_READ: ("opened the governance metrics", "open the governance metrics"),
    AuditType.GROUP_MAPPING_CREATE: ("mapped an external group to a role", "map a group"),
    AuditType.GROUP_MAPPING_APPROVE: ("approved a group mapping", "approve a group mapping"),
    AuditType.GROUP_MAPPING_DELETE: ("deleted a group mapping", "delete a group mapping"),
    AuditType.GROUP_ROLE_GRANT: (
        "gave a role through an external group to",
        "give a role through a group to",
    ),
    AuditType.GROUP_ROLE_REMOVE: (
        "took back a role given through an external group from",
        "take back a group role from",
    ),
    AuditType.GROUP_ORGANIZATION: (
        "moved, through an external group, the account of",
        "move through a group the account of",
    ),
    AuditType.GROUPS_UNMAPPED: (
        "received external groups that map to no role for",
        "map the groups of",
    ),
    AuditType.WEBHOOK_CREATE: ("registered", "register"),
    AuditType.WEBHOOK_ENABLE: ("enabled", "enable"),
    AuditType.WEBHOOK_DISABLE: ("disabled", "disable"),
    AuditType.WEBHOOK_REDELIVER: ("sent again", "send again"),
    AuditType.SCIM_TOKEN_CREATE: ("issued a provisioning (SCIM) token", "issue a SCIM token"),
    AuditType.SCIM_TOKEN_REVOKE: ("revoked a provisioning (SCIM) token", "revoke a SCIM token"),
    AuditType.SCIM_REFUSED: ("was refused by the provisioning (SCIM) endpoint", "provision"),
    AuditType.SCIM_USER_CREATE: ("provisioned the account of", "provision the account of"),
    AuditType.SCIM_USER_UPDATE: (
        "updated through provisioning the account of",
        "update through provisioning the account of",
    ),
    AuditType.SCIM_USER_DELETE: (
        "deprovisioned the account of",
        "deprovision the account of",
    ),
    AuditType.SCIM_GROUP_CREATE: ("provisioned a group", "provision a group"),
    AuditType.SCIM_GROUP_UPDATE: ("updated a provisioned group", "update a provisioned group"),
    AuditType.SCIM_GROUP_DELETE: ("deleted a provisioned group", "delete a provisioned group"),
    AuditType.REAUTHENTICATE: ("confirmed their password again", "confirm their password"),
    AuditType.SESSION_TIMEOUT: ("had a session ended by its time limit", "keep a session"),
    AuditType.ORGANIZATION_LOCAL_PASSWORDS: (
        "changed whether local passwords are allowed for",
        "change local passwords for",
    ),
    AuditType.AGREEMENT_CERTIFY_DESTRUCTION: (
        "certified the destruction of the data of",
        "certify the destruction of the data of",
    ),
    AuditType.AGREEMENT_CLOSEOUT_VIEW: (
        "opened the close-out checklist of",
        "open the close-out checklist of",
    ),
    AuditType.AGREEMENT_PERSONNEL_REMOVE: (
        "took a person off the personnel list of",
        "take a person off the personnel list of",
    ),
    AuditType.ATTACHMENT_UPLOAD: ("filed a document with", "file a document with"),
    AuditType.ATTACHMENT_VIEW: ("viewed a document of", "view a document of"),
    AuditType.ATTACHMENT_DOWNLOAD: ("downloaded a document of", "download a document of"),
    AuditType.ATTACHMENT_DESTROY: ("destroyed a document of", "destroy a document of"),
    AuditType.AUDIT_PERIOD_OPEN: ("opened an annual audit period", "open an audit period"),
    AuditType.AUDIT_PERIOD_CERTIFY: (
        "started the access certification campaign of",
        "start the certification campaign of",
    ),
    AuditType.AUDIT_PERIOD_CLOSE: ("closed", "close"),
    AuditType.CERTIFICATION_CONFIRM: (
        "confirmed in the access certification",
        "confirm in the access certification",
    ),
    AuditType.CERTIFICATION_NARROW: (
        "narrowed in the access certification",
        "narrow in the access certification",
    ),
    AuditType.CERTIFICATION_REVOKE: (
        "revoked in the access certification",
        "revoke in the access certification",
    ),
    AuditType.CERTIFICATION_REMIND: (
        "sent certification reminders for",
        "send certification reminders for",
    ),
    AuditType.INCIDENT_FROM_ALERT: (
        "opened an incident from an audit alert",
        "open an incident from an audit alert",
    ),
    AuditType.OUTPUT_WITHDRAW: ("withdrew from the public page", "withdraw"),
    AuditType.OUTPUT_RESTORE: ("restored to the public page", "restore"),
    AuditType.OUTPUT_NO_CONCERNS: ("answered 'no concerns' in the preview of", "answer"),
    AuditType.AGREEMENT_EXECUTE: (
        "recorded the provider's countersignature of",
        "record the countersignature of",
    ),
    AuditType.SSO_LOGIN: ("signed in through their institution", "sign in through an institution"),
    AuditType.SSO_LOGIN_FAILED: (
        "failed to sign in through their institution",
        "sign in through an institution",
    ),
    AuditType.SSO_LINK: (
        "linked an institutional sign-in to the account of",
        "link an institutional sign-in to",
    ),
    AuditType.SSO_PROVISION: (
        "created on first institutional sign-in the account of",
        "create on first sign-in the account of",
    ),
    AuditType.SECOND_FACTOR_ENROL: ("enrolled a second factor", "enrol a second factor"),
    AuditType.SECOND_FACTOR_FAILED: (
        "gave a wrong second-factor code",
        "give a second-factor code",
    ),
    AuditType.RECOVERY_CODE_USE: ("signed in with a recovery code", "use a recovery code"),
    AuditType.SECOND_FACTOR_DISABLE: (
        "turned off the second factor of",
        "turn off the second factor of",
    ),
    AuditType.RECOVERY_CODES_REGENERATE: (
        "issued new recovery codes (the old ones no longer work) for",
        "issue new recovery codes for",
    ),
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
    "committee": "Committee",
    "grant": "Grant",
    "passport": "GA4GH Passport",
    "audit": "Audit trail",
    "key": "Encryption key",
    "analysis": "Analysis",
    "cohort": "Cohort",
    "output": "Output",
    "attachment": "Agreement document",
    "audit_period": "Annual audit",
    "certification": "Access certification",
    "group_mapping": "Group mapping",
    "scim": "Provisioning (SCIM)",
    "scim_token": "Provisioning token",
}


def _verbs(event_type: str) -> tuple[str, str] | None:
    try:
        return VERBS.get(AuditType(event_type))
    except ValueError:
        return None


# How a sentence names what an event acted on, by the target type the trail recorded.
TARGET_NOUNS = {
    "access_request": "access request",
    "analysis_run": "analysis",
    "api_token": "API token",
    "attachment": "document",
    "audit_event": "audit event",
    "audit_period": "audit period",
    "certification_item": "certification item",
    "committee": "committee",
    "committee_case": "committee case",
    "group_mapping": "group mapping",
    "scim_group": "provisioned group",
    "scim_token": "provisioning token",
    "user_session": "session",
    "webhook_endpoint": "webhook endpoint",
    "webhook_delivery": "webhook message",
    "attestation": "attestation",
    "cohort_file": "cohort file",
    "column_reclassification": "reclassification request",
    "destruction_certificate": "destruction certificate",
    "ethics_approval": "ethics approval",
    "grant": "grant",
    "incident": "incident",
    "key": "key",
    "organization": "organisation",
    "output": "output",
    "progress_report": "progress report",
    "role_change": "role change",
    "saved_search": "saved search",
    "state_law": "law",
    "training_report": "training report",
    "user": "account",
}
# What a bare verb acted on when the event names no target ("Sam submitted an analysis").
_UNNAMED = {
    "incident": "an incident",
    "progress_report": "a progress report",
    "analysis": "an analysis",
    "cohort": "a cohort file",
    "output": "an output",
    "token": "an API token",
    "key": "an encryption key",
}
# Targets a sentence names otherwise (the dataset, the agreement, the trail itself).
_NAMED_ELSEWHERE = {"agreement", "dataset", "dataset_version", "audit_trail"}


def _named_elsewhere(event: EventLike) -> bool:
    """Whether the sentence names the target otherwise. A refused look-up of a dataset id that
    names no dataset carries no dataset: only its target ("dataset 999") says what was tried."""
    if event.target_type == "dataset" and event.dataset_id is None and event.target_id:
        return False
    return event.target_type in _NAMED_ELSEWHERE


_COLUMN = "\x01{}\x02"  # a column name, shown as code on the page and as text elsewhere
_MARKS = re.compile("\x01([^\x01\x02]*)\x02")


def _detail(event: EventLike) -> Mapping[str, Any]:
    detail = event.detail
    return detail if isinstance(detail, Mapping) else {}


def _text(detail: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = detail.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return ""


def _columns(detail: Mapping[str, Any]) -> list[str]:
    for key in ("shown", "columns", "approved", "granted_columns", "requested_columns"):
        value = detail.get(key)
        if isinstance(value, dict):
            # An analysis's columns per source table: each column once.
            named = (str(c) for cs in value.values() if isinstance(cs, list) for c in cs)
            value = list(dict.fromkeys(named))
        if isinstance(value, list) and value:
            return [_COLUMN.format(item) for item in value[:12]] + (
                [f"and {len(value) - 12} more"] if len(value) > 12 else []
            )
    return []


def _dataset_phrase(event: EventLike, names: Names) -> str:
    if event.dataset_id is None:
        return ""
    version = _detail(event).get("version")
    named = names.dataset(event.dataset_id)
    return f"{named} v{version}" if isinstance(version, int) else named


def _target_phrase(event: EventLike) -> str:
    """ "output 3 (OUT-00003, Arrests by sex)": the target as a person finds it again."""
    if not event.target_type or _named_elsewhere(event):
        return ""
    noun = TARGET_NOUNS.get(event.target_type, label(event.target_type).lower())
    text = f"{noun} {event.target_id}" if event.target_id else noun
    detail = _detail(event)
    known = [_text(detail, "reference"), _text(detail, "title", "name", "label")]
    shown = ", ".join(item for item in known if item)
    return f"{text} ({shown})" if shown else text


def _with_columns(text: str, detail: Mapping[str, Any]) -> str:
    columns = _columns(detail)
    return f"{text}: {', '.join(columns)}" if columns and text else text


# The analysis engines (governance/analysis/engine/engines.py), as their makers write them.
ENGINE_NAMES = {"pandas": "pandas", "duckdb": "DuckDB", "spark": "Spark"}


def _on_engine(text: str, detail: Mapping[str, Any]) -> str:
    """An analysis's reads, refusals and completion say which engine the columns went to."""
    engine = detail.get("engine")
    if not isinstance(engine, str) or not engine or not text:
        return text
    return f"{text} (analysis engine: {ENGINE_NAMES.get(engine, engine)})"


def _read(event: EventLike, names: Names) -> str:
    """Reads and downloads of rows: how many, of what, which columns (and for an analysis,
    on which engine)."""
    detail = _detail(event)
    count = detail.get("row_count", detail.get("rows"))
    dataset = _dataset_phrase(event, names) or _target_phrase(event)
    refused = event.outcome in (Outcome.DENIED, Outcome.FAILURE)
    if isinstance(count, int) and not isinstance(count, bool) and not refused:
        dataset = f"{count:,} row{'s' if count != 1 else ''} of {dataset}"
    return _on_engine(_with_columns(dataset, detail), detail)


def _person(event: EventLike, names: Names) -> str:
    """Accounts, sign-ins, tokens and training: whose."""
    detail = _detail(event)
    email = _text(detail, "email", "user_email")
    whose = names.person(email) if email else _target_phrase(event)
    if email and email.lower() == (event.actor_email or "").lower():
        whose = ""  # their own sign-in, password or token: the sentence names them already
    extra: list[str] = []
    course = _text(detail, "course")
    if course:
        extra.append(f"({label(course)})")
    role = _text(detail, "role")
    if role:
        extra.append(f"as {label(role)}")
    roles = detail.get("roles")
    if event.event_type == AuditType.USER_ROLES_CHANGE.value and isinstance(roles, list):
        extra.append("to " + (", ".join(label(r) for r in roles) or "no role"))
    if event.event_type == AuditType.ORGANIZATION_CREATE.value:
        return _text(detail, "name") or _target_phrase(event)
    if event.target_type == "api_token":
        whose = _target_phrase(event)
    return " ".join(part for part in [whose, *extra] if part)


def _agreement(event: EventLike, names: Names) -> str:
    """Agreements' transitions, documents and personal steps: which agreement, which version."""
    if event.agreement_id is None:
        return _target_phrase(event)
    version = f" (version {event.agreement_version})" if event.agreement_version else ""
    return names.agreement(event.agreement_id) + version


def _object(event: EventLike, names: Names) -> str:
    """Everything else: the dataset it concerns, then the target, with any columns."""
    dataset, target = _dataset_phrase(event, names), _target_phrase(event)
    text = f"{dataset} ({target})" if dataset and target else dataset or target
    return _on_engine(_with_columns(text, _detail(event)), _detail(event))


# One renderer per family of event types (the part before the colon), reads apart.
FAMILY_RENDERERS: dict[str, Callable[[EventLike, Names], str]] = {
    "auth": _person,
    "user": _person,
    "training": _person,
    "organization": _person,
    "token": _person,
    "agreement": _agreement,
    "ethics": _agreement,
    "attestation": _agreement,
}
READS = {AuditType.DATASET_READ.value, AuditType.DATASET_DOWNLOAD.value, AuditType.COHORT_READ}


def _renderer(event_type: str) -> Callable[[EventLike, Names], str]:
    if event_type in READS:
        return _read
    return FAMILY_RENDERERS.get(event_type.split(":", 1)[0], _object)


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
            # Reasons the service wrote may name codes (matched_comparison): say them in words.
            return in_words(value)
    return label(event.rule) if event.rule else ""


def _marked(event: EventLike, names: Names) -> str:
    who = names.person(event.actor_email)
    verbs = _verbs(event.event_type)
    what = _renderer(event.event_type)(event, names)
    family = event.event_type.split(":", 1)[0]
    if not what and verbs is not None:
        what = _UNNAMED.get(family, "")
    context = _context(event, names, with_agreement=FAMILY_RENDERERS.get(family) is not _agreement)
    if verbs is None:
        did = f"recorded “{label(event.event_type).lower()}”"
        tried = f"do “{label(event.event_type).lower()}”"
    else:
        did, tried = verbs
    if event.outcome == Outcome.DENIED:
        body = "Refused: " + _join(f"{who} tried to {tried}", what, context)
        why = _why(event).removesuffix(".")  # most reasons are sentences: one full stop
        return f"{body}{f' — {why}' if why else ''}."
    if event.outcome == Outcome.FAILURE:
        body = _join(f"{who} tried to {tried}", what, context)
        why = _why(event)
        return f"{body}, which failed{f' ({why})' if why else ''}."
    return _join(f"{who} {did}", what, context) + "."


def sentence(event: EventLike, names: Names) -> str:
    """The event as one sentence of plain text, ending with a full stop."""
    return _MARKS.sub(r"\1", _marked(event, names))


def sentence_html(event: EventLike, names: Names) -> Markup:
    """The sentence for a page: escaped, with column names set as code."""
    escaped = str(escape(_marked(event, names)))
    # The text was escaped just above; only the column marks become markup.
    return Markup(_MARKS.sub(r"<code>\1</code>", escaped))  # noqa: S704


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
