"""What the public receives of a published output: the released figures and nothing else.

The output's own PDF and CSV are the team's report: they name the analyst, the run, the
engine version and the audit chain head, which the checkers and the partner reviewers need.
None of that is the public's business (and the names of staff are personal data), so
publication makes a separate pair of files from the released, disclosure-controlled result
alone, with the agreement as the public sees it. Both are byte-reproducible: the same output
always gives the same files and the same SHA-256, which the public page lists.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditType
from governance.identity.actors import System
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.reports import pdf
from governance.outputs.common import record_output_event
from governance.outputs.content import sha256, table_view
from governance.outputs.models import Output, OutputStatus
from governance.outputs.released_csv import csv_of

TEMPLATE = "reports/public_output.html"


def public_summary(output: Output) -> dict[str, Any]:
    """The agreement as the public sees it: the parties, the purpose and the laws that applied
    (never personnel, signatories or dataset columns)."""
    version = output.version
    return {
        "reference": output.agreement.reference,
        "title": version.title,
        "provider": output.agreement.provider.name,
        "recipient": output.agreement.recipient.name,
        "purpose": version.purpose,
        "laws": [law["label"] for law in version.laws],
    }


@functools.cache
def _environment() -> Environment:
    return pdf.report_environment(FileSystemLoader(str(PROJECT_ROOT / "templates")))


def render_public_pdf(output: Output, published_on: dt.date) -> bytes:
    agreement = public_summary(output)
    env = _environment()
    context = {
        "title": output.title,
        "kicker": "Published research output",
        "subtitle": f"{output.reference}, published {published_on.isoformat()}",
        "facts": [
            ("Agreement", f"{agreement['reference']}: {agreement['title']}"),
            ("Data provider", agreement["provider"]),
            ("Research organisation", agreement["recipient"]),
            ("Laws that applied", "; ".join(agreement["laws"])),
        ],
        "footer_note": f"{output.reference}: aggregate, disclosure-controlled figures only",
        "purpose": agreement["purpose"],
        "summary": output.summary,
        "result": output.result,
        "tables": [(table, *table_view(table)) for table in output.result["tables"]],
        "min_cell_size": output.version.min_cell_size,
    }
    return pdf.render_pdf(env, TEMPLATE, context, stylesheet=pdf.load_stylesheet(env)).content


def make_public_files(session: Session, output: Output, *, published_on: dt.date) -> None:
    """Render and keep the public PDF and CSV of an output being published."""
    output.public_pdf = render_public_pdf(output, published_on)
    output.public_pdf_sha256 = sha256(output.public_pdf)
    output.public_csv = csv_of(output.result)
    output.public_csv_sha256 = sha256(output.public_csv)


def public_hashes(output: Output) -> dict[str, str | None]:
    """For the audit event that records the publication."""
    return {
        "public_pdf_sha256": output.public_pdf_sha256,
        "public_csv_sha256": output.public_csv_sha256,
    }


def make_missing_public_files(session: Session, actor: System, now: dt.datetime) -> int:
    """Outputs published before public files were made get theirs (recorded with their
    hashes); until then the public page lists them without files."""
    missing = session.scalars(
        select(Output).where(
            Output.status == OutputStatus.PUBLISHED, Output.public_pdf_sha256.is_(None)
        )
    ).all()
    for output in missing:
        published = output.published_at or now
        make_public_files(session, output, published_on=published.date())
        record_output_event(
            session,
            AuditType.OUTPUT_PUBLIC_FILES,
            by=actor,
            output=output,
            detail=public_hashes(output),
        )
    return len(missing)
