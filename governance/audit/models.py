"""The audit trail: append-only, hash-chained events, the chain head and signed checkpoints.

The event table has no foreign keys on purpose (as OpenSAFELY's job-server does): deleting or
renaming a user, agreement or dataset must never touch the record of what they did. Database
triggers (see the migrations) refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    and_,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime


class AuditType(StrEnum):
    """Every kind of event the trail records; never free text."""

    LOGIN = "auth:login"
    LOGIN_FAILED = "auth:login_failed"
    LOCKOUT = "auth:lockout"
    LOGOUT = "auth:logout"
    LOGIN_THROTTLED = "auth:login_throttled"
    SESSIONS_END = "auth:sessions_end"
    PASSWORD_CHANGE = "auth:password_change"  # noqa: S105  (an event name, not a secret)
    PASSWORD_RESET_LINK = "auth:password_reset_link"  # noqa: S105
    PASSWORD_RESET = "auth:password_reset"  # noqa: S105
    UNLOCK = "auth:unlock"
    SSO_LOGIN = "auth:sso_login"
    SSO_LOGIN_FAILED = "auth:sso_login_failed"
    SSO_LINK = "auth:sso_link"
    SSO_PROVISION = "auth:sso_provision"
    SECOND_FACTOR_ENROL = "auth:second_factor_enrol"
    SECOND_FACTOR_FAILED = "auth:second_factor_failed"
    RECOVERY_CODE_USE = "auth:recovery_code_use"
    SECOND_FACTOR_DISABLE = "auth:second_factor_disable"
    RECOVERY_CODES_REGENERATE = "auth:recovery_codes_regenerate"
    USER_CREATE = "user:create"
    USER_UPDATE = "user:update"
    USER_ROLES_CHANGE = "user:roles_change"
    USER_DEACTIVATE = "user:deactivate"
    USER_REACTIVATE = "user:reactivate"
    ROLE_REQUEST = "user:role_request"
    ROLE_APPROVE = "user:role_approve"
    ROLE_REJECT = "user:role_reject"
    TRAINING_RECORD = "training:record"
    ORGANIZATION_CREATE = "organization:create"
    TOKEN_CREATE = "token:create"  # noqa: S105  (an event name, not a secret)
    TOKEN_REVOKE = "token:revoke"  # noqa: S105
    GROUP_MAPPING_CREATE = "group_mapping:create"
    GROUP_MAPPING_APPROVE = "group_mapping:approve"
    GROUP_MAPPING_DELETE = "group_mapping:delete"
    GROUP_ROLE_GRANT = "user:group_role_grant"
    GROUP_ROLE_REMOVE = "user:group_role_remove"
    GROUP_ORGANIZATION = "user:group_organization"
    GROUPS_UNMAPPED = "user:groups_unmapped"
    SCIM_TOKEN_CREATE = "scim_token:create"  # noqa: S105  (an event name, not a secret)
    SCIM_TOKEN_REVOKE = "scim_token:revoke"  # noqa: S105
    SCIM_REFUSED = "scim:refused"
    SCIM_USER_CREATE = "scim:user_create"
    SCIM_USER_UPDATE = "scim:user_update"
    SCIM_USER_DELETE = "scim:user_delete"
    SCIM_GROUP_CREATE = "scim:group_create"
    SCIM_GROUP_UPDATE = "scim:group_update"
    SCIM_GROUP_DELETE = "scim:group_delete"
    REAUTHENTICATE = "auth:reauthenticate"
    SESSION_TIMEOUT = "auth:session_timeout"
    ORGANIZATION_LOCAL_PASSWORDS = "organization:local_passwords"

    AGREEMENT_CREATE = "agreement:create"
    AGREEMENT_UPDATE = "agreement:update"
    AGREEMENT_SUBMIT = "agreement:submit"
    AGREEMENT_RETURN = "agreement:return"
    AGREEMENT_APPROVE = "agreement:approve"
    AGREEMENT_EXECUTE = "agreement:execute"
    AGREEMENT_ACTIVATE = "agreement:activate"
    AGREEMENT_EXPIRE = "agreement:expire"
    AGREEMENT_TERMINATE = "agreement:terminate"
    AGREEMENT_AMEND = "agreement:amend"
    AGREEMENT_CLOSE = "agreement:close"
    AGREEMENT_CERTIFY_DESTRUCTION = "agreement:certify_destruction"
    AGREEMENT_CLOSEOUT_VIEW = "agreement:closeout_view"
    ATTACHMENT_UPLOAD = "attachment:upload"
    ATTACHMENT_VIEW = "attachment:view"
    ATTACHMENT_DOWNLOAD = "attachment:download"
    ATTACHMENT_DESTROY = "attachment:destroy"
    AGREEMENT_PDF = "agreement:pdf"
    AGREEMENT_ODRL = "agreement:odrl"  # a version exported as an ODRL policy
    AGREEMENT_DISCARD_AMENDMENT = "agreement:discard_amendment"
    AGREEMENT_READ = "agreement:read"  # recorded when a read is refused
    AGREEMENT_PERSONNEL_REMOVE = "agreement:personnel_remove"
    LAW_CREATE = "law:create"
    AGREEMENT_ACCEPT = "agreement:accept"
    AGREEMENT_SEALS_START = "agreement:seals_start"
    ETHICS_RECORD = "ethics:record"
    ATTESTATION_RECORD = "attestation:record"
    INCIDENT_REPORT = "incident:report"
    INCIDENT_FREEZE = "incident:freeze"
    INCIDENT_UNFREEZE = "incident:unfreeze"
    INCIDENT_NOTIFY = "incident:notify"
    INCIDENT_ACKNOWLEDGE = "incident:acknowledge"
    INCIDENT_CLOSE = "incident:close"
    AUDIT_PERIOD_OPEN = "audit_period:open"
    AUDIT_PERIOD_CERTIFY = "audit_period:certify"
    AUDIT_PERIOD_CLOSE = "audit_period:close"
    CERTIFICATION_CONFIRM = "certification:confirm"
    CERTIFICATION_NARROW = "certification:narrow"
    CERTIFICATION_REVOKE = "certification:revoke"
    CERTIFICATION_REMIND = "certification:remind"
    INCIDENT_FROM_ALERT = "incident:from_alert"
    OUTPUT_WITHDRAW = "output:withdraw"
    OUTPUT_RESTORE = "output:restore"
    PROGRESS_REPORT_SUBMIT = "progress_report:submit"
    PROGRESS_REPORT_ACCEPT = "progress_report:accept"
    PROGRESS_REPORT_RETURN = "progress_report:return"

    DATASET_CREATE = "dataset:create"
    DATASET_UPDATE = "dataset:update"
    DATASET_RECLASSIFY = "dataset:reclassify"
    DATASET_RECLASSIFY_REQUEST = "dataset:reclassify_request"
    DATASET_RECLASSIFY_REJECT = "dataset:reclassify_reject"
    DATASET_STEWARD_ADD = "dataset:steward_add"
    DATASET_STEWARD_REMOVE = "dataset:steward_remove"
    DATASET_INGEST = "dataset:ingest"
    # the data-use conditions stated as GA4GH DUO terms (before and after)
    DATASET_SET_DATA_USE = "dataset:set_data_use"
    # the lowest values of number columns, which rounded means are taken from
    DATASET_DECLARE_LOWEST = "dataset:declare_lowest"
    DATASET_DESTROY = "dataset:destroy"
    # an agreement's own key destroyed with the version keys it wrapped (crypto-shredding)
    DATASET_DESTROY_AGREEMENT_KEY = "dataset:destroy_agreement_key"
    # an amendment in force dropped datasets: the agreement's keys for their versions destroyed
    DATASET_RELEASE_AGREEMENT_KEYS = "dataset:release_agreement_keys"
    DATASET_REWRAP = "dataset:rewrap"  # a file from before per-file keys re-encrypted
    # a version moved from the earlier whole-file format to Parquet modular encryption
    DATASET_MIGRATE_ENCRYPTION = "dataset:migrate_encryption"
    DATASET_CERTIFY_DESTRUCTION = "dataset:certify_destruction"
    DATASET_READ = "dataset:read"
    # A dataset's description looked up by someone it is hidden from (a provider agency's
    # person and another agency's dataset), or an id naming no dataset: recorded only when
    # refused (404, as for a missing id).
    DATASET_VIEW = "dataset:view"
    DATASET_DOWNLOAD = "dataset:download"

    ACCESS_REQUEST_SUBMIT = "access_request:submit"
    ACCESS_REQUEST_RISK_ASSESSED = "access_request:risk_assessed"
    # A read for the system purpose "risk assessment": rows counted, never shown.
    DATASET_ASSESS_RISK = "dataset:assess_risk"
    # A steward asked for a request's figures again (after a new dataset version, say).
    ACCESS_REQUEST_RISK_RECOMPUTE = "access_request:risk_recompute"
    ACCESS_REQUEST_APPROVE = "access_request:approve"
    ACCESS_REQUEST_APPROVE_IDENTIFIERS = "access_request:approve_identifiers"
    ACCESS_REQUEST_DENY = "access_request:deny"
    ACCESS_REQUEST_RETURN = "access_request:return"
    ACCESS_REQUEST_WITHDRAW = "access_request:withdraw"
    COMMITTEE_READ = "committee:read"  # recorded only when refused
    COMMITTEE_CREATE = "committee:create"
    COMMITTEE_RULE = "committee:rule"
    COMMITTEE_MEMBER_ADD = "committee:member_add"
    COMMITTEE_MEMBER_REMOVE = "committee:member_remove"
    COMMITTEE_ASSIGN = "committee:assign"
    COMMITTEE_CASE_OPEN = "committee:case_open"
    COMMITTEE_VOTE = "committee:vote"
    COMMITTEE_VOTE_CHANGE = "committee:vote_change"
    COMMITTEE_RECUSE = "committee:recuse"
    COMMITTEE_DECIDE = "committee:decide"
    COMMITTEE_DECIDE_ALONE = "committee:decide_alone"
    COMMITTEE_AMENDMENT_IMPACT = "committee:amendment_impact"
    ACCESS_REQUEST_NUDGE = "access_request:nudge"
    # Recorded only when refused: someone else's request (404, as for a missing id), or none.
    ACCESS_REQUEST_READ = "access_request:read"
    MAIL_DIGEST_CHOSEN = "mail:digest_chosen"
    GRANT_CREATE = "grant:create"
    GRANT_REVOKE = "grant:revoke"
    GRANT_NARROW = "grant:narrow"
    GRANT_EXPIRE = "grant:expire"
    GRANT_PAUSE = "grant:pause"
    GRANT_RESUME = "grant:resume"
    GRANT_SEALS_START = "grant:seals_start"
    GRANT_REVIEW = "grant:review"
    GRANT_REVIEW_EXPORT = "grant:review_export"
    GRANT_READ = "grant:read"  # recorded only when refused, as ACCESS_REQUEST_READ
    PASSPORT_VISA_ISSUE = "passport:visa_issue"  # a GA4GH visa signed for one of one's grants

    AUDIT_SEARCH = "audit:search"
    AUDIT_EXPORT = "audit:export"
    AUDIT_REPORT = "audit:report"
    AUDIT_VERIFY = "audit:verify"
    AUDIT_TIMESTAMP = "audit:timestamp"  # a time-stamping authority witnessed a checkpoint
    AUDIT_UPGRADE = "audit:upgrade"  # the trail's first event in a new format (see audit_format)
    AUDIT_SEARCH_SAVE = "audit:search_save"
    AUDIT_SEARCH_DELETE = "audit:search_delete"

    WEBHOOK_CREATE = "webhook:create"
    WEBHOOK_ENABLE = "webhook:enable"
    WEBHOOK_DISABLE = "webhook:disable"
    WEBHOOK_REDELIVER = "webhook:redeliver"

    KEY_ROTATE = "key:rotate"
    KEY_DISCARD = "key:discard"

    ANALYSIS_SUBMIT = "analysis:submit"
    ANALYSIS_REFUSE = "analysis:refuse"
    ANALYSIS_START = "analysis:start"
    ANALYSIS_COMPLETE = "analysis:complete"
    ANALYSIS_FAIL = "analysis:fail"
    ANALYSIS_RETRY = "analysis:retry"
    ANALYSIS_DOWNLOAD = "analysis:download"
    COHORT_UPLOAD = "cohort:upload"
    COHORT_READ = "cohort:read"
    LINKAGE_REVIEW_OPEN = "linkage_review:open"
    LINKAGE_REVIEW_DECIDE = "linkage_review:decide"

    OUTPUT_PRODUCE = "output:produce"
    OUTPUT_CHECK_APPROVE = "output:check_approve"
    OUTPUT_CHECK_RETURN = "output:check_return"
    OUTPUT_PREVIEW_OPEN = "output:preview_open"
    OUTPUT_PREVIEW_CLOSE = "output:preview_close"
    OUTPUT_NO_CONCERNS = "output:no_concerns"
    OUTPUT_FLAG = "output:flag"
    OUTPUT_FLAG_ANSWER = "output:flag_answer"
    OUTPUT_FLAG_ACCEPT = "output:flag_accept"
    OUTPUT_FLAG_RESOLVE = "output:flag_resolve"
    OUTPUT_CORRECT = "output:correct"
    OUTPUT_CLEAR = "output:clear"
    OUTPUT_RELEASE = "output:release"
    OUTPUT_PUBLISH = "output:publish"
    OUTPUT_PUBLIC_FILES = "output:public_files"
    OUTPUT_DOWNLOAD = "output:download"
    OUTPUT_READ = "output:read"  # recorded when a read is refused

    METRICS_READ = "metrics:read"  # recorded when a read is refused


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    ALLOWED = "allowed"
    DENIED = "denied"


# The trail's bulk: every granted read of a dataset. These events are found by time (and by
# agreement, dataset and person), never by their type or outcome alone, which match most of
# the trail: a walk of the time index (which carries both) finds a page of them at once. The
# type and outcome indexes hold only the other events (rare values such as denials, key
# rotations, failed sign-ins), so a granted read, the event written most, is entered in five
# indexes instead of seven (a scheduled job's or the system's, with no person id, in four;
# issue 20). A query narrowing to other types or outcomes must say so in SQL the planner can
# match to those indexes' WHERE (a bound value alone does not let it): `of_type`,
# `with_outcome`.
BULK_TYPE = AuditType.DATASET_READ.value
BULK_OUTCOME = Outcome.ALLOWED.value
_NOT_BULK_TYPE = f"event_type <> '{BULK_TYPE}'"
_NOT_BULK_OUTCOME = f"outcome <> '{BULK_OUTCOME}'"


def _partial(where: str) -> dict[str, Any]:
    return {"sqlite_where": text(where), "postgresql_where": text(where)}


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        # The search page's order (newest first) and date ranges; with the type and outcome
        # a filter on the bulk's type or outcome is answered from this index alone.
        Index("ix_audit_event_time", "occurred_at", "event_type", "outcome"),
        Index("ix_audit_event_agreement", "agreement_id", "occurred_at"),
        Index("ix_audit_event_dataset", "dataset_id", "occurred_at"),
        # The search page filters by the recorded e-mail (failed logins of unknown accounts
        # have no actor_id); events recorded with no e-mail need no entry.
        Index(
            "ix_audit_event_email",
            "actor_email",
            "occurred_at",
            **_partial("actor_email IS NOT NULL"),
        ),
        # A grant's use (the access review): its holder's events on its dataset, by time.
        Index(
            "ix_audit_event_holder",
            "actor_id",
            "dataset_id",
            "occurred_at",
            **_partial("actor_id IS NOT NULL"),
        ),
        Index("ix_audit_event_rare_type", "event_type", "occurred_at", **_partial(_NOT_BULK_TYPE)),
        # What the trail says of one row (a grant's revocations and narrowings, compared with
        # the live grants as they load: access/trail_check.py); the bulk needs no entry.
        Index(
            "ix_audit_event_target",
            "target_type",
            "target_id",
            "seq",
            **_partial(_NOT_BULK_TYPE),
        ),
        Index(
            "ix_audit_event_rare_outcome", "outcome", "occurred_at", **_partial(_NOT_BULK_OUTCOME)
        ),
    )

    # Position in the chain, assigned from the head inside the writing transaction.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    event_type: Mapped[AuditType] = mapped_column(String(60))
    outcome: Mapped[Outcome] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_email: Mapped[str | None] = mapped_column(String(320))
    agreement_id: Mapped[int | None] = mapped_column(Integer)
    agreement_version: Mapped[int | None] = mapped_column(Integer)
    dataset_id: Mapped[int | None] = mapped_column(Integer)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(80))
    rule: Mapped[str | None] = mapped_column(String(200))
    clause: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONText())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last event's position and hash, signed on every write. Writers lock it to
    append in turn. Triggers refuse deleting it or moving it back (kernel/append_only.py)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    last_checkpoint_seq: Mapped[int] = mapped_column(BigInteger)
    last_checkpoint_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The cadence the last checkpoint promised; a writer configured otherwise signs a new one.
    cadence_events: Mapped[int | None] = mapped_column(Integer)
    cadence_minutes: Mapped[int | None] = mapped_column(Integer)
    # The first event written in the current format (events before it are format 1); a new
    # head starts at 1. Bound into the head's and every checkpoint's signature.
    format_since: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    key_id: Mapped[str | None] = mapped_column(String(16))
    signature: Mapped[str | None] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed (seq, head hash): catches a cut-off tail or a rewritten suffix. Format-2
    checkpoints also sign the cadence they promise (NULL on format-1 checkpoints)."""

    __tablename__ = "audit_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))
    cadence_events: Mapped[int | None] = mapped_column(Integer)
    cadence_minutes: Mapped[int | None] = mapped_column(Integer)


class AuditTimestamp(Base):
    """An RFC 3161 time-stamp token on a signed checkpoint's chain head: a time-stamping
    authority outside the service witnessed (seq, head hash) at `stamped_at`, so a history
    rewritten later, even with the checkpoint key, no longer matches (audit/witness.py)."""

    __tablename__ = "audit_timestamp"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    # The DER time-stamp response as the authority sent it (token and its certificates).
    token: Mapped[bytes] = mapped_column(LargeBinary)
    authority: Mapped[str] = mapped_column(String(500))
    stamped_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SavedSearch(Base):
    """A search of the trail a person runs again and again, named by them (their own only)."""

    __tablename__ = "audit_saved_search"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(2000))  # the filters, as a query string
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


def of_type(*kinds: str) -> ColumnElement[bool]:
    """Events of these types, in SQL the planner matches to `ix_audit_event_rare_type` when
    none of them is the bulk's type (a bound value alone would not let it use the index)."""
    column = AuditEvent.event_type
    condition = column == kinds[0] if len(kinds) == 1 else column.in_(list(kinds))
    if not kinds or BULK_TYPE in kinds:
        return condition
    return and_(condition, column != literal_column(f"'{BULK_TYPE}'"))


def with_outcome(outcome: str) -> ColumnElement[bool]:
    """Events of this outcome, matched to `ix_audit_event_rare_outcome` (see `of_type`)."""
    column = AuditEvent.outcome
    condition = column == outcome
    if outcome == BULK_OUTCOME:
        return condition
    return and_(condition, column != literal_column(f"'{BULK_OUTCOME}'"))
