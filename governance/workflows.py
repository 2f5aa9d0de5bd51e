"""Imports every service module that registers periodic jobs, dashboard task providers,
agreement listeners or evidence-pack sections, so that they are registered wherever the
application runs (server, scheduler, worker, commands and tests)."""

import governance.datastore  # (the orphan-file sweep)
import governance.services.access_queries  # (request and review tasks)
import governance.services.agreement_schedule  # (activation, expiry, tasks)
import governance.services.analysis_reaper  # (runs whose worker stopped are retried or failed)
import governance.services.destruction_hooks  # (data destroyed when an agreement closes)
import governance.services.evidence_sections  # (evidence-pack sections)
import governance.services.grant_conditions  # (grants paused while a condition lapses)
import governance.services.grant_hooks  # (grants follow agreements; expiry)
import governance.services.grant_obligations  # (personnel, acceptance, ethics, attestation, freeze)
import governance.services.incident_evidence  # (evidence-pack sections: incidents, obligations)
import governance.services.incidents  # (notification reminders)
import governance.services.output_preview  # (preview windows closing)
import governance.services.output_public  # (public files of outputs published earlier)
import governance.services.output_tasks  # (output tasks on dashboards)
import governance.services.reclassification  # (classifications to approve)
import governance.services.role_changes  # noqa: F401  (role requests on admins' dashboards)
