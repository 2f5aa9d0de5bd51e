"""Whether uploaded bytes are a PDF a person can read: it opens with pypdf, is not encrypted
and has a page. Shared by every upload that stores a PDF (agreement attachments, corrected
outputs), each of which words its own refusal."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError


def pdf_problem(content: bytes) -> str | None:
    """Why `content` is not a readable PDF, in words that follow "it" ("it has no page"), or
    None. An encrypted PDF is refused because nobody who must read it could."""
    if not content.startswith(b"%PDF-"):
        return "its content does not begin as a PDF does"
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            return "it is encrypted, so it cannot be checked"
        pages = len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as error:
        return f"it does not open ({type(error).__name__})"
    return None if pages >= 1 else "it has no page"
