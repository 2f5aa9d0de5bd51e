"""The navigation each role sees, declared once, and template helpers.

An entry appears only when its endpoint exists and the person holds its permission, so the
menu never offers a page that would answer 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from governance import authz
from governance.authz import Permission
from governance.authz.roles import DASHBOARD_ORDER, Role
from governance.kernel.extensions import db_session
from governance.kernel.reports.pdf import TEMPLATE_FILTERS
from governance.web import forms


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    permissions: tuple[Permission, ...] = ()  # any one of them shows the entry


_ACCESS_WORK = (
    Permission.ACCESS_REQUEST_CREATE,
    Permission.ACCESS_REQUEST_REVIEW,
    Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS,
    Permission.GRANT_OVERSEE,
    Permission.GRANT_REVIEW,
    Permission.DATASET_MANAGE,
)

NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Agreements", "agreements.index"),
    NavItem("Datasets", "datasets.index"),
    # Requests and grants are someone's own, a steward's datasets' or (overseers) every one:
    # a person who can do none of these (a partner reviewer) would only ever see empty lists.
    NavItem("Access requests", "access.requests", _ACCESS_WORK),
    NavItem("Grants", "access.grants", _ACCESS_WORK),
    NavItem("Analyses", "analyses.index", (Permission.ANALYSIS_RUN, Permission.OUTPUT_CHECK)),
    NavItem("Outputs", "outputs.index"),
    NavItem("Incidents", "incidents.index", (Permission.INCIDENT_REPORT,)),
    NavItem("Audit trail", "audit.search", (Permission.AUDIT_READ,)),
    NavItem("Annual audit", "compliance.index", (Permission.COMPLIANCE_MANAGE,)),
    # Also for committee chairs: the page's own rule decides (ENTRY_RULES, from the registry).
    NavItem("Metrics", "metrics.index", (Permission.METRICS_READ,)),
    NavItem("Certification", "compliance.certifications", (Permission.GRANT_REVIEW,)),
    NavItem("Committees", "committees.index", (Permission.COMMITTEE_MANAGE,)),
    NavItem("People", "admin.users", (Permission.USER_MANAGE, Permission.TRAINING_RECORD)),
    NavItem("Organisations", "admin.organizations", (Permission.ORGANIZATION_MANAGE,)),
    NavItem(
        "Role changes",
        "admin.role_changes_page",
        (Permission.ROLE_OVERSEE, Permission.ROLE_APPROVE),
    ),
    NavItem("Identity", "identity_admin.group_mappings", (Permission.IDENTITY_CONFIGURE,)),
    NavItem("Webhooks", "webhooks.index", (Permission.WEBHOOK_MANAGE,)),
    NavItem("API tokens", "tokens.index", (Permission.TOKEN_CREATE,)),
)


# An entry an object rule opens beyond its permissions (a committee's chair reads the metrics):
# the rule the page itself applies decides, installed by the composition root.
EntryRule = Callable[[Session, Any], bool]
ENTRY_RULES: dict[str, EntryRule] = {}


def dashboard_roles(roles: frozenset[Role]) -> list[Role]:
    return [role for role in DASHBOARD_ORDER if role in roles]


# Distinct menus a process keeps: one per combination of roles seen, far fewer in practice.
MENUS_KEPT = 256


def visible_navigation() -> list[dict[str, str]]:
    if not current_user.is_authenticated:
        return []
    return [dict(item) for item in _drawn_menu().items]


@dataclass(frozen=True)
class DrawnMenu:
    """What a process keeps of one combination: the policy it was drawn under, the menu's
    entries and the links to the person's dashboards (role, address)."""

    policy: object
    items: tuple[dict[str, str], ...]
    dashboards: tuple[tuple[Role, str], ...]


def _drawn_menu() -> DrawnMenu:
    # The object rules are asked at every page (a chair named a moment ago sees the entry);
    # the rest depends only on the roles, so each process draws the menu once per combination.
    opened = frozenset(
        endpoint
        for endpoint, rule in ENTRY_RULES.items()
        if endpoint in current_app.view_functions and rule(db_session(), current_user)
    )
    policy = authz.current_policy()
    roles = current_user.role_set
    key = (roles, current_user.is_active, opened, request.script_root)
    drawn: dict[tuple[Any, ...], DrawnMenu] = current_app.extensions.setdefault("navigation", {})
    kept = drawn.get(key)
    if kept is None or kept.policy is not policy:
        if len(drawn) > MENUS_KEPT:
            drawn.clear()
        kept = drawn[key] = DrawnMenu(
            policy,
            tuple(_menu(opened)),
            tuple(
                (role, url_for("dashboard.for_role", role=role.value))
                for role in dashboard_roles(roles)
            ),
        )
    return kept


@dataclass(frozen=True)
class ShellLinks:
    """The addresses every page's header links to; they depend only on where the site is
    mounted (the URL map is fixed once the app serves), so each process works them out once
    per script root rather than at every page."""

    stylesheet: str
    home: str
    login: str
    logout: str
    account: str


def _shell_links() -> ShellLinks:
    kept: dict[str, ShellLinks] = current_app.extensions.setdefault("shell_links", {})
    links = kept.get(request.script_root)
    if links is None:
        if len(kept) > MENUS_KEPT:
            kept.clear()
        links = kept[request.script_root] = ShellLinks(
            stylesheet=url_for("static", filename="app.css"),
            home=url_for("dashboard.home"),
            login=url_for("auth.login"),
            logout=url_for("auth.logout"),
            account=url_for("account.index"),
        )
    return links


def _menu(opened: frozenset[str]) -> list[dict[str, str]]:
    items = []
    for item in NAVIGATION:
        if item.endpoint not in current_app.view_functions:
            continue
        if item.endpoint in ENTRY_RULES:
            if item.endpoint not in opened:
                continue
        elif item.permissions and not any(authz.can(current_user, p) for p in item.permissions):
            continue
        items.append(
            {"label": item.label, "url": url_for(item.endpoint), "endpoint": item.endpoint}
        )
    return items


def _template_helpers() -> dict[str, Any]:
    def can(permission: str) -> bool:
        return current_user.is_authenticated and authz.can(current_user, Permission(permission))

    signed_in = current_user.is_authenticated
    menu = _drawn_menu() if signed_in else None
    return {
        **forms.refusal_context(),
        "navigation": [dict(item) for item in menu.items] if menu else [],
        "can": can,
        "Permission": Permission,
        "dashboard_links": menu.dashboards if menu else (),
        "shell": _shell_links(),
    }


def register(app: Flask, entry_rules: dict[str, EntryRule] | None = None) -> None:
    ENTRY_RULES.update(entry_rules or {})
    app.context_processor(_template_helpers)
    # Every code a person reads goes through one registry of labels (`kernel.labels`), and
    # results show the same headline tables as the PDFs.
    for name, template_filter in TEMPLATE_FILTERS.items():
        app.add_template_filter(template_filter, name)
