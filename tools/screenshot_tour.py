"""The screenshot tour: one full-page screenshot of each role's main page and the first page of
each PDF the service produces, taken from the demo world, into docs/screenshots/.

    make screenshots                 # or: .venv/bin/python tools/screenshot_tour.py
    .venv/bin/python tools/screenshot_tour.py --people 5000 --out docs/screenshots

It builds a fresh instance in a temporary folder (keys, SQLite database, `governance demo`),
starts `governance serve` on a free port, signs in as each demo person with Playwright and
Debian's chromium (/usr/bin/chromium), and renders each PDF's first page to PNG with
`pdftoppm` (apt-get install poppler-utils) or, failing that, pypdfium2 if it is installed.
Nothing of the developer's own instance/ is touched; the temporary folder is removed at the
end. The PNGs are reduced to a 256-colour palette to keep the repository small.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "demo-password-2026"  # governance.demo.DEMO_PASSWORD, printed by `governance demo`
VIEWPORT = {"width": 1280, "height": 800}
# A page taller than this is cut (and the tour says so): a screenshot is for looking at.
MAX_HEIGHT = 6000


@dataclass(frozen=True)
class Shot:
    name: str  # file name without .png
    who: str | None  # demo e-mail, None for a visitor
    path: str  # address, or "pdf:" + address of a PDF
    caption: str


ROLE_PAGES = [
    Shot(
        "privacy-officer",
        "privacy@lab.example",
        "/dashboard/privacy_officer",
        "Privacy officer: dashboard",
    ),
    Shot(
        "data-steward", "steward@lab.example", "/dashboard/data_steward", "Data steward: dashboard"
    ),
    Shot("analyst", "analyst@lab.example", "/dashboard/analyst", "Analyst: dashboard"),
    Shot(
        "output-checker",
        "checker@lab.example",
        "/dashboard/output_checker",
        "Output checker: dashboard",
    ),
    Shot(
        "partner-reviewer",
        "reviewer@police.example",
        "/dashboard/partner_reviewer",
        "Partner reviewer (police): dashboard",
    ),
    Shot(
        "compliance-manager",
        "compliance@lab.example",
        "/dashboard/compliance_manager",
        "Compliance manager: dashboard",
    ),
    Shot(
        "compliance-audit-trail",
        "compliance@lab.example",
        "/audit/",
        "Compliance manager: audit trail",
    ),
    Shot("admin", "admin@lab.example", "/dashboard/admin", "Administrator: dashboard"),
    Shot(
        "privacy-officer-draft-form",
        "privacy@lab.example",
        "/agreements/new",
        "Privacy officer: drafting an agreement",
    ),
    Shot(
        "analyst-grants",
        "analyst@lab.example",
        "/access/grants",
        "Analyst: grants, with the list filter",
    ),
    Shot("public", None, "/published/", "Anyone: published outputs"),
]


def pdf_shots(ids: dict[str, Any]) -> list[Shot]:
    shots = [
        Shot(
            "partner-reviewer-preview",
            "reviewer@police.example",
            f"/outputs/{ids['preview']}",
            "Partner reviewer: an output in preview (flag, or no concerns)",
        ),
        Shot(
            "pdf-agreement",
            "privacy@lab.example",
            f"pdf:/agreements/{ids['agreement']}/pdf",
            "Agreement DUA-2026-001 (PDF)",
        ),
        Shot(
            "pdf-access-review",
            "compliance@lab.example",
            "pdf:/access/reviews.pdf",
            "Access review (PDF)",
        ),
        Shot(
            "pdf-audit-report",
            "compliance@lab.example",
            "pdf:/audit/export?format=pdf",
            "Audit report (PDF)",
        ),
        Shot(
            "pdf-evidence-pack",
            "compliance@lab.example",
            f"pdf:/audit/evidence/{ids['agreement']}.pdf",
            "Evidence pack of DUA-2026-001 (PDF)",
        ),
        Shot(
            "pdf-analysis-report",
            "analyst@lab.example",
            f"pdf:/analyses/{ids['run']}/download/pdf",
            "Analysis report (PDF)",
        ),
        Shot(
            "pdf-output",
            "checker@lab.example",
            f"pdf:/outputs/{ids['output']}/files/pdf",
            "Output for checking (PDF)",
        ),
    ]
    if ids.get("certificate"):
        shots.append(
            Shot(
                "pdf-destruction-certificate",
                "privacy@lab.example",
                f"pdf:/datasets/certificates/{ids['certificate']}.pdf",
                "Destruction certificate (PDF)",
            )
        )
    if ids.get("public_pdf"):
        shots.append(
            Shot("pdf-public-output", None, "pdf:" + ids["public_pdf"], "Published output (PDF)")
        )
    return shots


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _governance(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "governance.cli", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextmanager
def demo_server(people: int | None) -> Iterator[tuple[str, dict[str, str]]]:
    """A temporary instance with the demo world, served until the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="screenshot-tour-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GOVERNANCE_INSTANCE_PATH": str(folder / "instance"),
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{folder / 'governance.db'}",
        "GOVERNANCE_QUEUE_URL": f"sqlite:///{folder / 'queue.db'}",
        "GOVERNANCE_BASE_URL": url,
    }
    for name in ("GOVERNANCE_TEST_DATABASE_URL", "GOVERNANCE_SECRET_KEY"):
        env.pop(name, None)
    server = None
    try:
        print(f"building the demo world in {folder} ...", flush=True)
        _governance(env, "init")
        _governance(env, "demo", *(["--people", str(people)] if people else []))
        log = (folder / "server.log").open("w")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "governance.cli",
                "serve",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/login", timeout=2)  # noqa: S310 (our own server)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the server did not start: " + (folder / "server.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.3)
        yield url, env
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(folder, ignore_errors=True)


def demo_ids(env: dict[str, str]) -> dict[str, Any]:
    """The objects the PDFs belong to, read from the temporary instance's database."""
    code = r"""
import json
from sqlalchemy import select
from governance import create_app
from governance.kernel.extensions import database
from governance.agreements.models import Agreement
from governance.agreements.destruction_model import DestructionCertificate
from governance.analysis.models import AnalysisRun
from governance.outputs.models import Output
app = create_app()
with app.app_context(), database(app).session() as s:
    def first(query):
        return s.scalars(query).first()
    agreement = first(select(Agreement).where(Agreement.reference == "DUA-2026-001"))
    run = first(select(AnalysisRun).where(AnalysisRun.report_sha256.is_not(None)))
    output = first(select(Output).where(Output.status == "produced").order_by(Output.id))
    published = first(select(Output).where(Output.status == "published"))
    previewed = first(select(Output).where(Output.status == "in_preview"))
    certificate = first(select(DestructionCertificate.id).order_by(DestructionCertificate.id))
    print(json.dumps({"agreement": agreement.id, "run": run.id if run else None,
                      "output": output.id if output else None,
                      "published": published.id if published else None,
                      "preview": previewed.id if previewed else None,
                      "certificate": certificate}))
"""
    import json

    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    ids: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return ids


def pdf_first_page(pdf: bytes, width: int = 900) -> bytes:
    """The first page of a PDF as PNG: pdftoppm if installed, else pypdfium2."""
    if shutil.which("pdftoppm"):
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "in.pdf"
            source.write_bytes(pdf)
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-scale-to-x",
                    str(width),
                    "-scale-to-y",
                    "-1",
                    "-singlefile",
                    str(source),
                    str(Path(folder) / "page"),
                ],
                check=True,
            )
            return (Path(folder) / "page.png").read_bytes()
    try:
        import pypdfium2  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit(
            "Rendering PDF pages needs pdftoppm (apt-get install poppler-utils) or pypdfium2 "
            "(pip install pypdfium2)."
        ) from None
    document = pypdfium2.PdfDocument(pdf)
    page = document[0]
    image = page.render(scale=width / page.get_width()).to_pil()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_small(png: bytes, target: Path) -> None:
    """A 256-colour palette PNG, optimised: screenshots of pages are mostly flat colour."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(target, format="PNG", optimize=True)


def _login(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    if "/login" in page.url:
        raise RuntimeError(f"{email} could not sign in")


def take(url: str, shots: list[Shot], out: Path, browser: Any) -> list[tuple[Shot, str]]:
    """Each shot, signed in as its person in a fresh browser context; returns problems."""
    problems: list[tuple[Shot, str]] = []
    for shot in shots:
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None
        )
        try:
            if shot.who:
                _login(page, url, shot.who)
            if shot.path.startswith("pdf:"):
                answer = context.request.get(url + shot.path[4:])
                if answer.status != 200 or not answer.body().startswith(b"%PDF"):
                    problems.append((shot, f"{shot.path[4:]} answered {answer.status}"))
                    continue
                save_small(pdf_first_page(answer.body()), out / f"{shot.name}.png")
            else:
                answer = page.goto(url + shot.path)
                page.wait_for_load_state("networkidle")
                if answer is None or answer.status != 200:
                    problems.append(
                        (shot, f"{shot.path} answered {answer.status if answer else '?'}")
                    )
                height = page.evaluate("document.documentElement.scrollHeight")
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > VIEWPORT["width"]:
                    problems.append((shot, f"wider than the window: {width} px"))
                if height > MAX_HEIGHT:
                    problems.append(
                        (shot, f"{height} px tall; the screenshot shows the first {MAX_HEIGHT}")
                    )
                    shot_png = page.screenshot(
                        full_page=True,
                        clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_HEIGHT},
                    )
                else:
                    shot_png = page.screenshot(full_page=True)
                save_small(shot_png, out / f"{shot.name}.png")
            if errors:
                problems.append((shot, "console errors: " + "; ".join(errors)))
        finally:
            context.close()
        print(f"  {shot.name}.png  {shot.caption}", flush=True)
    return problems


def readme_section(shots: list[Shot], out: Path) -> str:
    relative = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    lines = [
        f"- [{s.caption}]({relative}/{s.name}.png)"
        for s in shots
        if (out / f"{s.name}.png").exists()
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument(
        "--people", type=int, default=None, help="synthetic people in the demo (its own default)"
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(
            "The tour needs Debian's chromium at /usr/bin/chromium (apt-get install chromium).",
            file=sys.stderr,
        )
        return 2
    from playwright.sync_api import sync_playwright

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    with demo_server(args.people) as (url, env):
        ids = demo_ids(env)
        public = urllib.request.urlopen(f"{url}/published/{ids['published']}").read().decode()  # noqa: S310
        found = re.search(r'href="(/published/\d+/[^"]+\.pdf)"', public)
        ids["public_pdf"] = found.group(1) if found else None
        shots = ROLE_PAGES + pdf_shots(ids)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            problems = take(url, shots, out, browser)
            browser.close()
    print("\nREADME list:\n" + readme_section(shots, out))
    for shot, problem in problems:
        print(f"PROBLEM {shot.name}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
