"""The compliance manager's PDFs: the house report template, sealed with the audit head on
the cover (seal.py) and the head shortened in each page footer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from governance.audit.pdf import environment
from governance.compliance.seal import Seal
from governance.kernel.reports import pdf


def render(template: str, sealed: Seal, context: Mapping[str, Any]) -> bytes:
    env = environment()
    rendered = pdf.render_pdf(
        env,
        template,
        {
            **context,
            "audit_chain_head": " · ".join(sealed.lines()),
            "footer_note": f"Audit chain head seq={sealed.seq}, sha256={sealed.sha256[:16]}... "
            "(in full on page 1)",
        },
        stylesheet=pdf.load_stylesheet(env),
        strict=True,
    )
    return rendered.content
