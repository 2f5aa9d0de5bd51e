"""The keyed seals of the rows that decide who someone is and what they may do, so that someone
with the database but not the key files cannot give a role, move a person, or take over an
account by writing rows (kernel/row_seals.py says how a seal is made; kernel/sealed_kinds.py
seals these kinds at every write of the application).

What each seal covers, and where it is checked:

* an account (`user_account`): its e-mail, organisation, password hash and whether it is
  active. Checked at password sign-in, at every page (with the session) and every API request
  (with the token), and at single sign-on: an account whose seal fails does not sign in or
  act. A DBA who writes a password hash they know, moves someone to another organisation,
  reactivates an account or gives it their own e-mail gets an account nobody can use;
* a role (`user_role`): whose it is. Checked when a person's roles are loaded (`role_set`):
  a role row whose seal fails gives nothing, and a refusal it causes names rule `role-seal`;
* an API token, a SCIM token, a session: whose it is, the digest of its secret, its expiry (a
  session: how and when it began). A row inserted with a secret the DBA knows, or someone
  else's token moved to an account, authenticates nobody. Whether it was revoked or ended is
  not covered: un-ending one gives nothing to whoever does not hold its secret;
* an account link (password reset, unlock): whose it is, what for, its digest and expiry;
* a TOTP credential and recovery codes: whose they are and the secret or hash;
* a single sign-on link (`external_identity`): which provider subject signs in as whom;
* a group mapping: which group gives which role or organisation, and whether it was
  approved;
* an organisation: its kind (a provider agency's people may be partner reviewers and see only
  its datasets) and whether its people may sign in with local passwords. Checked at password
  sign-in (a broken seal counts as passwords off, rule `organisation-seal`), where a partner
  reviewer is placed (a broken seal is no provider agency).

Rows from before seals were kept are sealed once, by `governance init` (access/seals.py
`seal_unsealed_once`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import null
from sqlalchemy.orm import Session, object_session

from governance.identity.account_link_model import AccountLink
from governance.identity.group_mapping_model import GroupMapping
from governance.identity.models import User, UserRole
from governance.identity.organization_model import Organization, OrganizationKind
from governance.identity.scim_model import ScimToken
from governance.identity.second_factor_model import RecoveryCode, TotpCredential
from governance.identity.session_model import UserSession
from governance.identity.sso_model import ExternalIdentity
from governance.identity.token_model import ApiToken
from governance.kernel import sealed_kinds
from governance.kernel.sealed_kinds import SealedKind

log = logging.getLogger(__name__)

ROLE_SEAL_RULE = "role-seal"
ACCOUNT_SEAL_RULE = "account-seal"
CREDENTIAL_SEAL_RULE = "credential-seal"
ORGANIZATION_SEAL_RULE = "organisation-seal"

# What an alert on a broken row tells whoever handles it to do (beyond finding who had the
# database): a secret the database held only as a digest is simply ended and issued again.
CREDENTIAL_REMEDY = "revoke or end it; its owner signs in again or is issued a new one"
FACTOR_REMEDY = (
    "remove it, and have its owner enrol or link again through the service, proving who they are"
)
MAPPING_REMEDY = "delete it, and map the group again through the service if it was meant"

ACCOUNT = SealedKind(
    "user_account",
    User,
    (User.id, User.email, User.organization_id, User.password_hash, User.active),
    ACCOUNT_SEAL_RULE,
    "Account",
    User.id,
    lambda: User.active.is_(True),
    # A changed password hash or organisation cannot be told apart from the person's own:
    # only a copy from before the change (with its seal) or a new account is trusted.
    "restore its row, with its seal, from a trusted copy from before the change, or "
    "deactivate it and give the person a new account",
)
ROLE = SealedKind(
    "user_role",
    UserRole,
    (UserRole.user_id, UserRole.role),
    ROLE_SEAL_RULE,
    "Role",
    UserRole.user_id,
    remedy="remove the role, and give it again through the service (a second "
    "administrator approves) if it was meant",
)
API_TOKEN = SealedKind(
    "api_token",
    ApiToken,
    (ApiToken.id, ApiToken.user_id, ApiToken.secret_sha256, ApiToken.expires_at),
    CREDENTIAL_SEAL_RULE,
    "API token",
    ApiToken.user_id,
    lambda: ApiToken.revoked_at.is_(None),
    remedy=CREDENTIAL_REMEDY,
)
SESSION = SealedKind(
    "user_session",
    UserSession,
    (
        UserSession.id,
        UserSession.user_id,
        UserSession.secret_sha256,
        UserSession.method,
        UserSession.created_at,
        UserSession.authenticated_at,
    ),
    CREDENTIAL_SEAL_RULE,
    "Session",
    UserSession.user_id,
    lambda: UserSession.ended_at.is_(None),
    remedy=CREDENTIAL_REMEDY,
)
SCIM_TOKEN = SealedKind(
    "scim_token",
    ScimToken,
    (ScimToken.id, ScimToken.secret_sha256, ScimToken.created_by_id, ScimToken.expires_at),
    CREDENTIAL_SEAL_RULE,
    "SCIM token",
    ScimToken.created_by_id,
    lambda: ScimToken.revoked_at.is_(None),
    remedy=CREDENTIAL_REMEDY,
)
ACCOUNT_LINK = SealedKind(
    "account_link",
    AccountLink,
    (
        AccountLink.id,
        AccountLink.user_id,
        AccountLink.purpose,
        AccountLink.secret_sha256,
        AccountLink.expires_at,
    ),
    CREDENTIAL_SEAL_RULE,
    "Account link",
    AccountLink.user_id,
    lambda: AccountLink.closed_at.is_(None),
    remedy=CREDENTIAL_REMEDY,
)
TOTP = SealedKind(
    "totp_credential",
    TotpCredential,
    (
        TotpCredential.user_id,
        TotpCredential.sealed_secret,
        TotpCredential.key_id,
        TotpCredential.confirmed_at,
    ),
    CREDENTIAL_SEAL_RULE,
    "Second factor",
    TotpCredential.user_id,
    remedy=FACTOR_REMEDY,
)
RECOVERY_CODE = SealedKind(
    "recovery_code",
    RecoveryCode,
    (RecoveryCode.id, RecoveryCode.user_id, RecoveryCode.code_hash),
    CREDENTIAL_SEAL_RULE,
    "Recovery code",
    RecoveryCode.user_id,
    lambda: RecoveryCode.used_at.is_(None),
    remedy=FACTOR_REMEDY,
)
EXTERNAL_IDENTITY = SealedKind(
    "external_identity",
    ExternalIdentity,
    (
        ExternalIdentity.id,
        ExternalIdentity.user_id,
        ExternalIdentity.issuer,
        ExternalIdentity.subject,
    ),
    CREDENTIAL_SEAL_RULE,
    "Single sign-on link",
    ExternalIdentity.user_id,
    remedy=FACTOR_REMEDY,
)
GROUP_MAPPING = SealedKind(
    "group_mapping",
    GroupMapping,
    (
        GroupMapping.id,
        GroupMapping.source,
        GroupMapping.external_group,
        GroupMapping.role,
        GroupMapping.organization_id,
        GroupMapping.approved_at,
    ),
    ROLE_SEAL_RULE,
    "Group mapping",
    GroupMapping.created_by_id,
    remedy=MAPPING_REMEDY,
)

ORGANIZATION = SealedKind(
    "organization",
    Organization,
    (Organization.id, Organization.kind, Organization.local_passwords),
    ORGANIZATION_SEAL_RULE,
    "Organisation",
    null(),  # an organisation is about no one person
    # Put back to what the trail last records (the service's own switch does it for the
    # local passwords), its old seal holds again; any other value stays refused.
    remedy="set its kind and local-passwords switch back to what the audit trail last "
    "records, or restore its row, with its seal, from a trusted copy",
)

#: The identity kinds, in the order `governance init` seals them (registered with
#: kernel/sealed_kinds.py by registry.py, as everything the application wires together).
KINDS = (
    ACCOUNT,
    ROLE,
    API_TOKEN,
    SESSION,
    SCIM_TOKEN,
    ACCOUNT_LINK,
    TOTP,
    RECOVERY_CODE,
    EXTERNAL_IDENTITY,
    GROUP_MAPPING,
    ORGANIZATION,
)


def holds(session: Session, kind: SealedKind, row: Any) -> bool:
    """Whether this row is as the application last wrote it; logs the ones that are not."""
    if sealed_kinds.holds(session, kind, row):
        return True
    log.warning("%s row %s fails its seal check", kind.kind, sealed_kinds.content(kind, row)[0])
    return False


def account_holds(session: Session, user: User) -> bool:
    return holds(session, ACCOUNT, user)


# A role whose seal fails gives nothing (`User.role_set`).
sealed_kinds.flag_broken_on_load(ROLE)


def organization_holds(organization: Organization) -> bool:
    """Whether the organisation's kind and local-passwords switch are as the service last
    wrote them; without a session to check it by, no (fail closed)."""
    session = object_session(organization)
    if session is None or organization.id is None:
        return False
    try:
        # As stored (one query): an instance written in this transaction does not carry
        # the seal the flush stored beside it.
        if ORGANIZATION.held(session, [(organization.id,)]):
            return True
    except RuntimeError:  # a session without key rings: nothing can be checked
        return False
    log.warning("organization row %s fails its seal check", organization.id)
    return False


def is_provider(organization: Organization) -> bool:
    """A provider agency, by a kind whose seal holds: a research organisation made a provider
    by SQL is none (its staff could otherwise be placed as partner reviewers)."""
    return organization.kind == OrganizationKind.PROVIDER and organization_holds(organization)


def local_passwords_on(organization: Organization) -> bool:
    """Whether the organisation's people may sign in with local passwords: a switch turned on
    by SQL (or any other change outside the service) counts as off."""
    return bool(organization.local_passwords) and organization_holds(organization)
