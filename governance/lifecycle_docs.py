"""docs/lifecycles.md, generated from every lifecycle table:
`python -m governance.lifecycle_docs > docs/lifecycles.md` (a test keeps the two in step).

The list below is the one place that names every lifecycle; a test checks that every status
column of the models belongs to one of them."""

from __future__ import annotations

from typing import Any

from governance.access import grant_lifecycle
from governance.access import workflow as access_workflow
from governance.agreements import lifecycle as agreement_lifecycle
from governance.analysis import run_lifecycle as analysis_lifecycle
from governance.compliance import certification as compliance_certification
from governance.compliance import periods as audit_periods
from governance.datasets import reclassification
from governance.identity import role_changes
from governance.incidents import service as incidents
from governance.lifecycle import Lifecycle, markdown
from governance.outputs import lifecycle as output_lifecycle
from governance.outputs import progress_reports
from governance.webhooks import lifecycle as webhook_lifecycle

LIFECYCLES: list[Lifecycle[Any, Any]] = [
    agreement_lifecycle.LIFECYCLE,
    agreement_lifecycle.VERSION_LIFECYCLE,
    access_workflow.LIFECYCLE,
    grant_lifecycle.LIFECYCLE,
    analysis_lifecycle.LIFECYCLE,
    output_lifecycle.LIFECYCLE,
    reclassification.LIFECYCLE,
    role_changes.LIFECYCLE,
    incidents.LIFECYCLE,
    progress_reports.LIFECYCLE,
    audit_periods.LIFECYCLE,
    compliance_certification.LIFECYCLE,
    webhook_lifecycle.LIFECYCLE,
]

NOTES = {
    "agreement": "An agreement being amended stays in force under its approved version; the "
    "state names the amendment's step and is stored as `active`. "
    "docs/agreement-lifecycle.md shows who may act and why.",
    "output": "A revision approved once, when two checkers are required, is stored as "
    "`produced`. docs/output-lifecycle.md shows who may act and who may download.",
}


def lifecycles_markdown() -> str:
    return markdown(LIFECYCLES, NOTES)


if __name__ == "__main__":
    print(lifecycles_markdown(), end="")
