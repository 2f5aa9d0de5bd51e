"""What the agreement pages show: the clauses, the amendment under review with its changes,
the version history clause by clause, comments, issued PDFs, and the choices of the form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import get_template_attribute, request
from markupsafe import Markup
from sqlalchemy.orm import Session

from governance.agreements.clauses import clause_diff
from governance.agreements.law_fit import law_warnings
from governance.agreements.models import Agreement
from governance.agreements.parts_model import ProjectRole
from governance.agreements.queries import terms_form_choices
from governance.agreements.web_forms import TermsForm
from governance.identity.courses import current_courses
from governance.identity.models import User
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from governance.web.drawn import KeptDrawings


def detail_context(session: Session, agreement: Agreement, user: User) -> dict[str, Any]:
    shown = agreement.display_version
    current, working = agreement.current_version, agreement.working_version
    today = utcnow().date()
    history = []
    for index, version in enumerate(agreement.versions):
        previous = agreement.versions[index - 1] if index else None
        history.append(
            {"version": version, "changes": clause_diff(previous, version) if previous else []}
        )
    comments = sorted(
        ((v.number, c) for v in agreement.versions for c in v.comments),
        key=lambda pair: pair[1].created_at,
    )
    documents = sorted(
        ((v.number, d) for v in agreement.versions for d in v.documents),
        key=lambda pair: pair[1].issued_at,
        reverse=True,
    )
    required = shown.required_courses()
    held = current_courses(session, {p.user_id for p in shown.personnel}, today)
    training = [
        {"person": p, "missing": sorted(c.label for c in required - held[p.user_id])}
        for p in shown.personnel
    ]
    return {
        "agreement": agreement,
        "shown": shown,
        "terms_table": terms_table(shown.clauses()),
        "amendment": working if current is not None else None,
        "amendment_changes": clause_diff(current, working) if current and working else [],
        "history": list(reversed(history)),
        "comments": comments,
        "documents": documents,
        "training": training,
        "destruction_due": agreement.destruction_due(),
    }


# Terms as shown: a few kB each, so at most about 2 MB per process.
KEPT_TABLES = 256
_kept_tables = KeptDrawings(KEPT_TABLES)


def terms_table(clauses: Sequence[tuple[str, str, str]]) -> Markup:
    """The table of a version's terms. Drawing it (a row per clause, each value's column names
    set as code) was about a twentieth of the agreement page's CPU; the table is a function of
    the clauses' text alone, so each process keeps the tables it drew by that text: any change
    of a term, a name or a column draws a new one."""
    key = tuple(clauses)
    kept = _kept_tables.get(key)
    if kept is not None:
        return kept
    macro = get_template_attribute("agreements/_clauses.html", "clause_table")
    # An autoescaping template's macro returns Markup, every value in it escaped.
    drawn: Markup = macro(clauses, "Every clause, with the identifier later decisions cite")
    _kept_tables.keep(key, drawn)
    return drawn


def form_context(
    session: Session, form: TermsForm, agreement_id: int | None, refusal: ValidationFailed | None
) -> dict[str, Any]:
    agreement, datasets, candidates = terms_form_choices(session, agreement_id)
    working = agreement.working_version if agreement else None
    if request.method == "POST":
        selected = set(request.form.getlist("columns"))
        roles = {
            k.removeprefix("personnel-"): v
            for k, v in request.form.items()
            if k.startswith("personnel-")
        }
    elif working is not None:
        selected = {f"{c.dataset_id}:{c.column_name}" for c in working.covered}
        roles = {str(p.user_id): str(p.project_role) for p in working.personnel}
    else:
        selected, roles = set(), {}
    return {
        "agreement": agreement,
        "working": working,
        "is_amendment": agreement is not None and agreement.current_version is not None,
        "datasets": datasets,
        "candidates": candidates,
        "selected_columns": selected,
        "personnel_roles": roles,
        "project_roles": list(ProjectRole),
        "refusal": refusal,
        "errors": refusal.fields if refusal else {},
        "law_warnings": law_warnings(session, working) if working is not None else [],
    }
