"""The one route x role matrix: every route of the app, pages and API alike, for every role
and for anonymous visitors, answers with the class of answer this table declares.

The routes are read from the app's URL map: a new route without a line here fails the first
test. Objects named in addresses belong to another research organisation's agreement (see
tests/api/scenario.py), so the table says who may see or touch what is not theirs. Answers are
classed, not matched exactly: `OK` means the request got past authorisation (it may still be
a 409 or 422 because of the object's state or the data sent), `DENIED` is 403, `HIDDEN` 404,
`LOGIN` a redirect to the login page and `UNAUTH` a 401. Lifecycle actions aim at a closed
agreement, so a role allowed to act gets 409 there and nothing changes under later lines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import attachments
from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.committees import service as committee_service
from governance.committees.models import CommitteeCase
from governance.compliance import periods
from governance.incidents import service as incidents
from governance.kernel.reports import pdf
from governance.kernel.types import utcnow
from tests.agreements.builders import terms
from tests.api.scenario import World, build_world
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

OK, DENIED, HIDDEN, LOGIN, UNAUTH = "ok", "403", "404", "login", "401"
ROLES = ("admin", "privacy", "steward", "compliance", "analyst", "partner", "checker")
EVERYONE = frozenset(ROLES)


@dataclass
class Objects:
    """What the addresses name: another organisation's objects."""

    world: World
    closed: Agreement
    incident_id: int = 0  # the outsider's, under `closed`, already closed
    clock_id: int = 0
    period_id: int = 0  # an audit period, closed after its campaign
    item_id: int = 0  # its certification item for the analyst's grant (the steward's)
    attachment_id: int = 0  # filed with `closed`, destroyed with its data
    committee_id: int = 0  # the other organisation's committee, none of the roles a member
    case_id: int = 0  # its case on the outsider's request, already decided

    def __getattr__(self, name: str) -> Any:
        return getattr(self.world, name)


@dataclass(frozen=True)
class Probe:
    """How to call a route, and the answer each role gets: `OK` for the roles in `allowed`,
    `others` for every other logged-in role unless `special` says otherwise."""

    url: Callable[[Objects], str]
    allowed: frozenset[str] = frozenset()
    others: str = DENIED
    special: Mapping[str, str] = field(default_factory=dict)
    data: Callable[[Objects], dict[str, Any]] | None = None
    upload: bool = False
    anonymous: str | None = None  # default: LOGIN for pages, UNAUTH for the API

    def expected(self, role: str, api: bool) -> str:
        if role == "anonymous":
            return self.anonymous or (UNAUTH if api else LOGIN)
        if role in self.special:
            return self.special[role]
        return OK if role in self.allowed else self.others


def roles(*keys: str) -> frozenset[str]:
    return frozenset(keys)


AUDITORS = roles("privacy", "compliance")
COMMITTEE_MANAGERS = roles("admin", "privacy")
CHECKERS = roles("privacy", "checker")  # output:check
MANAGERS = roles("admin", "steward")  # dataset:manage
# Who sees another organisation's request or grant (the overseers): refused an action they may
# not take (403), where everyone else is answered as for a missing id (404).
SEERS = dict.fromkeys(AUDITORS, DENIED)
# Who sees another organisation's run or output (checkers and privacy officers): refused an
# action they may not take (403), where everyone else is answered as for a missing id (404).
CHECKERS_SEE = dict.fromkeys(CHECKERS, DENIED)


def seen_by_checkers(url: Callable[[Objects], str], **kwargs: Any) -> Probe:
    """An action on another organisation's output that nobody here may take: the checkers who
    see it are refused (403), everyone else is answered as for a missing output (404)."""
    return Probe(url, others=HIDDEN, special=CHECKERS_SEE, **kwargs)


def privacy_only(url: Callable[[Objects], str], **kwargs: Any) -> Probe:
    """An action on another organisation's output that privacy officers take: the output
    checker sees it but is refused (403), everyone else is answered 404."""
    return Probe(url, roles("privacy"), HIDDEN, special={"checker": DENIED}, **kwargs)


A = "/api/v1"


def closed(path: str) -> Callable[[Objects], str]:
    return lambda o: f"/agreements/{o.closed.id}/{path}"


def api_closed(path: str) -> Callable[[Objects], str]:
    return lambda o: f"{A}/agreements/{o.closed.id}/{path}"


def fixed(value: dict[str, Any]) -> Callable[[Objects], dict[str, Any]]:
    return lambda _o: value


def upload_file(_o: Objects) -> dict[str, Any]:
    return {"file": (io.BytesIO(b"person_id,sex\nS1,F\n"), "supervision.csv")}


TABLE: dict[tuple[str, str], Probe] = {
    # public
    ("static", "GET"): Probe(lambda o: "/static/app.css", EVERYONE, anonymous=OK),
    ("auth.login", "GET"): Probe(lambda o: "/login", EVERYONE, anonymous=OK),
    ("auth.login", "POST"): Probe(lambda o: "/login", EVERYONE, anonymous=OK),
    ("api.openapi", "GET"): Probe(lambda o: f"{A}/openapi.json", EVERYONE, anonymous=OK),
    # dashboards
    ("dashboard.home", "GET"): Probe(lambda o: "/", EVERYONE),
    ("dashboard.for_role", "GET"): Probe(lambda o: "/dashboard/analyst", roles("analyst")),
    # people and organisations
    ("admin.users", "GET"): Probe(lambda o: "/admin/users", roles("admin", "compliance")),
    ("admin.new_user", "GET"): Probe(lambda o: "/admin/users/new", roles("admin")),
    ("admin.new_user", "POST"): Probe(lambda o: "/admin/users/new", roles("admin")),
    ("admin.user_detail", "GET"): Probe(
        lambda o: f"/admin/users/{o.outsider.id}", roles("admin", "compliance")
    ),
    ("admin.user_detail", "POST"): Probe(
        lambda o: f"/admin/users/{o.outsider.id}",
        roles("admin"),
        data=lambda o: {
            "edit-name": "Outsider",
            "edit-organization_id": o.outsider.organization_id,
            "edit-roles": ["analyst"],
        },
    ),
    ("admin.set_active", "POST"): Probe(
        lambda o: f"/admin/users/{o.outsider.id}/active", roles("admin")
    ),
    ("admin.add_training", "POST"): Probe(
        lambda o: f"/admin/users/{o.outsider.id}/training", roles("admin", "compliance")
    ),
    ("admin.sign_out", "POST"): Probe(
        lambda o: f"/admin/users/{o.outsider.id}/sign-out", roles("admin")
    ),
    ("admin.send_reset_link", "POST"): Probe(
        lambda o: f"/admin/users/{o.outsider.id}/reset-link", roles("admin")
    ),
    ("admin.unlock_user", "POST"): Probe(
        lambda o: f"/admin/users/{o.outsider.id}/unlock", roles("admin")
    ),
    # Role changes: row 2 is the set-up's grant of the privacy officer's role, already applied
    # (so 409 for the administrators who may decide).
    ("admin.role_changes_page", "GET"): Probe(
        lambda o: "/admin/role-changes", roles("admin", "privacy", "compliance")
    ),
    ("admin.approve_role", "POST"): Probe(
        lambda o: "/admin/role-changes/2/approve", roles("admin")
    ),
    ("admin.reject_role", "POST"): Probe(lambda o: "/admin/role-changes/2/reject", roles("admin")),
    # your own account; the pages behind e-mailed links answer 404 to an unknown link
    ("account.index", "GET"): Probe(lambda o: "/account/", EVERYONE),
    ("mail.preferences", "GET"): Probe(lambda o: "/account/mail", EVERYONE),
    ("mail.preferences", "POST"): Probe(lambda o: "/account/mail", EVERYONE),
    ("mail.outbox", "GET"): Probe(lambda o: "/admin/outbox", roles("admin")),
    ("two_factor.enrol", "GET"): Probe(lambda o: "/account/two-factor", EVERYONE),
    ("two_factor.start", "POST"): Probe(lambda o: "/account/two-factor/start", EVERYONE),
    ("two_factor.confirm", "POST"): Probe(lambda o: "/account/two-factor/confirm", EVERYONE),
    # nobody in the world has a second factor: each answers 409, "none is set up"
    ("two_factor.disable", "POST"): Probe(lambda o: "/account/two-factor/disable", EVERYONE),
    ("two_factor.regenerate_codes", "POST"): Probe(
        lambda o: "/account/two-factor/recovery-codes", EVERYONE
    ),
    # without a right password first, the second step sends everyone back to the login page
    ("two_factor.login_code", "GET"): Probe(
        lambda o: "/login/second-factor", others=LOGIN, anonymous=LOGIN
    ),
    ("two_factor.login_code", "POST"): Probe(
        lambda o: "/login/second-factor", others=LOGIN, anonymous=LOGIN
    ),
    ("account.change_password", "POST"): Probe(lambda o: "/account/password", EVERYONE),
    ("account.reauthenticate", "GET"): Probe(lambda o: "/account/reauthenticate", EVERYONE),
    ("account.reauthenticate", "POST"): Probe(lambda o: "/account/reauthenticate", EVERYONE),
    ("account.reset_password", "GET"): Probe(
        lambda o: "/reset/unknown", others=HIDDEN, anonymous=HIDDEN
    ),
    ("account.reset_password", "POST"): Probe(
        lambda o: "/reset/unknown", others=HIDDEN, anonymous=HIDDEN
    ),
    ("account.unlock", "GET"): Probe(lambda o: "/unlock/unknown", others=HIDDEN, anonymous=HIDDEN),
    # single sign-on: no provider is configured here, so every provider key is unknown
    ("sso.oidc_start", "GET"): Probe(
        lambda o: "/login/oidc/unknown", others=HIDDEN, anonymous=HIDDEN
    ),
    ("sso.oidc_callback", "GET"): Probe(
        lambda o: "/login/oidc/unknown/callback", others=HIDDEN, anonymous=HIDDEN
    ),
    ("sso.link_provider", "POST"): Probe(lambda o: "/account/link/unknown", others=HIDDEN),
    ("sso.saml_start", "GET"): Probe(
        lambda o: "/login/saml/unknown", others=HIDDEN, anonymous=HIDDEN
    ),
    ("sso.saml_acs", "POST"): Probe(lambda o: "/saml/unknown/acs", others=HIDDEN, anonymous=HIDDEN),
    ("sso.saml_metadata", "GET"): Probe(
        lambda o: "/saml/unknown/metadata", others=HIDDEN, anonymous=HIDDEN
    ),
    ("account.unlock", "POST"): Probe(lambda o: "/unlock/unknown", others=HIDDEN, anonymous=HIDDEN),
    ("admin.organizations", "GET"): Probe(lambda o: "/admin/organizations", roles("admin")),
    ("admin.organizations", "POST"): Probe(
        lambda o: "/admin/organizations",
        roles("admin"),
        data=fixed({"name": "Matrix Agency", "kind": "provider"}),
    ),
    # identity: group mappings (number 999999 does not exist: 404 past the permission check)
    ("identity_admin.group_mappings", "GET"): Probe(
        lambda o: "/admin/identity/groups", roles("admin")
    ),
    ("identity_admin.group_mappings", "POST"): Probe(
        lambda o: "/admin/identity/groups", roles("admin")
    ),
    ("identity_admin.approve_mapping", "POST"): Probe(
        lambda o: "/admin/identity/groups/999999/approve", special={"admin": HIDDEN}
    ),
    ("identity_admin.delete_mapping", "POST"): Probe(
        lambda o: "/admin/identity/groups/999999/delete", special={"admin": HIDDEN}
    ),
    ("api.list_group_mappings", "GET"): Probe(lambda o: f"{A}/group-mappings", roles("admin")),
    ("api.create_group_mapping", "POST"): Probe(
        lambda o: f"{A}/group-mappings",
        roles("admin"),
        data=fixed({"source": "matrix", "external_group": "m", "role": "analyst"}),
    ),
    ("api.approve_group_mapping", "POST"): Probe(
        lambda o: f"{A}/group-mappings/999999/approve", special={"admin": HIDDEN}
    ),
    ("api.delete_group_mapping", "DELETE"): Probe(
        lambda o: f"{A}/group-mappings/999999", special={"admin": HIDDEN}
    ),
    # webhooks (administrators; number 999999 does not exist: 404 past the permission check;
    # the endpoint offered is internal, so an allowed registration is refused as bad data)
    ("webhooks.index", "GET"): Probe(lambda o: "/webhooks/", roles("admin")),
    ("webhooks.create", "POST"): Probe(
        lambda o: "/webhooks/",
        roles("admin"),
        data=fixed({"url": "https://10.0.0.1/", "event_types": "org.governance.grant.started"}),
    ),
    ("webhooks.show", "GET"): Probe(lambda o: "/webhooks/999999", special={"admin": HIDDEN}),
    ("webhooks.enable", "POST"): Probe(
        lambda o: "/webhooks/999999/enable", special={"admin": HIDDEN}
    ),
    ("webhooks.disable", "POST"): Probe(
        lambda o: "/webhooks/999999/disable", special={"admin": HIDDEN}
    ),
    ("webhooks.redeliver", "POST"): Probe(
        lambda o: "/webhooks/deliveries/999999/redeliver", special={"admin": HIDDEN}
    ),
    ("api.list_webhooks", "GET"): Probe(lambda o: f"{A}/webhooks", roles("admin")),
    ("api.create_webhook", "POST"): Probe(
        lambda o: f"{A}/webhooks",
        roles("admin"),
        data=fixed({"url": "https://10.0.0.1/", "event_types": ["org.governance.grant.started"]}),
    ),
    ("api.webhook_deliveries", "GET"): Probe(
        lambda o: f"{A}/webhooks/999999/deliveries", special={"admin": HIDDEN}
    ),
    ("api.enable_webhook", "POST"): Probe(
        lambda o: f"{A}/webhooks/999999/enable", special={"admin": HIDDEN}
    ),
    ("api.disable_webhook", "POST"): Probe(
        lambda o: f"{A}/webhooks/999999/disable", special={"admin": HIDDEN}
    ),
    ("api.redeliver_webhook", "POST"): Probe(
        lambda o: f"{A}/webhook-deliveries/999999/redeliver", special={"admin": HIDDEN}
    ),
    ("identity_admin.scim_token_list", "GET"): Probe(
        lambda o: "/admin/identity/scim-tokens", roles("admin")
    ),
    ("identity_admin.scim_token_list", "POST"): Probe(
        lambda o: "/admin/identity/scim-tokens", roles("admin")
    ),
    ("identity_admin.revoke_scim_token", "POST"): Probe(
        lambda o: "/admin/identity/scim-tokens/999999/revoke", special={"admin": HIDDEN}
    ),
    ("identity_admin.sign_in_policy", "GET"): Probe(
        lambda o: "/admin/identity/sign-in", roles("admin")
    ),
    ("identity_admin.set_local_passwords", "POST"): Probe(
        lambda o: "/admin/identity/sign-in/999999", special={"admin": HIDDEN}
    ),
    # SCIM: only a SCIM token opens it, never a session or a personal API token
    ("scim.service_config", "GET"): Probe(
        lambda o: "/scim/v2/ServiceProviderConfig", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.list_resource_types", "GET"): Probe(
        lambda o: "/scim/v2/ResourceTypes", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.get_resource_type", "GET"): Probe(
        lambda o: "/scim/v2/ResourceTypes/User", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.list_schemas", "GET"): Probe(
        lambda o: "/scim/v2/Schemas", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.get_schema", "GET"): Probe(
        lambda o: "/scim/v2/Schemas/x", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.list_users", "GET"): Probe(lambda o: "/scim/v2/Users", others=UNAUTH, anonymous=UNAUTH),
    ("scim.create_user", "POST"): Probe(
        lambda o: "/scim/v2/Users", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.get_user", "GET"): Probe(lambda o: "/scim/v2/Users/1", others=UNAUTH, anonymous=UNAUTH),
    ("scim.replace_user", "PUT"): Probe(
        lambda o: "/scim/v2/Users/1", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.patch_user", "PATCH"): Probe(
        lambda o: "/scim/v2/Users/1", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.delete_user", "DELETE"): Probe(
        lambda o: "/scim/v2/Users/1", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.list_groups", "GET"): Probe(
        lambda o: "/scim/v2/Groups", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.create_group", "POST"): Probe(
        lambda o: "/scim/v2/Groups", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.get_group", "GET"): Probe(
        lambda o: "/scim/v2/Groups/1", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.replace_group", "PUT"): Probe(
        lambda o: "/scim/v2/Groups/1", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.patch_group", "PATCH"): Probe(
        lambda o: "/scim/v2/Groups/1", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.search_users", "POST"): Probe(
        lambda o: "/scim/v2/Users/.search", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.search_groups", "POST"): Probe(
        lambda o: "/scim/v2/Groups/.search", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.search_everything", "POST"): Probe(
        lambda o: "/scim/v2/.search", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.not_found", "GET"): Probe(lambda o: "/scim/v2/Nothing", others=UNAUTH, anonymous=UNAUTH),
    ("scim.not_found", "POST"): Probe(
        lambda o: "/scim/v2/Nothing", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.not_found", "PUT"): Probe(lambda o: "/scim/v2/Nothing", others=UNAUTH, anonymous=UNAUTH),
    ("scim.not_found", "PATCH"): Probe(
        lambda o: "/scim/v2/Nothing", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.not_found", "DELETE"): Probe(
        lambda o: "/scim/v2/Nothing", others=UNAUTH, anonymous=UNAUTH
    ),
    ("scim.delete_group", "DELETE"): Probe(
        lambda o: "/scim/v2/Groups/1", others=UNAUTH, anonymous=UNAUTH
    ),
    # tokens
    ("tokens.index", "GET"): Probe(lambda o: "/tokens/", EVERYONE),
    ("tokens.create", "POST"): Probe(lambda o: "/tokens/", EVERYONE),
    ("tokens.revoke", "POST"): Probe(
        lambda o: f"/tokens/{o.token_ids['outsider']}/revoke", roles("admin")
    ),
    ("api.me", "GET"): Probe(lambda o: f"{A}/me", EVERYONE),
    ("api.list_tokens", "GET"): Probe(lambda o: f"{A}/tokens", EVERYONE),
    ("api.revoke_token", "POST"): Probe(
        lambda o: f"{A}/tokens/{o.token_ids['outsider']}/revoke", roles("admin")
    ),
    # agreements: pages
    ("agreements.index", "GET"): Probe(lambda o: "/agreements/", EVERYONE),
    ("agreements.laws", "GET"): Probe(lambda o: "/agreements/laws", EVERYONE),
    ("agreements.laws", "POST"): Probe(
        lambda o: "/agreements/laws",
        roles("privacy"),
        data=fixed({"name": "Matrix State Act", "requirements": "Keep it safe."}),
    ),
    ("agreements.new", "GET"): Probe(lambda o: "/agreements/new", roles("privacy")),
    ("agreements.new", "POST"): Probe(lambda o: "/agreements/new", roles("privacy")),
    ("agreements.detail", "GET"): Probe(lambda o: f"/agreements/{o.theirs.id}", AUDITORS),
    ("agreements.pdf", "GET"): Probe(lambda o: f"/agreements/{o.theirs.id}/pdf", AUDITORS),
    ("agreements.odrl", "GET"): Probe(
        lambda o: f"/agreements/{o.theirs.id}/versions/1/odrl.jsonld", AUDITORS
    ),
    ("agreements.edit", "GET"): Probe(closed("edit"), roles("privacy")),
    ("agreements.edit", "POST"): Probe(closed("edit"), roles("privacy")),
    ("agreements.submit", "POST"): Probe(closed("submit"), roles("privacy")),
    ("agreements.return_to_draft", "POST"): Probe(closed("return"), roles("privacy")),
    ("agreements.approve", "POST"): Probe(closed("approve"), roles("privacy")),
    ("agreements.execute", "POST"): Probe(closed("execute"), roles("privacy")),
    ("agreements.amend", "POST"): Probe(closed("amend"), roles("privacy")),
    ("agreements.discard_amendment", "POST"): Probe(closed("discard-amendment"), roles("privacy")),
    ("agreements.terminate", "POST"): Probe(closed("terminate"), roles("privacy")),
    ("agreements.certify_destruction", "POST"): Probe(
        closed("certify-destruction"), roles("privacy")
    ),
    # obligations: personnel only (the closed agreement's are the outsider), ethics: privacy
    ("obligations.obligations", "GET"): Probe(
        lambda o: f"/agreements/{o.theirs.id}/obligations", AUDITORS
    ),
    ("obligations.accept", "POST"): Probe(
        closed("accept"), data=fixed({"version": "1", "password": "x"})
    ),
    ("obligations.attest", "POST"): Probe(
        closed("attest"), data=fixed({"still_needed": "y", "kept_terms": "y"})
    ),
    ("progress.reports", "GET"): Probe(lambda o: f"/agreements/{o.theirs.id}/progress", AUDITORS),
    # attachments: whoever sees the agreement sees them (the closed one's is destroyed: 409)
    ("attachments.attachments_page", "GET"): Probe(
        lambda o: f"/agreements/{o.theirs.id}/attachments", AUDITORS
    ),
    ("attachments.upload", "POST"): Probe(closed("attachments"), roles("privacy")),
    # the closed agreement's provider is the partner's organisation: a party sees its files
    ("attachments.file", "GET"): Probe(
        lambda o: f"/agreements/attachments/{o.attachment_id}", AUDITORS | roles("partner")
    ),
    # close-out: privacy officers and auditors see it; closing is refused (409) until it holds
    ("closeout.checklist", "GET"): Probe(closed("closeout"), AUDITORS),
    ("closeout.close", "POST"): Probe(closed("close"), roles("privacy")),
    ("progress.submit_progress", "POST"): Probe(
        closed("progress"), data=fixed({"period_end": "2026-06-01", "work_done": "x"})
    ),
    # a report that does not exist: past the permission check, a privacy officer gets 404
    ("progress.decide_progress", "POST"): Probe(
        lambda o: "/agreements/progress/424242/accept", special={"privacy": HIDDEN}
    ),
    ("access.training_report", "GET"): Probe(lambda o: "/access/training-report.csv", AUDITORS),
    ("obligations.record_ethics", "POST"): Probe(
        closed("ethics"),
        roles("privacy"),
        data=fixed(
            {
                "board": "REC",
                "reference": "R1",
                "approved_on": "2026-01-01",
                "expires_on": "2036-01-01",
            }
        ),
    ),
    # the annual audit: the compliance manager's; certification items are their stewards'
    # (the period is closed: those allowed get 409)
    ("compliance.index", "GET"): Probe(lambda o: "/compliance/", roles("compliance")),
    ("compliance.index", "POST"): Probe(
        lambda o: "/compliance/",
        roles("compliance"),
        data=fixed({"name": "Matrix", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}),
    ),
    ("compliance.period", "GET"): Probe(
        lambda o: f"/compliance/periods/{o.period_id}", roles("compliance")
    ),
    ("compliance.certify", "POST"): Probe(
        lambda o: f"/compliance/periods/{o.period_id}/certify",
        roles("compliance"),
        data=fixed({"certify_by": "2099-01-01"}),
    ),
    ("compliance.close", "POST"): Probe(
        lambda o: f"/compliance/periods/{o.period_id}/close", roles("compliance")
    ),
    ("compliance.training_page", "GET"): Probe(
        lambda o: f"/compliance/periods/{o.period_id}/training", roles("compliance")
    ),
    ("compliance.training_csv", "GET"): Probe(
        lambda o: f"/compliance/periods/{o.period_id}/training.csv", roles("compliance")
    ),
    ("compliance.certification_file", "GET"): Probe(
        lambda o: f"/compliance/periods/{o.period_id}/certification.csv", roles("compliance")
    ),
    ("compliance.controls_file", "GET"): Probe(
        lambda o: f"/compliance/periods/{o.period_id}/controls.csv", roles("compliance")
    ),
    ("compliance.certifications", "GET"): Probe(
        lambda o: "/compliance/certifications", roles("steward")
    ),
    ("compliance.decide", "POST"): Probe(
        lambda o: f"/compliance/certifications/{o.item_id}",
        roles("steward"),
        data=lambda o: {f"item{o.item_id}-decision": "confirm"},
    ),
    # committees: administered by committee:manage; cases seen by their members (and the
    # administrators), voted on by members only: no role here is one
    ("committees.index", "GET"): Probe(lambda o: "/committees/", COMMITTEE_MANAGERS),
    ("committees.index", "POST"): Probe(
        lambda o: "/committees/", COMMITTEE_MANAGERS, data=fixed({"name": ""})
    ),
    ("committees.detail", "GET"): Probe(
        lambda o: f"/committees/{o.committee_id}", COMMITTEE_MANAGERS
    ),
    ("committees.add_member", "POST"): Probe(
        lambda o: f"/committees/{o.committee_id}/members",
        COMMITTEE_MANAGERS,
        data=lambda o: {"member-user_id": str(o.people.checker.id), "member-role": "observer"},
    ),
    ("committees.remove_member", "POST"): Probe(
        lambda o: f"/committees/{o.committee_id}/members/{o.people.checker.id}/remove",
        COMMITTEE_MANAGERS,
    ),
    ("committees.set_rule", "POST"): Probe(
        lambda o: f"/committees/{o.committee_id}/rule",
        COMMITTEE_MANAGERS,
        data=fixed({"rule-rule": "majority", "rule-decision_days": "14"}),
    ),
    ("committees.assign", "POST"): Probe(
        lambda o: f"/committees/{o.committee_id}/assign",
        COMMITTEE_MANAGERS,
        data=lambda o: {"assign-subject_type": "agreement", "assign-subject_id": str(o.closed.id)},
    ),
    ("committees.case_page", "GET"): Probe(
        lambda o: f"/committees/cases/{o.case_id}", COMMITTEE_MANAGERS
    ),
    ("committees.vote", "POST"): Probe(
        lambda o: f"/committees/cases/{o.case_id}/vote", data=fixed({"vote-vote": "approve"})
    ),
    ("committees.recuse", "POST"): Probe(
        lambda o: f"/committees/cases/{o.case_id}/recuse", data=fixed({"recuse-reason": "x"})
    ),
    ("committees.decide_alone", "POST"): Probe(
        lambda o: f"/committees/cases/{o.case_id}/decide",
        data=fixed({"alone-decision": "approve", "alone-reason": "x"}),
    ),
    # an amendment's impact: privacy officers (agreement:review) and the agreement's
    # committee; the closed agreement has no amendment waiting (409 for those allowed)
    ("committees.amendment_impact", "GET"): Probe(
        lambda o: f"/committees/amendments/{o.closed.id}", roles("privacy")
    ),
    ("committees.approve_amendment", "POST"): Probe(
        lambda o: f"/committees/amendments/{o.closed.id}/approve",
        roles("privacy"),
        data=fixed({"approve-digest": "0" * 64}),
    ),
    ("api.amendment_impact", "GET"): Probe(
        lambda o: f"{A}/committees/amendments/{o.closed.id}/impact", roles("privacy")
    ),
    ("api.approve_amendment", "POST"): Probe(
        lambda o: f"{A}/committees/amendments/{o.closed.id}/approve",
        roles("privacy"),
        data=fixed({"digest": "0" * 64}),
    ),
    ("api.list_committees", "GET"): Probe(lambda o: f"{A}/committees", COMMITTEE_MANAGERS),
    ("api.create_committee", "POST"): Probe(
        lambda o: f"{A}/committees",
        COMMITTEE_MANAGERS,
        data=fixed({"name": "Matrix committee", "organization_id": 1, "rule": "majority"}),
    ),
    ("api.set_rule", "POST"): Probe(
        lambda o: f"{A}/committees/{o.committee_id}/rule",
        COMMITTEE_MANAGERS,
        data=fixed({"rule": "majority"}),
    ),
    ("api.add_member", "POST"): Probe(
        lambda o: f"{A}/committees/{o.committee_id}/members",
        COMMITTEE_MANAGERS,
        data=lambda o: {"user_id": o.people.checker.id, "role": "observer"},
    ),
    ("api.remove_member", "POST"): Probe(
        lambda o: f"{A}/committees/{o.committee_id}/members/{o.people.checker.id}/remove",
        COMMITTEE_MANAGERS,
    ),
    ("api.assign", "POST"): Probe(
        lambda o: f"{A}/committees/assignments",
        COMMITTEE_MANAGERS,
        data=lambda o: {
            "committee_id": o.committee_id,
            "subject_type": "agreement",
            "subject_id": o.closed.id,
        },
    ),
    ("api.get_case", "GET"): Probe(
        lambda o: f"{A}/committee-cases/{o.case_id}", COMMITTEE_MANAGERS
    ),
    ("api.vote", "POST"): Probe(
        lambda o: f"{A}/committee-cases/{o.case_id}/votes", data=fixed({"vote": "approve"})
    ),
    ("api.recuse", "POST"): Probe(
        lambda o: f"{A}/committee-cases/{o.case_id}/recusal", data=fixed({"reason": "x"})
    ),
    ("api.decide_alone", "POST"): Probe(
        lambda o: f"{A}/committee-cases/{o.case_id}/decision",
        data=fixed({"approve": True, "reason": "x"}),
    ),
    # governance metrics: metrics:read; the operators' scrape needs METRICS_TOKEN (unset: 404)
    ("metrics.index", "GET"): Probe(lambda o: "/governance-metrics/", AUDITORS),
    ("metrics.csv", "GET"): Probe(lambda o: "/governance-metrics/export.csv", AUDITORS),
    ("api.governance_metrics", "GET"): Probe(lambda o: f"{A}/metrics", AUDITORS),
    ("api.governance_metrics_csv", "GET"): Probe(lambda o: f"{A}/metrics/csv", AUDITORS),
    ("prometheus.scrape", "GET"): Probe(lambda o: "/metrics", others=HIDDEN, anonymous=HIDDEN),
    ("api.audit_period", "GET"): Probe(
        lambda o: f"{A}/compliance/periods/{o.period_id}", roles("compliance")
    ),
    ("api.my_certifications", "GET"): Probe(
        lambda o: f"{A}/compliance/certifications", roles("steward")
    ),
    ("api.certify_item", "POST"): Probe(
        lambda o: f"{A}/compliance/certifications/{o.item_id}",
        roles("steward"),
        data=fixed({"decision": "confirm"}),
    ),
    # incidents: anyone reports (an agreement one cannot see is not a valid choice: 422);
    # the case is the privacy officers' and its reporter's
    ("incidents.index", "GET"): Probe(lambda o: "/incidents/", EVERYONE),
    ("incidents.index", "POST"): Probe(
        lambda o: "/incidents/",
        EVERYONE,
        data=lambda o: {
            "kind": "lost_device",
            "agreement_ids": [str(o.closed.id)],
            "description": "Matrix.",
        },
    ),
    ("incidents.detail", "GET"): Probe(lambda o: f"/incidents/{o.incident_id}", roles("privacy")),
    ("incidents.freeze", "POST"): Probe(
        lambda o: f"/incidents/{o.incident_id}/freeze", roles("privacy")
    ),
    ("incidents.unfreeze", "POST"): Probe(
        lambda o: f"/incidents/{o.incident_id}/unfreeze", roles("privacy")
    ),
    ("incidents.sent", "POST"): Probe(
        lambda o: f"/incidents/{o.incident_id}/clocks/{o.clock_id}/sent", roles("privacy")
    ),
    ("incidents.acknowledged", "POST"): Probe(
        lambda o: f"/incidents/{o.incident_id}/clocks/{o.clock_id}/acknowledged", roles("privacy")
    ),
    ("incidents.close", "POST"): Probe(
        lambda o: f"/incidents/{o.incident_id}/close",
        roles("privacy"),
        data=fixed({"root_cause": "x", "actions_taken": "y"}),
    ),
    # agreements: API
    ("api.list_agreements", "GET"): Probe(lambda o: f"{A}/agreements", EVERYONE),
    ("api.get_agreement", "GET"): Probe(lambda o: f"{A}/agreements/{o.theirs.id}", AUDITORS),
    ("api.agreement_pdf", "GET"): Probe(lambda o: f"{A}/agreements/{o.theirs.id}/pdf", AUDITORS),
    ("api.agreement_odrl", "GET"): Probe(lambda o: f"{A}/agreements/{o.theirs.id}/odrl", AUDITORS),
    ("api.create_agreement", "POST"): Probe(
        lambda o: f"{A}/agreements",
        roles("privacy"),
        data=lambda o: {
            "provider_id": o.people.probation.id,
            "recipient_id": o.people.lab.id,
            "title": "Matrix",
            "purpose": "Matrix.",
            "effective_date": "2030-01-01",
            "expiry_date": "2030-12-31",
        },
    ),
    ("api.edit_agreement", "PATCH"): Probe(
        lambda o: f"{A}/agreements/{o.closed.id}", roles("privacy"), data=fixed({"title": "x"})
    ),
    ("api.submit_agreement", "POST"): Probe(api_closed("submit"), roles("privacy")),
    ("api.approve_agreement", "POST"): Probe(api_closed("approve"), roles("privacy")),
    ("api.execute_agreement", "POST"): Probe(
        api_closed("execute"),
        roles("privacy"),
        data=fixed(
            {
                "name": "Chief Dana Reyes",
                "title": "Chief of Police",
                "organisation": "Test Police",
                "signed_on": "2026-01-01",
                "signed_copy_reference": "RPD-1",
            }
        ),
    ),
    ("api.return_agreement", "POST"): Probe(
        api_closed("return"), roles("privacy"), data=fixed({"comment": "x"})
    ),
    ("api.amend_agreement", "POST"): Probe(
        api_closed("amend"), roles("privacy"), data=fixed({"reason": "x"})
    ),
    ("api.discard_amendment", "POST"): Probe(api_closed("discard-amendment"), roles("privacy")),
    ("api.terminate_agreement", "POST"): Probe(
        api_closed("terminate"), roles("privacy"), data=fixed({"reason": "x"})
    ),
    ("api.certify_destruction", "POST"): Probe(
        api_closed("certify-destruction"), roles("privacy"), data=fixed({"statement": "x"})
    ),
    # datasets and rows
    ("datasets.index", "GET"): Probe(lambda o: "/datasets/", EVERYONE),
    ("datasets.new", "GET"): Probe(lambda o: "/datasets/new", MANAGERS),
    ("datasets.new", "POST"): Probe(lambda o: "/datasets/new", MANAGERS),
    ("datasets.detail", "GET"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}", EVERYONE - {"partner"}, others=HIDDEN
    ),
    ("datasets.edit_schema", "GET"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}/schema", MANAGERS
    ),
    ("datasets.edit_schema", "POST"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}/schema", MANAGERS
    ),
    ("datasets.add_steward", "POST"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}/stewards",
        MANAGERS,
        data=lambda o: {"user_id": o.people.analyst.id},
    ),
    ("datasets.remove_steward", "POST"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}/stewards/{o.steward2.id}/remove", MANAGERS
    ),
    ("datasets.upload", "POST"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}/versions",
        special={"partner": HIDDEN},
        data=upload_file,
        upload=True,
    ),
    ("datasets.set_data_use", "POST"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}/data-use",
        special={"partner": HIDDEN},
        data=lambda o: {"permission": "DUO:0000042"},
    ),
    ("datasets.declare_lowest_values", "POST"): Probe(
        lambda o: f"/datasets/{o.datasets.probation.id}/lowest-values",
        special={"partner": HIDDEN},
        data=lambda o: {"reason": "The earliest possible value."},
    ),
    ("datasets.decide_reclassification", "POST"): Probe(
        lambda o: f"/datasets/reclassifications/{o.reclassification.id}/approve", roles("privacy")
    ),
    ("destruction.certificates", "GET"): Probe(lambda o: "/datasets/certificates", AUDITORS),
    ("destruction.certificate_pdf", "GET"): Probe(
        lambda o: f"/datasets/certificates/{o.certificate.id}.pdf", AUDITORS
    ),
    ("data.view", "GET"): Probe(
        lambda o: (
            f"/data/view?agreement={o.theirs.id}&dataset={o.datasets.probation.id}"
            "&purpose=descriptive"
        )
    ),
    ("data.download", "GET"): Probe(
        lambda o: (
            f"/data/download?agreement={o.theirs.id}&dataset={o.datasets.probation.id}"
            "&purpose=descriptive"
        )
    ),
    ("api.list_datasets", "GET"): Probe(lambda o: f"{A}/datasets", EVERYONE),
    ("api.approve_reclassification", "POST"): Probe(
        lambda o: f"{A}/reclassifications/{o.reclassification.id}/approve", roles("privacy")
    ),
    ("api.reject_reclassification", "POST"): Probe(
        lambda o: f"{A}/reclassifications/{o.reclassification.id}/reject", roles("privacy")
    ),
    ("api.get_dataset", "GET"): Probe(
        lambda o: f"{A}/datasets/{o.datasets.probation.id}", EVERYONE - {"partner"}, others=HIDDEN
    ),
    ("api.read_rows", "GET"): Probe(
        lambda o: (
            f"{A}/datasets/{o.datasets.probation.id}/rows?agreement={o.theirs.id}"
            "&purpose=descriptive"
        )
    ),
    ("api.upload_version", "POST"): Probe(
        lambda o: f"{A}/datasets/{o.datasets.probation.id}/versions",
        special={"partner": HIDDEN},
        data=upload_file,
        upload=True,
    ),
    ("api.set_data_use", "PUT"): Probe(
        lambda o: f"{A}/datasets/{o.datasets.probation.id}/data-use",
        special={"partner": HIDDEN},
        data=fixed({"permission": "DUO:0000042"}),
    ),
    ("api.declare_lowest_values", "PUT"): Probe(
        lambda o: f"{A}/datasets/{o.datasets.probation.id}/lowest-values",
        special={"partner": HIDDEN},
        data=fixed({"lowest_values": {}}),
    ),
    # access requests and grants: pages
    ("access.requests_list", "GET"): Probe(lambda o: "/access/requests", EVERYONE),
    ("access.requests", "GET"): Probe(lambda o: "/access/requests", EVERYONE),
    ("access.new_request", "GET"): Probe(lambda o: "/access/requests/new", roles("analyst")),
    ("access.new_request", "POST"): Probe(lambda o: "/access/requests/new", roles("analyst")),
    ("access.request_detail", "GET"): Probe(
        lambda o: f"/access/requests/{o.their_request.id}", AUDITORS, others=HIDDEN
    ),
    ("access.request_action", "POST"): Probe(
        lambda o: f"/access/requests/{o.their_request.id}/withdraw", others=HIDDEN, special=SEERS
    ),
    # Only the requester changes a returned request: those who may see it get 403.
    ("access.resubmit", "GET"): Probe(
        lambda o: f"/access/requests/{o.their_request.id}/resubmit",
        others=HIDDEN,
        special=dict.fromkeys(AUDITORS, DENIED),
    ),
    ("access.resubmit", "POST"): Probe(
        lambda o: f"/access/requests/{o.their_request.id}/resubmit",
        others=HIDDEN,
        special=dict.fromkeys(AUDITORS, DENIED),
    ),
    ("access.grants_list", "GET"): Probe(lambda o: "/access/grants", EVERYONE),
    ("access.grants", "GET"): Probe(lambda o: "/access/grants", EVERYONE),
    ("access.grant_detail", "GET"): Probe(
        lambda o: f"/access/grants/{o.their_grant.id}", AUDITORS, others=HIDDEN
    ),
    ("access.revoke", "POST"): Probe(
        lambda o: f"/access/grants/{o.their_grant.id}/revoke",
        roles("privacy"),
        others=HIDDEN,
        special={"compliance": DENIED},
        data=fixed({"revoke-reason": "x"}),
    ),
    ("access.review", "POST"): Probe(
        lambda o: f"/access/grants/{o.their_grant.id}/review",
        others=HIDDEN,
        special=SEERS,
        data=fixed({"review-keep": ["sex"]}),
    ),
    # access requests and grants: API
    ("api.list_requests", "GET"): Probe(lambda o: f"{A}/access-requests", EVERYONE),
    ("api.get_request", "GET"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}", AUDITORS, others=HIDDEN
    ),
    ("api.create_request", "POST"): Probe(
        lambda o: f"{A}/access-requests",
        data=lambda o: {
            "agreement_id": o.theirs.id,
            "dataset_id": o.datasets.probation.id,
            "columns": ["sex"],
            "purpose": "descriptive",
            "justification": "x",
            "end_date": "2030-01-01",
        },
    ),
    ("api.approve_request", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/approve",
        others=HIDDEN,
        special=SEERS,
        data=fixed({"columns": ["sex"]}),
    ),
    # Only a steward of the request's dataset counts its figures again.
    ("api.recompute_risk", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/risk", others=HIDDEN, special=SEERS
    ),
    ("api.approve_identifiers", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/approve-identifiers",
        roles("privacy"),
        others=HIDDEN,
        special={"compliance": DENIED},
    ),
    ("api.deny_request", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/deny",
        others=HIDDEN,
        special=SEERS,
        data=fixed({"reason": "x"}),
    ),
    ("api.return_request", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/return",
        others=HIDDEN,
        special=SEERS,
        data=fixed({"comment": "x"}),
    ),
    ("api.withdraw_request", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/withdraw",
        others=HIDDEN,
        special=SEERS,
    ),
    # Only the requester nudges the people their request waits on.
    ("api.nudge_request", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/nudge", others=HIDDEN, special=SEERS
    ),
    ("api.resubmit_request", "POST"): Probe(
        lambda o: f"{A}/access-requests/{o.their_request.id}/resubmit",
        others=HIDDEN,
        special=SEERS,
        data=fixed(
            {
                "columns": ["sex"],
                "purpose": "descriptive",
                "justification": "x",
                "end_date": "2030-01-01",
            }
        ),
    ),
    ("api.list_grants", "GET"): Probe(lambda o: f"{A}/grants", EVERYONE),
    ("api.get_grant", "GET"): Probe(
        lambda o: f"{A}/grants/{o.their_grant.id}", AUDITORS, others=HIDDEN
    ),
    ("api.revoke_grant", "POST"): Probe(
        lambda o: f"{A}/grants/{o.their_grant.id}/revoke",
        roles("privacy"),
        others=HIDDEN,
        special={"compliance": DENIED},
        data=fixed({"reason": "x"}),
    ),
    ("api.grant_review", "POST"): Probe(
        lambda o: f"{A}/grants/{o.their_grant.id}/review",
        others=HIDDEN,
        special=SEERS,
        data=fixed({"keep": ["sex"]}),
    ),
    # GA4GH Passport: everyone's own visas (none for another's grant); the keys and a visa's
    # status are public (no visa has this jti)
    ("api.issue_passport", "POST"): Probe(lambda o: f"{A}/passport", EVERYONE),
    ("api.jwks", "GET"): Probe(lambda o: f"{A}/passport/jwks.json", EVERYONE, anonymous=OK),
    ("api.visa_status", "GET"): Probe(
        lambda o: f"{A}/passport/visas/9b2f7c7e-3a3e-4b8e-9a53-0c0ffee00000",
        others=HIDDEN,
        anonymous=HIDDEN,
    ),
    ("passport.download", "POST"): Probe(lambda o: "/passport/download", EVERYONE),
    ("access.review_export", "GET"): Probe(
        lambda o: "/access/reviews.csv", roles("privacy", "steward", "compliance")
    ),
    # analyses: the requester, output checkers and privacy officers see a run; anyone else is
    # answered as for a run that does not exist (404, recorded)
    ("analyses.index", "GET"): Probe(lambda o: "/analyses/", EVERYONE),
    ("analyses.new", "GET"): Probe(lambda o: "/analyses/new", roles("analyst")),
    ("analyses.new", "POST"): Probe(lambda o: "/analyses/new", roles("analyst")),
    ("analyses.upload_cohort", "POST"): Probe(lambda o: "/analyses/cohorts", roles("analyst")),
    ("analyses.run", "GET"): Probe(lambda o: f"/analyses/{o.their_run.id}", CHECKERS, HIDDEN),
    ("analyses.download", "GET"): Probe(
        lambda o: f"/analyses/{o.their_run.id}/download/pdf", CHECKERS, HIDDEN
    ),
    # their run has no probabilistic linkage: the checkers who may see it find no report
    ("linkage.report", "GET"): Probe(
        lambda o: f"/analyses/{o.their_run.id}/linkage", others=HIDDEN
    ),
    ("linkage.review", "GET"): Probe(
        lambda o: f"/analyses/{o.their_run.id}/linkage/review", others=HIDDEN
    ),
    ("linkage.decide", "POST"): Probe(
        lambda o: f"/analyses/{o.their_run.id}/linkage/review/999999",
        others=HIDDEN,
        data=fixed({"decision": "match"}),
    ),
    ("api.list_runs", "GET"): Probe(lambda o: f"{A}/analyses", EVERYONE),
    ("api.get_run", "GET"): Probe(lambda o: f"{A}/analyses/{o.their_run.id}", CHECKERS, HIDDEN),
    ("api.run_file", "GET"): Probe(
        lambda o: f"{A}/analyses/{o.their_run.id}/file", CHECKERS, HIDDEN
    ),
    ("api.submit_run", "POST"): Probe(
        lambda o: f"{A}/analyses",
        data=lambda o: {
            "agreement_id": o.theirs.id,
            "kind": "descriptive",
            "datasets": {"records": o.datasets.probation.id},
            "parameters": {"group_by": ["sex"]},
        },
    ),
    # outputs: checkers and privacy officers see every output; another organisation's team
    # and other agencies' partners do not (404, recorded, as for an output that does not
    # exist). Checkers who see it but may not take an action are refused it (403).
    ("outputs.index", "GET"): Probe(lambda o: "/outputs/", EVERYONE),
    ("outputs.detail", "GET"): Probe(lambda o: f"/outputs/{o.their_output.id}", CHECKERS, HIDDEN),
    ("outputs.check", "POST"): Probe(
        lambda o: f"/outputs/{o.their_output.id}/check",
        CHECKERS,
        HIDDEN,
        data=fixed({"decision": "approve"}),
    ),
    ("outputs.flag", "POST"): seen_by_checkers(
        lambda o: f"/outputs/{o.their_output.id}/flags",
        data=fixed({"kind": "factual_error", "part": "x", "comment": "x"}),
    ),
    ("outputs.answer", "POST"): seen_by_checkers(
        lambda o: f"/outputs/{o.their_output.id}/flags/1/answer",
    ),
    ("outputs.accept", "POST"): seen_by_checkers(
        lambda o: f"/outputs/{o.their_output.id}/flags/1/accept",
    ),
    ("outputs.no_concerns", "POST"): seen_by_checkers(
        lambda o: f"/outputs/{o.their_output.id}/no-concerns",
    ),
    ("outputs.resolve", "POST"): privacy_only(
        lambda o: f"/outputs/{o.their_output.id}/flags/1/resolve",
    ),
    ("outputs.publish", "POST"): privacy_only(
        lambda o: f"/outputs/{o.their_output.id}/publish",
    ),
    ("outputs.confirm_publish", "GET"): privacy_only(
        lambda o: f"/outputs/{o.their_output.id}/publish",
    ),
    ("outputs.correct", "GET"): seen_by_checkers(lambda o: f"/outputs/{o.their_output.id}/correct"),
    ("outputs.correct", "POST"): seen_by_checkers(
        lambda o: f"/outputs/{o.their_output.id}/correct"
    ),
    ("outputs.download", "GET"): Probe(
        lambda o: f"/outputs/{o.their_output.id}/files/pdf", CHECKERS, HIDDEN
    ),
    # outputs: API. A check that reaches the service returns without reasons (422), so the
    # output stays as the page lines above expect it.
    ("api.list_outputs", "GET"): Probe(lambda o: f"{A}/outputs", EVERYONE),
    ("api.get_output", "GET"): Probe(
        lambda o: f"{A}/outputs/{o.their_output.id}", CHECKERS, HIDDEN
    ),
    ("api.check_output", "POST"): Probe(
        lambda o: f"{A}/outputs/{o.their_output.id}/check",
        CHECKERS,
        HIDDEN,
        data=fixed({"decision": "return"}),
    ),
    ("api.no_concerns", "POST"): seen_by_checkers(
        lambda o: f"{A}/outputs/{o.their_output.id}/no-concerns",
        data=fixed({}),
    ),
    ("api.flag_output", "POST"): seen_by_checkers(
        lambda o: f"{A}/outputs/{o.their_output.id}/flags",
        data=fixed({"kind": "factual_error", "part": "x", "comment": "x"}),
    ),
    ("api.answer_flag", "POST"): seen_by_checkers(
        lambda o: f"{A}/outputs/{o.their_output.id}/flags/1/answer",
        data=fixed({"answer": "explained", "text": "x"}),
    ),
    ("api.accept_answer", "POST"): seen_by_checkers(
        lambda o: f"{A}/outputs/{o.their_output.id}/flags/1/accept",
    ),
    ("api.resolve_flag", "POST"): privacy_only(
        lambda o: f"{A}/outputs/{o.their_output.id}/flags/1/resolve",
        data=fixed({"note": "x"}),
    ),
    ("api.publish_output", "POST"): privacy_only(
        lambda o: f"{A}/outputs/{o.their_output.id}/publish",
    ),
    ("api.correct_output", "POST"): seen_by_checkers(
        lambda o: f"{A}/outputs/{o.their_output.id}/correct",
        data=fixed({"summary": "x"}),
        upload=True,
    ),
    ("api.output_file", "GET"): Probe(
        lambda o: f"{A}/outputs/{o.their_output.id}/file", CHECKERS, HIDDEN
    ),
    # the public page: open to everyone, and an unpublished output does not exist there
    ("public.index", "GET"): Probe(lambda o: "/published/", EVERYONE, anonymous=OK),
    ("public.output", "GET"): Probe(
        lambda o: f"/published/{o.their_output.id}", others=HIDDEN, anonymous=HIDDEN
    ),
    ("public.file", "GET"): Probe(
        lambda o: f"/published/{o.their_output.id}/report.pdf", others=HIDDEN, anonymous=HIDDEN
    ),
    # the public data-use register: open to everyone; no head is witnessed in this world
    ("register.index", "GET"): Probe(lambda o: "/register/", EVERYONE, anonymous=OK),
    ("register.as_json", "GET"): Probe(lambda o: "/register/register.json", EVERYONE, anonymous=OK),
    ("register.as_csv", "GET"): Probe(lambda o: "/register/register.csv", EVERYONE, anonymous=OK),
    # the DCAT-AP catalogue and the ODRL profile: public, like the register
    ("catalog.dcat", "GET"): Probe(lambda o: "/catalog/dcat.jsonld", EVERYONE, anonymous=OK),
    ("catalog.odrl_profile", "GET"): Probe(
        lambda o: "/catalog/odrl-profile.jsonld", EVERYONE, anonymous=OK
    ),
    ("api.catalog", "GET"): Probe(lambda o: f"{A}/catalog", EVERYONE, anonymous=OK),
    ("register.witness_json", "GET"): Probe(
        lambda o: "/register/witness.json", others=HIDDEN, anonymous=HIDDEN
    ),
    # audit
    ("audit.search", "GET"): Probe(lambda o: "/audit/", AUDITORS),
    ("audit.export", "GET"): Probe(lambda o: "/audit/export?format=csv", AUDITORS),
    ("audit.evidence", "GET"): Probe(lambda o: f"/audit/evidence/{o.theirs.id}.csv", AUDITORS),
    ("audit.verify", "POST"): Probe(lambda o: "/audit/verify", AUDITORS),
    ("audit.save_search", "POST"): Probe(
        lambda o: "/audit/searches",
        AUDITORS,
        data=fixed({"name": "Denials", "query": "outcome=denied"}),
    ),
    # Nobody may delete another person's saved search: to its owner's peers it does not exist.
    ("audit.delete_search", "POST"): Probe(
        lambda o: "/audit/searches/999999/delete",
        special={"privacy": HIDDEN, "compliance": HIDDEN},
    ),
    ("api.search_events", "GET"): Probe(lambda o: f"{A}/audit/events", AUDITORS),
    ("api.export_events", "GET"): Probe(lambda o: f"{A}/audit/export?format=jsonl", AUDITORS),
    ("api.chain_head", "GET"): Probe(lambda o: f"{A}/audit/head", AUDITORS),
    # last: they end the session (and send everyone to the login page)
    ("account.sign_out_everywhere", "POST"): Probe(
        lambda o: "/account/sign-out-everywhere", others=LOGIN
    ),
    ("auth.logout", "POST"): Probe(lambda o: "/logout", others=LOGIN),
}


SESSION_ENDERS = {("account.sign_out_everywhere", "POST"), ("auth.logout", "POST")}


def url_map_routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    # CSRF is its own test (tests/identity); here every form reaches its view.
    return {"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False}


def test_every_route_in_the_url_map_has_a_line_in_the_table(app: Flask) -> None:
    routes = url_map_routes(app)
    missing = sorted(routes - set(TABLE))
    stale = sorted(set(TABLE) - routes)
    assert not missing, f"routes without a line in the access matrix: {missing}"
    assert not stale, f"lines for routes that no longer exist: {stale}"


@pytest.fixture
def quick_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"%PDF-1.7 stand-in"
    monkeypatch.setattr(
        pdf,
        "render_pdf",
        lambda *_a, **_k: pdf.RenderedPDF(
            content=content, sha256=hashlib.sha256(content).hexdigest()
        ),
    )


@pytest.fixture
def objects(app: Flask, db: Session, people: People, quick_pdf: None) -> Objects:
    world = build_world(db, app, people)
    ended = agreements.create_agreement(
        db,
        provider_id=people.police.id,
        recipient_id=world.outsider.organization_id,
        terms=terms(
            people,
            world.datasets,
            title="Ended study",
            provider_notice_hours=24,
            columns={world.datasets.arrests.id: ["sex"]},
            personnel={world.outsider.id: "principal_investigator"},
        ),
        by=people.privacy,
        now=utcnow(),
    )
    agreements.submit(db, agreement_id=ended.id, by=people.privacy, now=utcnow())
    agreements.approve(db, agreement_id=ended.id, by=people.privacy2, now=utcnow())
    filed = attachments.upload(
        db,
        agreement_id=ended.id,
        kind="data_management_plan",
        title="Data management plan",
        filename="plan.txt",
        declared_type="txt",
        content=b"Data stays in the secure environment.\n",
        by=people.privacy,
        now=utcnow(),
    )
    agreements.terminate(
        db, agreement_id=ended.id, reason="Ended.", by=people.privacy, now=utcnow()
    )
    agreements.certify_destruction(
        db, agreement_id=ended.id, statement="Destroyed.", by=people.privacy, now=utcnow()
    )
    incident = incidents.report_incident(
        db,
        kind="lost_device",
        description="Phone lost.",
        agreement_ids=[ended.id],
        by=world.outsider,
        now=utcnow(),
    )
    clock = incident.clocks[0].id
    incidents.record_notification(
        db, incident_id=incident.id, clock_id=clock, by=people.privacy, now=utcnow()
    )
    incidents.close(
        db,
        incident_id=incident.id,
        root_cause="x",
        actions_taken="y",
        by=people.privacy,
        now=utcnow(),
    )
    period = periods.open_period(
        db,
        name="2026",
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2026, 12, 31),
        by=people.compliance,
        now=utcnow(),
    )
    periods.start_certification(
        db,
        period_id=period.id,
        certify_by=utcnow() + dt.timedelta(minutes=1),
        by=people.compliance,
        now=utcnow(),
    )
    periods.close_period(
        db, period_id=period.id, by=people.compliance, now=utcnow() + dt.timedelta(minutes=2)
    )
    item = next(i for i in period.items if i.grant_id == world.my_grant.id)
    committee = committee_service.create_committee(
        db,
        name="Other Lab committee",
        organization_id=world.outsider.organization_id,
        rule="majority",
        quorum=None,
        chair_casting_vote=True,
        decision_days=14,
        by=people.admin,
        now=utcnow(),
    )
    case = CommitteeCase(
        committee_id=committee.id,
        request_id=world.their_request.id,
        opened_at=utcnow(),
        deadline=utcnow(),
        decision="approved",
        conditions={},
    )
    db.add(case)
    db.commit()
    return Objects(
        world=world,
        closed=ended,
        incident_id=incident.id,
        clock_id=clock,
        period_id=period.id,
        item_id=item.id,
        attachment_id=filed.id,
        committee_id=committee.id,
        case_id=case.id,
    )


def classify(status: int, location: str) -> str:
    if status in {301, 302, 303} and "/login" in location:
        return LOGIN
    return {401: UNAUTH, 403: DENIED, 404: HIDDEN}.get(status, OK if status < 500 else str(status))


def call(
    client: FlaskClient, method: str, probe: Probe, objects: Objects, token: str | None, api: bool
) -> str:
    url = probe.url(objects)
    data = probe.data(objects) if probe.data else None
    kwargs: dict[str, Any] = {}
    if api:
        kwargs["headers"] = {"Authorization": f"Bearer {token}"} if token else {}
        if data is not None and not probe.upload:
            kwargs["json"] = data
    if data is not None and (not api or probe.upload):
        kwargs["data"] = data
        if probe.upload:
            kwargs["content_type"] = "multipart/form-data"
    with client.open(url, method=method, **kwargs) as response:
        return classify(response.status_code, response.headers.get("Location", ""))


def newest_event(db: Session) -> AuditEvent | None:
    return fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()


def test_every_role_gets_the_declared_answer_on_every_route(
    app: Flask, objects: Objects, db: Session
) -> None:
    """...and every 403 of the API is recorded as a denied event of the token's holder."""
    order = sorted(TABLE, key=lambda key: (key in SESSION_ENDERS, key))
    wrong: list[str] = []
    for role in (*ROLES, "anonymous"):
        client = app.test_client()
        token = email = None
        if role != "anonymous":
            email = getattr(objects.people, role).email
            Browser(client).login(email, PASSWORD)
            token = objects.tokens[role]
        for endpoint, method in order:
            probe = TABLE[(endpoint, method)]
            api = endpoint.startswith("api.")
            got = call(client, method, probe, objects, token, api)
            expected = probe.expected(role, api)
            if got != expected:
                wrong.append(f"{role:10} {method:5} {endpoint}: expected {expected}, got {got}")
            elif api and got == DENIED:
                event = newest_event(db)
                if event is None or (event.outcome, event.actor_email) != ("denied", email):
                    wrong.append(f"{role:10} {method:5} {endpoint}: 403 not recorded")
    assert not wrong, "\n".join(wrong)
