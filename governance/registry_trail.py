"""The audit trail's part of the registry: importable without the rest of it.

What every process that writes or reports on the audit trail needs in place: the listeners that
follow each audit record inside its transaction (the webhooks' outbox: a signed checkpoint or a
lifecycle event becomes a delivery, none for a change that rolls back) and the report's dataset
names. The registry's `install` installs these with everything else, so the server, the
scheduler, the worker and every command that builds the app have them; the commands that only
verify, export or report on the trail (`governance audit verify | export`) install these alone
(`governance.open_audit_trail`) and so record their own event with the same listeners without
importing every noun's pages, API and services (about 2 s of CPU at each such command, on a
2-core machine shared with the verifier's own workers: docs/benchmarks.md, "cliapp").
"""

from __future__ import annotations

from governance.audit import report_names
from governance.audit import service as audit_service
from governance.datasets import names as dataset_names
from governance.webhooks import outbox as webhook_outbox

# What follows every audit record, inside its transaction: the lifecycle events it reports are
# written to the webhooks' outbox (none for a change that rolls back, none lost).
AUDIT_LISTENERS: tuple[audit_service.RecordListener, ...] = (webhook_outbox.on_audit_record,)


def install() -> None:
    """Put the trail's listeners and the report's namer in place; twice is the same as once."""
    for audit_listener in AUDIT_LISTENERS:
        audit_service.on_record(audit_listener)
    report_names.install_dataset_namer(dataset_names.datasets_by_id)
