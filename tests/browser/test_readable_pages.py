"""The demo world as its readers see it: no raw code in the visible text of the main pages, a
compact public page with one headline table per outcome, and the same in the public PDF."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.request import urlopen

import pytest
from flask import Flask
from playwright.sync_api import Error as PlaywrightError
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.demo import load_demo
from governance.demo.people import DEMO_PASSWORD
from governance.kernel.labels import CODE_PATTERN
from governance.outputs.models import Output, OutputStatus
from tests.browser.keyboard import log_in

# The public page of the demo's matched comparison was 8,700 pixels tall.
PUBLIC_PAGE_HEIGHT = 3000
# The text a person reads: everything but code, disclosures, form controls and scripts.
VISIBLE_TEXT = """() => {
  const copy = (document.querySelector('main') || document.body).cloneNode(true);
  copy.querySelectorAll('code, pre, details, script, style, select, input, textarea, svg, kbd')
      .forEach(node => node.remove());
  return copy.innerText;
}"""
# Codes a person may read as they are: e-mail addresses and file names are not codes.
NOT_CODES = re.compile(r"[\w.+-]+@[\w.-]+|\b[\w-]+\.(?:csv|pdf|json)\b")


@pytest.fixture
def demo(app: Flask, db: Session) -> dict[str, str]:
    """The demo world; returns one e-mail per role."""
    logins = load_demo(db, app=app)
    db.commit()
    return {roles: email for email, roles, _ in logins}


def codes_in(text: str) -> list[str]:
    return CODE_PATTERN.findall(NOT_CODES.sub(" ", text))


def test_the_public_page_is_compact_with_a_headline_per_outcome(
    demo: dict[str, str], db: Session, live_server: Any, new_page: Any
) -> None:
    public = [o for o in db.scalars(select(Output)) if o.status == OutputStatus.PUBLISHED]
    matched = next(o for o in public if o.kind == "matched_comparison")
    page = new_page()
    page.goto(f"{live_server.url}/published/{matched.id}")
    headlines = page.locator("table.headline-table")
    assert headlines.count() >= 2
    first = headlines.nth(0).inner_text()
    for heading in ("Treatment group", "Comparison group", "Difference", "95% CI", "p-value"):
        assert heading in first
    assert "significant" in first.lower()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < PUBLIC_PAGE_HEIGHT, f"the public page is {height}px tall"
    codes = codes_in(page.evaluate(VISIBLE_TEXT))
    assert codes == [], codes

    pdf_link = page.locator("a[href$='.pdf']").first.get_attribute("href")
    with urlopen(f"{live_server.url}{pdf_link}") as response:  # noqa: S310 (the test's server)
        reader = PdfReader(io.BytesIO(response.read()))
    text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert "Headline results" in text
    assert "p-value" in text
    assert "rate.test" not in text
    assert "ci low" not in text


def test_no_raw_code_in_the_main_pages_of_any_role(
    demo: dict[str, str], live_server: Any, new_page: Any
) -> None:
    """Each role's dashboard and menu pages, one page of each kind they link to (runs, outputs,
    agreements, datasets, requests, grants, incidents, compliance and identity pages), and one
    of each kind those detail pages link to (an agreement's clauses, versions, attachments and
    close-out), show no snake_case or colon code outside <code> and <details>."""
    found: dict[str, list[str]] = {}
    for roles, email in demo.items():
        page = new_page()
        log_in(page, live_server.url, email, DEMO_PASSWORD)
        menu = page.eval_on_selector_all("nav a[href^='/']", HREFS)
        seen: set[str] = set()
        queue = [(path, 0) for path in dict.fromkeys(["/", *menu])]
        for index, (path, depth) in enumerate(queue):
            shape = re.sub(r"\d+", "N", path.split("?")[0])
            downloads = shape.endswith(DOWNLOADS) or "/download" in shape
            if shape.startswith(SKIPPED) or downloads or shape in seen or index > MAX_PAGES:
                continue
            seen.add(shape)
            try:
                response = page.goto(f"{live_server.url}{path}")
            except PlaywrightError as error:  # a link that downloads a file is not a page
                if "Download is starting" in str(error):
                    continue
                raise
            if response is None or "text/html" not in response.headers.get("content-type", ""):
                continue
            codes = codes_in(page.evaluate(VISIBLE_TEXT))
            if codes:
                found[f"{roles} {path}"] = sorted(set(codes))
            if depth < FOLLOW_DEPTH:
                links = page.eval_on_selector_all("main a[href^='/']", HREFS)
                queue += [(link, depth + 1) for link in links if link.startswith(FOLLOWED)]
        page.context.close()
    assert found == {}, "\n".join(f"{page}: {codes}" for page, codes in found.items())


HREFS = "links => links.map(a => a.getAttribute('href'))"
# Downloads, sign-out and the row viewer's data are not pages of text to read.
SKIPPED = ("/logout", "/static", "/api/", "/audit/export", "/audit/evidence", "/published/N/")
DOWNLOADS = (".csv", ".pdf", ".json", ".jsonl", ".jsonld", ".txt", "SHA256SUMS")
MAX_PAGES = 400
# The detail pages walked beyond the menus, and from them their own sub-pages (two links deep).
FOLLOWED = (
    "/analyses/",
    "/outputs/",
    "/published/",
    "/agreements/",
    "/datasets/",
    "/access/",
    "/incidents/",
    "/compliance/",
    "/admin/",
)
FOLLOW_DEPTH = 2
