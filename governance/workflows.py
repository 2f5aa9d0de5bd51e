"""Imports every service module that registers periodic jobs, dashboard task providers,
agreement listeners or evidence-pack sections, so that they are registered wherever the
application runs (server, scheduler, worker, commands and tests)."""

import governance.access.conditions  # (grants paused while a condition lapses)
import governance.access.grant_hooks  # (grants follow agreements; expiry)
import governance.access.queries  # (request and review tasks)
import governance.access.reclassification  # (classifications to approve)
import governance.agreements.destruction_hooks  # (data destroyed when an agreement closes)
import governance.agreements.schedule  # (activation, expiry, tasks)
import governance.analysis.reaper  # (runs whose worker stopped are retried or failed)
import governance.audit.evidence_sections  # (evidence-pack sections)
import governance.datasets.datastore  # (the orphan-file sweep)
import governance.identity.role_changes  # (role requests on admins' dashboards)
import governance.outputs.preview  # (preview windows closing)
import governance.outputs.public  # (public files of outputs published earlier)
import governance.outputs.tasks  # noqa: F401  (output tasks on dashboards)
