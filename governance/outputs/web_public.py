"""The public page of published outputs, without login.

Every view reads through `published_statement()`: an output that is not published (or not an
aggregate output) answers 404, exactly as an id that does not exist, so the page never tells
anyone that an unpublished output exists. Files are served only under their own names, with
their SHA-256 in a header, in `SHA256SUMS` (for `sha256sum -c`) and in `sha256.json`, so anyone
can check a copy they were given. The files are the public ones made at publication from the
released figures alone (outputs/public.py), never the team's report, which names the
analyst, the run, the software version and the audit chain head. Public downloads are not
written to the audit trail: anyone may make them, and recording them would let anyone flood
the trail.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, url_for

from governance.identity.web_login import public
from governance.kernel.extensions import db_session
from governance.outputs.content import table_view
from governance.outputs.models import Output
from governance.outputs.public import public_summary
from governance.outputs.queries import (
    Withdrawal,
    get_published,
    published_outputs,
    withdrawn_outputs,
)

bp = Blueprint("public", __name__, url_prefix="/published")

PUBLIC_CACHE = "public, max-age=300"


def _files(output: Output) -> dict[str, dict[str, str]]:
    """The public files; none for an output published before they were made, until the
    `outputs.public_files` job has made them."""
    name = output.reference.lower()
    if output.public_pdf_sha256 is None or output.public_csv_sha256 is None:
        return {}
    return {
        "pdf": {"name": f"{name}.pdf", "sha256": output.public_pdf_sha256},
        "csv": {"name": f"{name}.csv", "sha256": output.public_csv_sha256},
    }


def _entry(output: Output, withdrawn: Withdrawal | None = None) -> dict[str, Any]:
    published = output.published_at
    if withdrawn is not None:
        # Withdrawn under an incident freeze: the title and the notice, no figures, no files.
        return {
            "reference": output.reference,
            "title": output.title,
            "published_on": published.date().isoformat() if published else None,
            "withdrawn": withdrawn.notice,
            "files": {},
            "url": url_for("public.output", output_id=output.id),
        }
    return {
        "reference": output.reference,
        "title": output.title,
        "summary": output.summary,
        "published_on": published.date().isoformat() if published else None,
        "agreement": public_summary(output),
        "files": _files(output),
        "url": url_for("public.output", output_id=output.id),
    }


@bp.route("/")
@public
def index() -> str:
    db = db_session()
    withdrawn = withdrawn_outputs(db)
    return render_template(
        "public/index.html",
        entries=[(o, _entry(o, withdrawn.get(o.id))) for o in published_outputs(db)],
    )


@bp.route("/<int:output_id>")
@public
def output(output_id: int) -> str:
    db = db_session()
    published = get_published(db, output_id)
    withdrawn = withdrawn_outputs(db).get(published.id)
    if withdrawn is not None:
        return render_template("public/withdrawn.html", entry=_entry(published, withdrawn))
    return render_template(
        "public/output.html",
        output=published,
        entry=_entry(published),
        tables=[(table, *table_view(table)) for table in published.result["tables"]],
    )


@bp.route("/<int:output_id>/<filename>")
@public
def file(output_id: int, filename: str) -> Response:
    db = db_session()
    published = get_published(db, output_id)
    if published.id in withdrawn_outputs(db):
        abort(410)
    files = _files(published)
    if filename == "sha256.json":
        response = jsonify(
            {
                "reference": published.reference,
                "files": {f["name"]: f["sha256"] for f in files.values()},
            }
        )
    elif filename == "SHA256SUMS":
        sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in files.values())
        response = Response(sums, mimetype="text/plain")
    elif "pdf" in files and filename == files["pdf"]["name"] and published.public_pdf:
        response = _attachment(published.public_pdf, "application/pdf", files["pdf"])
    elif "csv" in files and filename == files["csv"]["name"] and published.public_csv:
        response = _attachment(published.public_csv, "text/csv", files["csv"])
    else:
        abort(404)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


def _attachment(content: bytes, mimetype: str, described: dict[str, str]) -> Response:
    return Response(
        content,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{described["name"]}"',
            "X-Content-SHA256": described["sha256"],
        },
    )
