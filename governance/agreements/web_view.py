"""What the agreement pages show: the clauses, the amendment under review with its changes,
the version history clause by clause, comments, issued PDFs, and the choices of the form."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.clauses import clause_diff
from governance.agreements.models import Agreement
from governance.agreements.parts_model import ProjectRole
from governance.agreements.web_forms import TermsForm
from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.identity.organization_model import Organization, OrganizationKind
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow


def detail_context(agreement: Agreement, user: User) -> dict[str, Any]:
    shown = agreement.display_version
    current, working = agreement.current_version, agreement.working_version
    today = utcnow().date()
    history = []
    for index, version in enumerate(agreement.versions):
        previous = agreement.versions[index - 1] if index else None
        history.append({"version": version,
                        "changes": clause_diff(previous, version) if previous else []})
    comments = sorted(((v.number, c) for v in agreement.versions for c in v.comments),
                      key=lambda pair: pair[1].created_at)
    documents = sorted(((v.number, d) for v in agreement.versions for d in v.documents),
                       key=lambda pair: pair[1].issued_at, reverse=True)
    required = shown.required_courses()
    training = [{"person": p, "missing": sorted(c.label for c in
                                                required - p.user.current_courses(today))}
                for p in shown.personnel]
    return {
        "agreement": agreement, "shown": shown, "clauses": shown.clauses(),
        "amendment": working if current is not None else None,
        "amendment_changes": clause_diff(current, working) if current and working else [],
        "history": list(reversed(history)), "comments": comments, "documents": documents,
        "training": training, "destruction_due": agreement.destruction_due(),
    }


def form_context(session: Session, form: TermsForm, agreement_id: int | None,
                 refusal: ValidationFailed | None) -> dict[str, Any]:
    agreement = session.get(Agreement, agreement_id) if agreement_id else None
    working = agreement.working_version if agreement else None
    datasets_query = select(Dataset).order_by(Dataset.provider_id, Dataset.name)
    people_query = select(User).join(Organization).where(
        User.active.is_(True), Organization.kind == OrganizationKind.RESEARCH)
    if agreement is not None:
        datasets_query = datasets_query.where(Dataset.provider_id == agreement.provider_id)
        people_query = people_query.where(User.organization_id == agreement.recipient_id)
    if request.method == "POST":
        selected = set(request.form.getlist("columns"))
        roles = {k.removeprefix("personnel-"): v for k, v in request.form.items()
                 if k.startswith("personnel-")}
    elif working is not None:
        selected = {f"{c.dataset_id}:{c.column_name}" for c in working.covered}
        roles = {str(p.user_id): str(p.project_role) for p in working.personnel}
    else:
        selected, roles = set(), {}
    return {
        "agreement": agreement, "working": working,
        "is_amendment": agreement is not None and agreement.current_version is not None,
        "datasets": list(session.scalars(datasets_query)),
        "candidates": list(session.scalars(people_query.order_by(User.name))),
        "selected_columns": selected, "personnel_roles": roles,
        "project_roles": list(ProjectRole),
        "refusal": refusal, "errors": refusal.fields if refusal else {},
    }
