"""Everything the application wires together, listed here and nowhere else.

A reader who wants to know which pages, API modules, periodic jobs, dashboard tasks, agreement
listeners and evidence-pack sections exist opens this file. No module registers itself by
being imported: each noun defines plain functions and blueprints, and `install` (called by
`create_app`, so by the server, the scheduler, the worker and every command) puts them in
place. Installing twice is the same as once. The audit trail's own part (its record listeners,
the report's dataset names) is listed in registry_trail.py, which `install` installs too: the
commands that only verify, export or report on the trail install that part alone.

The command line lists its commands in governance/cli/__init__.py, the demo its steps in
governance/demo/steps.py and the worker its task bodies in governance/analysis/worker.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask

from governance import (
    all_models,
    evidence_sections,
    openapi,
    periodic,
    registry_names,
    registry_trail,
    web,
)
from governance.access import (
    agreement_seals,
    api_grants,
    api_requests,
    api_rows,
    conditions,
    grant_hooks,
    live_grants,
    nudges,
    obligation_conditions,
    obligations,
    web_data,
)
from governance.access import queries as access_queries
from governance.access import requests as access_requests
from governance.access import seals as access_seals
from governance.access import web as access_web
from governance.access import web_obligations as obligations_web
from governance.agreements import api as agreements_api
from governance.agreements import (
    destruction_hooks,
    events,
    schedule,
    web_attachments,
    web_destruction,
)
from governance.agreements import impact as agreement_impact
from governance.agreements import leavers as agreement_leavers
from governance.agreements import queries as agreement_queries
from governance.agreements import service as agreements_service
from governance.agreements import web as agreements_web
from governance.agreements.analysis_kind_model import ANALYSIS_KIND_LABELS
from governance.agreements.clauses import CLAUSE_LABELS
from governance.agreements.parts_model import PROJECT_ROLE_LABELS
from governance.analysis import amendment_impact as analysis_impact
from governance.analysis import api as analysis_api
from governance.analysis import differencing, reaper, request_risk
from governance.analysis import labels as analysis_labels
from governance.analysis import web as analysis_web
from governance.analysis import web_linkage as linkage_web
from governance.api import register_api
from governance.audit import api as audit_api
from governance.audit import directory, evidence, sentences, timestamping
from governance.audit import web as audit_web
from governance.authz import Role, grant_index
from governance.authz.roles import ROLE_LABELS
from governance.committees import api as committees_api
from governance.committees import impact as committee_impact
from governance.committees import queries as committee_queries
from governance.committees import routing as committee_routing
from governance.committees import web as committees_web
from governance.compliance import api as compliance_api
from governance.compliance import certification as compliance_certification
from governance.compliance import periods as compliance_periods
from governance.compliance import web as compliance_web
from governance.dashboard import web as dashboard_web
from governance.datasets import api as datasets_api
from governance.datasets import datastore, key_management, reclassification
from governance.datasets import names as dataset_names
from governance.datasets import seals as dataset_seals
from governance.datasets import web as datasets_web
from governance.datasets.models import CLASSIFICATION_LABELS
from governance.identity import api as identity_api
from governance.identity import (
    api_auth,
    api_groups,
    leavers,
    reauth,
    role_changes,
    scim_api,
    totp,
    training_tasks,
    users,
    web_account,
    web_admin,
    web_identity_admin,
    web_login,
    web_signin,
    web_sso,
    web_throttle,
    web_tokens,
    web_two_factor,
)
from governance.identity import names as people_names
from governance.identity import seals as identity_seals
from governance.identity.models import COURSE_LABELS
from governance.incidents import alerts as incident_alerts
from governance.incidents import condition as incident_condition
from governance.incidents import evidence as incident_evidence
from governance.incidents import probing as incident_probing
from governance.incidents import service as incidents
from governance.incidents import web as incidents_web
from governance.kernel import labels, notify, sealed_kinds, tasks
from governance.kernel.db import Database
from governance.kernel.extensions import init_extensions
from governance.metrics import api as metrics_api
from governance.metrics import figures as metrics_figures
from governance.metrics import prometheus
from governance.metrics import web as metrics_web
from governance.outputs import amendment_impact as output_impact
from governance.outputs import api as outputs_api
from governance.outputs import preview, public, web_closeout, web_progress, web_public
from governance.outputs import tasks as output_tasks
from governance.outputs import web as outputs_web
from governance.outputs.models import FLAG_LABELS
from governance.passport import api as passport_api
from governance.passport import key_rotation as passport_keys
from governance.passport import web as passport_web
from governance.periodic import Registered
from governance.register import catalog_api, catalog_web
from governance.register import web as register_web
from governance.reminders import digest as mail_digest
from governance.reminders import ledger as task_ledger
from governance.reminders import web as reminders_web
from governance.web import errors as web_errors
from governance.web import navigation
from governance.webhooks import api as webhooks_api
from governance.webhooks import events as webhook_events
from governance.webhooks import web as webhooks_web
from governance.webhooks.models import DELIVERY_STATUS_LABELS

# Every table on the metadata (for Alembic and the relationship registry).
MODELS = all_models

# Pages, in the order their blueprints are registered.
BLUEPRINTS: tuple[Blueprint, ...] = (
    web_signin.bp,
    web_sso.bp,
    web_two_factor.bp,
    dashboard_web.bp,
    web_admin.bp,
    web_identity_admin.bp,
    agreements_web.bp,
    datasets_web.bp,
    web_destruction.bp,
    audit_web.bp,
    access_web.bp,
    web_data.bp,
    analysis_web.bp,
    linkage_web.bp,
    outputs_web.bp,
    web_public.bp,
    register_web.bp,
    catalog_web.bp,
    web_tokens.bp,
    web_account.bp,
    obligations_web.bp,
    web_progress.bp,
    incidents_web.bp,
    compliance_web.bp,
    committees_web.bp,
    web_attachments.bp,
    web_closeout.bp,
    reminders_web.bp,
    webhooks_web.bp,
    metrics_web.bp,
    passport_web.bp,
)

# The JSON API: each module declares its operations on `governance.api.operations.bp`.
API_MODULES = (
    api_requests,
    agreements_api,
    analysis_api,
    audit_api,
    api_auth,
    datasets_api,
    api_grants,
    api_rows,
    identity_api,
    api_groups,
    openapi,
    outputs_api,
    compliance_api,
    committees_api,
    webhooks_api,
    metrics_api,
    catalog_api,
    passport_api,
)

# What happens as time passes, in the order it runs (`governance expire` prints the same).
PERIODIC_JOBS: tuple[Registered, ...] = (
    Registered("datastore-sweep", datastore.sweep_job, outside_database=True),
    Registered("agreements.activate", schedule.activate_due),
    Registered("agreements.expire", schedule.expire_due),
    Registered("attestations.reminders", obligations.remind_attestations),
    Registered("certification.reminders", compliance_certification.remind_certifiers),
    Registered("analysis.reap", reaper.reap_runs, outside_database=True),
    Registered("grants.conditions", conditions.pause_lapsed_grants),
    Registered("grants.expire", grant_hooks.expire_due_grants),
    Registered("incidents.reminders", incidents.remind_due_notifications),
    Registered("incidents.audit_alerts", incident_alerts.open_from_audit_alerts),
    Registered("incidents.seal_alerts", incident_alerts.open_from_broken_seals),
    Registered("incidents.probing_alerts", incident_probing.open_from_probing),
    Registered("outputs.clear", preview.close_due_previews),
    Registered("outputs.public_files", public.make_missing_public_files),
    # Asks an outside time-stamping authority (network): left out of a dry run.
    Registered("audit.timestamps", timestamping.stamp_checkpoints, outside_database=True),
    # Deletes key files (a rollback cannot bring them back): left out of a dry run.
    Registered("passport.drop_keys", passport_keys.drop_retired_keys, outside_database=True),
    # After every workflow's own job: the tasks they leave are what the reminders are about.
    Registered("tasks.reminders", task_ledger.remind_tasks),
    Registered("mail.digests", mail_digest.send_digests),
    # Queues the e-mail no worker took (queue messages cannot be taken back): left out of a
    # dry run.
    Registered("mail.retry", notify.requeue_due, outside_database=True),
)

# The tasks waiting on each role's dashboard.
TASK_PROVIDERS: tuple[tuple[tuple[Role, ...], tasks.TaskProvider], ...] = (
    ((Role.DATA_STEWARD,), access_queries.steward_tasks),
    ((Role.PRIVACY_OFFICER,), access_queries.privacy_officer_tasks),
    ((Role.ANALYST,), access_queries.requester_tasks),
    ((Role.PRIVACY_OFFICER,), schedule.agreement_tasks),
    ((Role.OUTPUT_CHECKER, Role.PRIVACY_OFFICER), output_tasks.outputs_to_check),
    ((Role.PRIVACY_OFFICER,), output_tasks.privacy_officer_output_tasks),
    ((Role.PARTNER_REVIEWER,), output_tasks.partner_output_tasks),
    ((Role.ANALYST,), output_tasks.analyst_output_tasks),
    ((Role.PRIVACY_OFFICER,), reclassification.privacy_officer_tasks),
    ((Role.ADMIN,), role_changes.requests_to_approve),
    ((Role.DATA_STEWARD,), compliance_certification.steward_tasks),
    ((Role.COMPLIANCE_MANAGER,), compliance_periods.manager_tasks),
    # A committee member may hold any role: the provider finds the person's own committees.
    (tuple(Role), committee_queries.votes_waiting),
    # Everyone's own training, whichever dashboard they look at.
    (tuple(Role), training_tasks.renewal_tasks),
    # Whoever a requester's nudge reached (a steward, an officer, a committee member).
    (tuple(Role), nudges.reminders_to_answer),
)

# What follows an agreement's change, inside the same transaction.
AGREEMENT_LISTENERS: tuple[events.AgreementListener, ...] = (
    destruction_hooks.key_on_cover,
    destruction_hooks.destroy_on_close,
    grant_hooks.follow_agreement,
)

# The sections of an agreement's evidence pack: (name, order, provider).
EVIDENCE_SECTIONS: tuple[tuple[str, int, evidence.SectionProvider], ...] = (
    ("agreement-workflow", 10, evidence.workflow_section),
    ("agreement-versions", 15, evidence_sections.versions_section),
    ("event-counts", 20, evidence.counts_section),
    ("grants", 30, evidence_sections.grants_section),
    ("personal-obligations", 35, incident_evidence.obligations_section),
    ("analyses", 40, evidence_sections.analyses_section),
    ("outputs", 45, evidence_sections.outputs_section),
    ("incidents", 50, incident_evidence.incidents_section),
    ("reads", 60, evidence.reads_section),
)


# What a grant depends on beyond its own dates, by the clause a refusal cites (each folded into
# the grant's effective end: governance/access/conditions.py).
CONDITIONS = (
    *obligation_conditions.OBLIGATION_CONDITIONS,
    (incident_condition.CLAUSE_FREEZE, incident_condition.not_frozen),
)

# What follows a person's new training record, inside the same transaction: their live grants'
# ends are recomputed (renewed training lets a paused grant work again at once).
TRAINING_LISTENERS: tuple[users.TrainingListener, ...] = (conditions.refresh_holder,)

# What follows a leaver's deactivation (SCIM, a provider's back-channel logout), in order: off
# every live agreement's personnel list, then their grants recomputed (the next read refuses).
LEAVER_LISTENERS: tuple[leavers.LeaverListener, ...] = (
    agreement_leavers.remove_leaver,
    conditions.refresh_leaver,
)

# What follows every audit record, inside its transaction (the webhooks' outbox), and the
# report's dataset names are listed in the trail's own part of the registry,
# governance/registry_trail.py: the commands that only verify, export or report on the trail
# install that part alone.

# What else keeps a retired data key from being discarded (beyond the stored files).
DATA_KEY_KEEPERS: tuple[key_management.KeyKeeper, ...] = (differencing.keeps_data_key,)


# Who and what the audit trail's ids and e-mails stand for, as people name them.
AUDIT_DIRECTORY = directory.Directory(
    names_in=registry_names.names_in,
    people_matching=people_names.people_matching,
    agreement_by_key=agreement_queries.agreement_by_key,
    datasets_matching=dataset_names.datasets_matching,
)

# The labels people read for the codes the service stores, from every noun (first one wins).
LABELS: tuple[Mapping[Any, str], ...] = (
    sentences.EVENT_LABELS,
    CLAUSE_LABELS,
    ANALYSIS_KIND_LABELS,
    ROLE_LABELS,
    COURSE_LABELS,
    PROJECT_ROLE_LABELS,
    CLASSIFICATION_LABELS,
    FLAG_LABELS,
    analysis_labels.LABELS,
    DELIVERY_STATUS_LABELS,
    webhook_events.LABELS,
)
# What re-authentication asks for beyond the password (identity/reauth.py).
REAUTH_SECOND_FACTORS: tuple[reauth.SecondFactorCheck, ...] = (totp.reauth_check,)


def install() -> None:
    """Put the jobs, tasks, listeners and sections above in place (for every process)."""
    periodic.install(PERIODIC_JOBS)
    for second_factor in REAUTH_SECOND_FACTORS:
        if second_factor not in reauth.SECOND_FACTOR_CHECKS:
            reauth.SECOND_FACTOR_CHECKS.append(second_factor)
    for roles, provider in TASK_PROVIDERS:
        tasks.registry.register(*roles)(provider)
    for listener in AGREEMENT_LISTENERS:
        events.on_agreement_change(listener)
    for clause, check in CONDITIONS:
        conditions.condition(clause)(check)
    for training_listener in TRAINING_LISTENERS:
        users.on_training_recorded(training_listener)
    for leaver_listener in LEAVER_LISTENERS:
        leavers.on_leaver(leaver_listener)
    registry_trail.install()
    for keeper in DATA_KEY_KEEPERS:
        key_management.keep_data_keys_for(keeper)
    datastore.covering_agreements_from(destruction_hooks.active_covering)
    for name, order, section in EVIDENCE_SECTIONS:
        evidence.providers.register(name, order=order)(section)
    evidence.install_subject_finder(agreement_queries.agreement_by_key)
    grant_index.install_loader(live_grants.load_changes)
    access_requests.route_to_committees(committee_routing.route_request)
    agreements_service.on_version_submitted(committee_routing.route_version)
    agreements_service.approval_gate(committee_routing.approval_waiting)
    access_requests.compute_risk_with(request_risk.figures)
    access_queries.on_request_standing(committee_queries.request_standing)
    access_queries.on_request_committee(committee_queries.request_committee)
    access_queries.on_committee_decider(committee_queries.decides_request)
    committee_impact.impact_sections(analysis_impact.analyses_out_of_scope)
    committee_impact.impact_sections(output_impact.outputs_below_new_threshold)
    # An amendment's impact, approved by its digest and confirmed again at countersignature.
    agreement_impact.install_impact_reader(committee_impact.impact_of)
    directory.install(AUDIT_DIRECTORY)
    # Rows sealed against someone with the database (docs/security.md), in the order
    # `governance init` seals them once and the alert job reports them: the door's grants and
    # training records, people's accounts, roles and credentials, the agreements' terms, the
    # datasets' columns and stewards.
    kinds = (
        *access_seals.KINDS,
        *identity_seals.KINDS,
        *agreement_seals.KINDS,
        *dataset_seals.KINDS,
    )
    for sealed in kinds:
        sealed_kinds.register(sealed)
    for mapping in LABELS:
        labels.register({str(getattr(code, "value", code)): text for code, text in mapping.items()})


def install_app(app: Flask, database: Database) -> None:
    """Wire one Flask app: extensions, the shell of the pages, blueprints, the API, hooks."""
    install()
    task_ledger.install_linker(
        lambda endpoint, params: app.url_map.bind("localhost").build(endpoint, dict(params))
    )
    init_extensions(app, database, load_user=web_login.load_user)
    web.install_converters(app)
    # Timed from the first hook on, so the figures include the time the other hooks take.
    prometheus.install(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_api(app)
    scim_api.register(app)
    web_errors.register(app)
    app.register_error_handler(web_login.RecentAuthRequired, web_account.ask_reauthentication)
    web_throttle.register(app)
    web_sso.register(app)
    navigation.register(app, {"metrics.index": metrics_figures.may_read})
    app.before_request(web.refuse_nul_characters)
    app.before_request(web_signin.keep_session_alive)
    app.before_request(web_two_factor.require_enrolment)
    app.after_request(web.security_headers)
    web.remember_plain_functions(app)
