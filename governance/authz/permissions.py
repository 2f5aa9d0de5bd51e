"""Every workflow permission, named once as `resource:action`, with what it lets a person do.

The same strings appear in policies/roles.csv; a test fails if the two disagree. Access to
dataset rows is not a static permission: it is decided per column from the stored grants.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    USER_MANAGE = "user:manage"
    TRAINING_RECORD = "training:record"
    ORGANIZATION_MANAGE = "organization:manage"
    AGREEMENT_READ_ALL = "agreement:read_all"
    AGREEMENT_DRAFT = "agreement:draft"
    AGREEMENT_REVIEW = "agreement:review"
    AGREEMENT_EXECUTE = "agreement:execute"
    AGREEMENT_TERMINATE = "agreement:terminate"
    AGREEMENT_CERTIFY_DESTRUCTION = "agreement:certify_destruction"
    DATASET_MANAGE = "dataset:manage"
    DATASET_INGEST = "dataset:ingest"
    DATASET_SET_DATA_USE = "dataset:set_data_use"
    DATASET_READ = "dataset:read"
    DATASET_APPROVE_RECLASSIFICATION = "dataset:approve_reclassification"
    ACCESS_REQUEST_CREATE = "access_request:create"
    ACCESS_REQUEST_REVIEW = "access_request:review"
    ACCESS_REQUEST_APPROVE_IDENTIFIERS = "access_request:approve_identifiers"
    GRANT_REVOKE = "grant:revoke"
    GRANT_REVIEW = "grant:review"
    GRANT_OVERSEE = "grant:oversee"
    AUDIT_READ = "audit:read"
    AUDIT_EXPORT = "audit:export"
    AUDIT_VERIFY = "audit:verify"
    ANALYSIS_RUN = "analysis:run"
    OUTPUT_CHECK = "output:check"
    OUTPUT_PREVIEW = "output:preview"
    OUTPUT_PUBLISH = "output:publish"
    OUTPUT_RESOLVE = "output:resolve"
    MAIL_READ_OUTBOX = "mail:read_outbox"
    TOKEN_CREATE = "token:create"  # noqa: S105  (a permission name, not a secret)
    SESSION_END_ANY = "session:end_any"
    ACCOUNT_RESET = "account:reset"
    ROLE_APPROVE = "role:approve"
    ROLE_OVERSEE = "role:oversee"
    ETHICS_RECORD = "ethics:record"
    INCIDENT_REPORT = "incident:report"
    INCIDENT_MANAGE = "incident:manage"
    COMPLIANCE_MANAGE = "compliance:manage"
    IDENTITY_CONFIGURE = "identity:configure"
    COMMITTEE_MANAGE = "committee:manage"
    WEBHOOK_MANAGE = "webhook:manage"
    METRICS_READ = "metrics:read"

    @property
    def description(self) -> str:
        return PERMISSION_DESCRIPTIONS[self]


PERMISSION_DESCRIPTIONS = {
    Permission.COMMITTEE_MANAGE: "Create data access committees, add and remove their "
    "members, set their decision rule and name the committee that decides for an agreement, "
    "a dataset or an organisation.",
    Permission.ETHICS_RECORD: "Record an ethics board's approval of a project, from its letter.",
    Permission.INCIDENT_REPORT: "Report a suspected incident.",
    Permission.INCIDENT_MANAGE: "Freeze, notify about and close incidents.",
    Permission.COMPLIANCE_MANAGE: "Open and close annual audit periods, run their access "
    "certification campaigns and export the controls report.",
    Permission.IDENTITY_CONFIGURE: "Map external groups to roles, issue SCIM tokens and "
    "switch local passwords off per organisation.",
    Permission.WEBHOOK_MANAGE: "Register the endpoints that receive lifecycle events "
    "(webhooks), switch them on and off, read their delivery logs and send messages again.",
    Permission.METRICS_READ: "See the governance metrics: requests and their turnaround, "
    "overdue tasks by owner, expiring agreements, unreviewed grants and output checks.",
    Permission.USER_MANAGE: "Create accounts, set roles and organisations, deactivate.",
    Permission.TRAINING_RECORD: "Record a person's privacy and security training.",
    Permission.ORGANIZATION_MANAGE: "Register research and provider organisations.",
    Permission.AGREEMENT_READ_ALL: "See every agreement, not only one's own.",
    Permission.AGREEMENT_DRAFT: "Draft, edit, submit and amend agreements.",
    Permission.AGREEMENT_REVIEW: "Approve or return an agreement someone else drafted.",
    Permission.AGREEMENT_EXECUTE: "Record the provider's countersignature of an approved "
    "agreement (its execution).",
    Permission.AGREEMENT_TERMINATE: "Terminate an active agreement, with a reason.",
    Permission.AGREEMENT_CERTIFY_DESTRUCTION: "Certify that data was destroyed and close the "
    "agreement.",
    Permission.DATASET_MANAGE: "Declare datasets, their schema and their stewards.",
    Permission.DATASET_INGEST: "Upload a new version of a dataset one stewards.",
    Permission.DATASET_SET_DATA_USE: "State the data-use conditions (GA4GH DUO terms) of a "
    "dataset one stewards.",
    Permission.DATASET_READ: "Hold grants and read the granted columns of dataset rows.",
    Permission.DATASET_APPROVE_RECLASSIFICATION: "Approve or reject lowering a stored column's "
    "classification (the second person).",
    Permission.ACCESS_REQUEST_CREATE: "Ask for access to columns of a dataset.",
    Permission.ACCESS_REQUEST_REVIEW: "Approve, narrow, deny or return requests as a data steward.",
    Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS: "Give the second approval that direct "
    "identifiers need.",
    Permission.GRANT_REVOKE: "Revoke a grant before it ends.",
    Permission.GRANT_REVIEW: "Confirm or narrow grants in the periodic access review.",
    Permission.GRANT_OVERSEE: "See every grant and which are overdue for review.",
    Permission.AUDIT_READ: "Search the audit trail.",
    Permission.AUDIT_EXPORT: "Export the audit trail and audit reports.",
    Permission.AUDIT_VERIFY: "Verify the audit chain and its signed checkpoints.",
    Permission.ANALYSIS_RUN: "Run analyses inside an approved scope.",
    Permission.OUTPUT_CHECK: "Check outputs for disclosure before they leave the project.",
    Permission.OUTPUT_PREVIEW: "Preview outputs as the data provider's partner reviewer.",
    Permission.OUTPUT_PUBLISH: "Publish cleared outputs on the public page.",
    Permission.OUTPUT_RESOLVE: "Close a partner's answered flag once the preview window has "
    "ended without the partner's response.",
    Permission.MAIL_READ_OUTBOX: "Search the outbox: every e-mail sent, its kind, status and "
    "attempts (not its body).",
    Permission.TOKEN_CREATE: "Create personal API tokens.",
    Permission.SESSION_END_ANY: "See anyone's signed-in sessions and sign them out everywhere.",
    Permission.ACCOUNT_RESET: "Send a person a single-use password-reset link (without ever "
    "knowing the new password) and unlock a locked account.",
    Permission.ROLE_APPROVE: "Approve or reject another administrator's request to grant a "
    "role that carries approval or audit powers.",
    Permission.ROLE_OVERSEE: "See every role change, applied and waiting, with who asked and "
    "who approved.",
}

# The powers that let a person approve, check, oversee or audit other people's work, or decide
# who holds such powers. A role whose permissions include any of them is granted only with a
# second administrator's approval (identity/role_changes.py); the list is of permissions, not
# roles, so a policy change that gives a role such a power brings the rule with it.
APPROVAL_AND_AUDIT_POWERS = frozenset(
    {
        Permission.USER_MANAGE,
        Permission.TRAINING_RECORD,
        Permission.ROLE_APPROVE,
        Permission.ROLE_OVERSEE,
        Permission.SESSION_END_ANY,
        Permission.ACCOUNT_RESET,
        Permission.IDENTITY_CONFIGURE,
        Permission.AGREEMENT_REVIEW,
        Permission.AGREEMENT_EXECUTE,
        Permission.AGREEMENT_TERMINATE,
        Permission.AGREEMENT_CERTIFY_DESTRUCTION,
        Permission.DATASET_MANAGE,
        Permission.ACCESS_REQUEST_REVIEW,
        Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS,
        Permission.GRANT_REVOKE,
        Permission.GRANT_REVIEW,
        Permission.GRANT_OVERSEE,
        Permission.AUDIT_READ,
        Permission.AUDIT_EXPORT,
        Permission.AUDIT_VERIFY,
        Permission.COMPLIANCE_MANAGE,
        Permission.METRICS_READ,
        Permission.OUTPUT_CHECK,
        Permission.OUTPUT_PUBLISH,
        Permission.OUTPUT_RESOLVE,
        # The provider's own review of outputs before release (a partner may flag them), and
        # its reach is the holder's agency: one administrator who could grant it, or move its
        # holder, would choose whose unreleased outputs someone sees (identity/role_changes.py).
        Permission.OUTPUT_PREVIEW,
    }
)
