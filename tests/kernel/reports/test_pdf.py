"""Tests for governance.kernel.reports.pdf: no fetching, escaping, metadata, layout."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
from jinja2 import DictLoader, Environment
from pypdf import PdfReader

from governance.kernel.reports import charts, pdf
from governance.kernel.reports.tabular import chain_head_line

HOSTILE = [
    "<script>alert('x')</script>",
    "<img src=file:///etc/passwd>",
    "url(file:///etc/passwd)",
    '<link rel="stylesheet" href="http://192.0.2.1/x.css">',
]

TEMPLATES = {
    "hostile.html": """{% extends "reports/_base.html" %}
{% block content %}
<h2>Requests</h2>
<table><thead><tr><th>Requester note</th></tr></thead>
<tbody>{% for text in notes %}<tr><td>{{ text }}</td></tr>{% endfor %}</tbody></table>
{% endblock %}""",
    # Developer mistakes: every external reference a template could carry.
    "external.html": """{% extends "reports/_base.html" %}
{% block head %}
<link rel="stylesheet" href="https://192.0.2.1/evil.css">
<style>body { background: url(file:///etc/passwd); }
@font-face { font-family: Web; src: url(ftp://192.0.2.1/font.woff2); }</style>
{% endblock %}
{% block content %}
<img src="file:///etc/passwd" alt="a">
<img src="http://192.0.2.1/pixel.png" alt="b">
<img src="gopher://192.0.2.1/x" alt="c">
<img src="{{ data_url }}" alt="inline image is fine">
<p>Body text</p>
{% endblock %}""",
    "long.html": """{% extends "reports/_base.html" %}
{% block content %}
{{ chart }}
<table><thead><tr><th>Dataset</th><th class="num">Grants</th></tr></thead>
<tbody>{% for i in range(rows) %}<tr><td>Dataset {{ i }}</td><td class="num">{{ i }}</td></tr>
{% endfor %}</tbody></table>
{% endblock %}""",
}

PIXEL = (
    "data:image/png;base64,"
    + base64.b64encode(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360f80f00000101000518d84e0000"
            "000049454e44ae426082"
        )
    ).decode()
)


@pytest.fixture
def env(make_env: Callable[[dict[str, str]], Environment]) -> Environment:
    return make_env(TEMPLATES)


def page_texts(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def test_user_text_is_escaped_shown_literally_and_fetches_nothing(
    env: Environment, io_recorder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    css = pdf.load_stylesheet(env)
    io_recorder.active = True
    result = pdf.render_pdf(
        env, "hostile.html", {"title": "Notes <b>bold</b>", "notes": HOSTILE}, stylesheet=css
    )
    io_recorder.active = False
    assert result.blocked_urls == ()  # escaped text never became an element
    assert io_recorder.network == []
    assert not [p for p in io_recorder.opened if "passwd" in p]
    text = "\n".join(page_texts(result.content))
    for value in [*HOSTILE, "Notes <b>bold</b>"]:
        assert value in text
    assert not [r for r in caplog.records if "Failed to load" in r.getMessage()]


def test_io_recorder_sees_file_and_socket_use(io_recorder: Any) -> None:
    # Positive control: the recorder the other tests rely on does record.
    io_recorder.active = True
    with open(__file__, "rb"):
        pass
    socket.socket().close()
    io_recorder.active = False
    assert __file__ in io_recorder.opened
    assert any(event.startswith("socket.") for event, _ in io_recorder.network)


def test_external_references_are_refused_and_reported(
    env: Environment, io_recorder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    io_recorder.active = True
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        result = pdf.render_pdf(env, "external.html", {"title": "T", "data_url": PIXEL})
    io_recorder.active = False
    assert io_recorder.network == []
    assert not [p for p in io_recorder.opened if "passwd" in p]
    assert set(result.blocked_urls) >= {
        "https://192.0.2.1/evil.css",
        "file:///etc/passwd",
        "http://192.0.2.1/pixel.png",
        "gopher://192.0.2.1/x",
    }
    assert PIXEL not in result.blocked_urls  # data: URLs still work
    reported = " ".join(r.getMessage() for r in caplog.records)
    assert "BlockedURLError" in reported
    assert "file:///etc/passwd" in reported
    assert "Body text" in page_texts(result.content)[0]


def test_strict_mode_aborts_on_the_first_refused_url(env: Environment) -> None:
    with pytest.raises(pdf.BlockedURLError, match="only embed data: URLs"):
        pdf.render_pdf(env, "external.html", {"title": "T", "data_url": PIXEL}, strict=True)


def test_fetcher_refuses_every_scheme_but_data() -> None:
    fetcher = pdf._fetcher_class()(strict=False)
    for url in ("file:///etc/passwd", "FILE:///x", "http://a", "https://a", "ftp://a", "x", ""):
        with pytest.raises(pdf.BlockedURLError):
            fetcher.fetch(url)
    response = fetcher.fetch("data:text/plain;charset=utf-8,hello")
    assert response.read() == b"hello"
    assert fetcher.blocked == ["file:///etc/passwd", "FILE:///x", "http://a", "https://a",
                               "ftp://a", "x", ""]  # fmt: skip


def test_environment_without_autoescape_is_refused() -> None:
    unsafe = Environment(loader=DictLoader({"r.html": "{{ x }}"}), autoescape=False)  # noqa: S701
    with pytest.raises(ValueError, match="autoescape is off"):
        pdf.render_pdf(unsafe, "r.html", {"x": "<b>"})
    with pytest.raises(ValueError, match="autoescape is off"):
        pdf.render_pdf_string("{{ x }}", {"x": "<b>"}, env=Environment(autoescape=False))  # noqa: S701


def test_template_string_render_escapes_and_hashes() -> None:
    result = pdf.render_pdf_string(
        "<title>{{ t }}</title><p>{{ x }}</p>", {"t": "S", "x": "<img src=file:///etc/passwd>"}
    )
    assert result.sha256 == hashlib.sha256(result.content).hexdigest()
    assert result.content.startswith(b"%PDF-")
    assert "<img src=file:///etc/passwd>" in page_texts(result.content)[0]
    assert result.blocked_urls == ()


def test_metadata_title_author_and_chain_head(env: Environment) -> None:
    head = chain_head_line(7, "ab" * 32)
    ctx = {"title": "Agreements review", "author": "Governance office",
           "description": "Quarterly", "keywords": ["dua", "audit"], "audit_chain_head": head,
           "created": "2026-04-01T09:00:00Z", "notes": ["n"]}  # fmt: skip
    result = pdf.render_pdf(env, "hostile.html", ctx, stylesheet=pdf.load_stylesheet(env))
    meta = PdfReader(io.BytesIO(result.content)).metadata
    assert meta is not None
    assert meta.title == "Agreements review"
    assert meta.author == "Governance office"
    assert meta.subject == "Quarterly"
    assert meta.get("/Keywords") == "dua, audit"
    assert meta.creation_date is not None
    assert meta.creation_date.year == 2026
    assert head in page_texts(result.content)[0]


def test_two_pages_with_running_header_footer_and_repeated_table_header(
    env: Environment, caplog: pytest.LogCaptureFixture
) -> None:
    chart = charts.bar_chart({"Active": 3, "Expired": 1}, title="Agreements by status")
    ctx = {"title": "Long report", "footer_note": "Official sensitive", "rows": 40, "chart": chart}
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        result = pdf.render_pdf(env, "long.html", ctx, stylesheet=pdf.load_stylesheet(env))
    pages = page_texts(result.content)
    assert len(pages) == 2
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of 2" in text
        assert "Official sensitive" in text
        assert "Dataset Grants" in text  # the table header row, repeated
    assert "Long report" in pages[1]  # running header from page 2 on
    assert "Agreements by status" in pages[0]
    assert "Expired" in pages[0]
    # Inline chart SVG is plain presentation attributes: WeasyPrint logs nothing
    # about it (font-subsetting notices depend on the machine's libraries).
    noise = [r for r in caplog.records if "HarfBuzz" not in r.getMessage()]
    assert noise == []


def test_same_input_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # fontTools (used when libharfbuzz-subset is absent) stamps subset fonts
    # with the current time unless SOURCE_DATE_EPOCH is set.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    source = "<title>{{ t }}</title><h1>{{ t }}</h1>{{ c }}"
    ctx = {"t": "Same", "c": charts.bar_chart({"a": 1}, title="c")}
    first, second = pdf.render_pdf_string(source, ctx), pdf.render_pdf_string(source, ctx)
    assert first.content == second.content
    assert first.sha256 == second.sha256
