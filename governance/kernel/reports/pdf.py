"""HTML-to-PDF rendering for governance reports (WeasyPrint 70).

This module owns three guarantees for every PDF the service produces:

* **Nothing is fetched.**  WeasyPrint resolves images, stylesheets, fonts and
  attachments through a URL fetcher.  Ours refuses every scheme but ``data:``
  (``file:``, ``http(s):``, ``ftp:`` ...), as Indico does, so a template or a
  stray value can neither read local files nor reach the network.  A refusal
  raises ``BlockedURLError`` inside WeasyPrint, which reports it (a logged
  warning) and renders without the resource; ``strict=True`` aborts instead.
* **User text stays text.**  Templates are rendered by a Jinja environment
  whose autoescaping is on; an environment without it is refused.
* **The bytes are accounted for.**  The result carries the PDF and its
  SHA-256, for the audit trail; it is byte-reproducible for the same input
  when fonts are subset reproducibly (see docs/decisions/reports-toolkit.md).
"""

from __future__ import annotations

import functools
import hashlib
import re
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import BaseLoader, Environment, StrictUndefined, select_autoescape

from governance.kernel import labels
from governance.kernel.reports import headlines

__all__ = [
    "STYLESHEET",
    "BlockedURLError",
    "RenderedPDF",
    "html_to_pdf",
    "load_stylesheet",
    "prepare",
    "render_pdf",
    "render_pdf_string",
    "report_environment",
]

#: Loader name of the shared print stylesheet (templates/reports/_report.css).
STYLESHEET = "reports/_report.css"

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")


class BlockedURLError(ValueError):
    """A report tried to load a resource from somewhere other than a data: URL."""


@dataclass(frozen=True)
class RenderedPDF:
    """A rendered report: the PDF bytes, their SHA-256 and any refused URLs."""

    content: bytes
    sha256: str
    blocked_urls: tuple[str, ...] = ()


@functools.cache
def _fetcher_class() -> type[Any]:
    # WeasyPrint (and its Pango/cffi set-up, ~0.5 s) is imported on the first
    # render, not when the web app imports this module.  WeasyPrint 70 wants a
    # URLFetcher subclass (it reads private attributes such as
    # _fail_on_errors), so the class is built here too.
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
        def __init__(self, *, strict: bool) -> None:
            # allowed_protocols is belt and braces: fetch() below never calls
            # the parent's urllib opener, so no handler can run at all.
            super().__init__(allowed_protocols=("data",), fail_on_errors=strict)
            self.blocked: list[str] = []

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            match = _SCHEME.match(url)
            if not match or match.group(1).lower() != "data":
                self.blocked.append(url)
                raise BlockedURLError(f"reports may only embed data: URLs, refused {url[:200]!r}")
            # Decode the data: URL ourselves (stdlib, no I/O) instead of going
            # through the opener that also knows file:, http: and ftp:.
            request = urllib.request.Request(url.strip())  # noqa: S310 (data: only, checked above)
            with urllib.request.DataHandler().data_open(request) as response:
                body = response.read()
                content_type = response.headers.get("Content-Type", "text/plain")
            return URLFetcherResponse(url, body, {"Content-Type": content_type})

    return DataOnlyFetcher


def prepare() -> None:
    """Import WeasyPrint (about half a second of CPU) ahead of the first render, for a caller
    that has something else to wait for meanwhile."""
    _fetcher_class()


# The filters every page and every report may use (the web app installs the same ones).
TEMPLATE_FILTERS: dict[str, Callable[..., Any]] = {
    "label": labels.label,
    "labels": labels.label_list,
    "words": labels.in_words,
    "code_spans": labels.code_spans,
    "headlines": headlines.headlines,
}


def report_environment(loader: BaseLoader) -> Environment:
    """A Jinja environment for reports: autoescape on, undefined names are errors, and the
    same label and headline filters as the pages."""
    env = Environment(
        loader=loader,
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a typo in a report must fail, not print ""
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(TEMPLATE_FILTERS)
    return env


def load_stylesheet(env: Environment, name: str = STYLESHEET) -> str:
    """Read a stylesheet's text through the environment's loader (no URL involved)."""
    if env.loader is None:
        raise ValueError("the environment has no loader to read the stylesheet from")
    source, _filename, _uptodate = env.loader.get_source(env, name)
    return source


def _require_autoescape(env: Environment, template_name: str | None) -> None:
    setting = env.autoescape
    enabled = setting(template_name) if callable(setting) else setting
    if not enabled:
        raise ValueError(
            f"refusing to render {template_name or 'a template string'}: "
            "autoescape is off, so user-typed text could become markup"
        )


def html_to_pdf(
    html: str, *, stylesheets: Sequence[str] = (), strict: bool = False, tagged: bool = True
) -> RenderedPDF:
    """Render an HTML string to PDF with the data:-only fetcher.

    The caller is responsible for *html* being safe (prefer ``render_pdf``).
    ``tagged`` writes a tagged PDF (structure tree) for screen readers.
    """
    from weasyprint import CSS, HTML
    from weasyprint.urls import FatalURLFetchingError

    fetcher = _fetcher_class()(strict=strict)
    # base_url=None: a relative URL has nothing to resolve against, so it
    # cannot silently become a file: path next to the process's cwd.
    document = HTML(string=html, base_url=None, url_fetcher=fetcher)
    sheets = [CSS(string=css, base_url=None, url_fetcher=fetcher) for css in stylesheets]
    try:
        pdf = document.write_pdf(stylesheets=sheets, pdf_tags=tagged)
    except FatalURLFetchingError as exc:  # only raised when strict
        # A BaseException in WeasyPrint; re-raised as an Exception so that web
        # error handlers (which catch Exception) see it.
        cause = exc.__cause__
        if isinstance(cause, BlockedURLError):
            raise cause from None
        raise ValueError(f"a report resource could not be loaded: {exc}") from cause
    return RenderedPDF(pdf, hashlib.sha256(pdf).hexdigest(), tuple(fetcher.blocked))


def render_pdf(
    env: Environment,
    template_name: str,
    context: Mapping[str, Any] | None = None,
    *,
    stylesheet: str | None = None,
    strict: bool = False,
) -> RenderedPDF:
    """Render a named template from *env* (autoescape required) to PDF.

    *stylesheet* is CSS text, typically ``load_stylesheet(env)``.
    """
    _require_autoescape(env, template_name)
    html = env.get_template(template_name).render(**(context or {}))
    return html_to_pdf(html, stylesheets=[stylesheet] if stylesheet else (), strict=strict)


def render_pdf_string(
    source: str,
    context: Mapping[str, Any] | None = None,
    *,
    env: Environment | None = None,
    stylesheet: str | None = None,
    strict: bool = False,
) -> RenderedPDF:
    """Render a template given as a string (compiled by *env* or a report environment)."""
    env = env or report_environment(BaseLoader())
    _require_autoescape(env, None)
    html = env.from_string(source).render(**(context or {}))
    return html_to_pdf(html, stylesheets=[stylesheet] if stylesheet else (), strict=strict)
