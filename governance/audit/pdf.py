"""Rendering the audit PDFs (report and evidence packs) with the reports toolkit.

Templates live in templates/reports/ and extend `reports/_base.html`, whose cover prints the
audit chain head; the toolkit's renderer fetches nothing (data: URLs only) and autoescapes
everything, so text typed by users (e-mails, reasons) stays text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, FileSystemLoader

from governance.audit.verify import Verification
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.reports import pdf
from governance.kernel.reports.tabular import chain_head_line


@functools.cache
def environment() -> Environment:
    return pdf.report_environment(FileSystemLoader(str(PROJECT_ROOT / "templates")))


def render(template: str, head: tuple[int, str], context: Mapping[str, Any]) -> bytes:
    """A PDF of `template` with the chain head on its cover (and shortened in each footer)."""
    env = environment()
    seq, digest = head
    rendered = pdf.render_pdf(
        env,
        template,
        {
            **context,
            "audit_chain_head": chain_head_line(seq, digest),
            "footer_note": f"Audit chain head seq={seq}, sha256={digest[:16]}... (in full on "
            "page 1)",
        },
        stylesheet=pdf.load_stylesheet(env),
    )
    return rendered.content


def prepare() -> None:
    """Start the renderer (WeasyPrint: about half a second of CPU) and load the templates'
    environment while something else is awaited, so that rendering starts at once."""
    pdf.prepare()
    environment()


def verification_facts(verification: Verification) -> list[tuple[str, str]]:
    """The cover lines that state whether the trail verified when the PDF was made, and what
    its time-stamp tokens show (the words `governance audit verify` prints)."""
    if verification.intact:
        return [
            (
                "Verification",
                f"Intact: {verification.events:,} events and "
                f"{verification.checkpoints:,} signed checkpoints verified",
            ),
            ("Time-stamp witnesses", verification.witnesses.statement()),
        ]
    return [("Verification", "FAILED: " + verification.summary())]
