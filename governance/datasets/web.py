"""Dataset pages: the list, a dataset's schema, stewards and versions, uploads, declaring.

No page here shows a row of data: reading rows is the access decision door's job. Uploads are
synchronous; the form says so and static/upload.js (no inline script, per the CSP) marks the
page as uploading and stops a second click from sending the file twice.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms import Form as SubForm
from wtforms.validators import DataRequired, Length, Optional

from governance import authz
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets import data_use, ingestion, lowest_values, reclassification
from governance.datasets import service as dataset_service
from governance.datasets.duo.ontology import duo
from governance.datasets.duo.statements import PARAMETERS
from governance.datasets.models import (
    CLASSIFICATION_LABELS,
    ColumnType,
    Dataset,
    SubjectArea,
)
from governance.identity import users
from governance.identity.organization_model import Organization, OrganizationKind
from governance.identity.web_login import actor, login_required
from governance.kernel.errors import ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.errors import error_response
from governance.web.forms import CheckboxesField, Form, choices, submitted
from governance.web.paging import paginate

bp = Blueprint("datasets", __name__, url_prefix="/datasets")

BLANK_ROWS = 8
TYPE_CHOICES = choices((t.value, t.value) for t in ColumnType)
CLASSIFICATION_CHOICES = choices((c.value, label) for c, label in CLASSIFICATION_LABELS.items())


class ColumnRow(SubForm):  # type: ignore[misc]
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    # Choices are checked by the service (blank rows are ignored, so are not validated here).
    type = SelectField("Type", choices=TYPE_CHOICES, validate_choice=False)
    classification = SelectField(
        "Classification", choices=CLASSIFICATION_CHOICES, validate_choice=False, default="general"
    )
    required = BooleanField("Required", default=True)
    description = StringField("Description", validators=[Optional(), Length(max=500)])
    value_labels = StringField("Value labels", validators=[Optional(), Length(max=20_000)])


class SchemaForm(Form):
    description = TextAreaField("Description", validators=[Length(max=5000)])
    subject_area = SelectField(
        "What the data is about",
        choices=choices((a.value, a.label) for a in SubjectArea),
        default=SubjectArea.OTHER.value,
        validate_choice=False,
    )
    columns = FieldList(FormField(ColumnRow), min_entries=BLANK_ROWS)


class EditSchemaForm(SchemaForm):
    reason = TextAreaField(
        "Why lower a classification (shown to the privacy officer who decides)",
        validators=[Optional(), Length(max=4000)],
    )


class DecisionForm(Form):
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=4000)])


class DeclareForm(SchemaForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    provider_id = SelectField("Provider agency", coerce=int)


class StewardForm(Form):
    user_id = SelectField("Data steward", coerce=int)


class DataUseForm(Form):
    """A dataset's data-use conditions as GA4GH DUO terms (datasets/data_use.py checks them)."""

    permission = SelectField("Data use permission", validate_choice=False)
    disease = StringField(
        "Disease (MONDO id, for disease-specific research)", validators=[Length(max=40)]
    )
    modifiers = CheckboxesField("Data use modifiers", validate_choice=False)
    # One parameter per modifier that needs one (duo/statements.PARAMETERS); the service
    # checks each against its modifier.
    modifier_ts = StringField("Time limit on use: months", validators=[Length(max=500)])
    modifier_us = StringField("Approved users' e-mail addresses", validators=[Length(max=500)])
    modifier_ps = StringField(
        "Approved projects' agreement references", validators=[Length(max=500)]
    )
    modifier_is = StringField("Approved institutions", validators=[Length(max=500)])
    modifier_gs = StringField("Regions where use is allowed", validators=[Length(max=500)])
    modifier_mor = StringField(
        "Publication moratorium until (YYYY-MM-DD)", validators=[Length(max=500)]
    )
    modifier_rs = StringField("Kind of research allowed (DUO id)", validators=[Length(max=500)])
    reason = TextAreaField(
        "Why (required when the conditions are loosened)", validators=[Length(max=2000)]
    )

    def offer_terms(self, current: dict[str, Any] | None) -> None:
        ontology = duo()
        self.permission.choices = choices(
            (t.id, f"{t.label} ({t.shorthand}, {t.id})") for t in ontology.permissions()
        )
        self.modifiers.choices = choices(
            (t.id, f"{t.label} ({t.shorthand}, {t.id})") for t in ontology.modifiers()
        )
        if current and not self.is_submitted():
            self.permission.data = current["permission"]
            self.disease.data = current.get("disease", "")
            self.modifiers.data = list(current.get("modifiers", {}))
            for modifier_id, value in current.get("modifiers", {}).items():
                term = ontology.term(modifier_id)
                if term is not None and term.shorthand in PARAMETERS:
                    getattr(self, f"modifier_{term.shorthand.lower()}").data = value

    def chosen_modifiers(self) -> dict[str, str]:
        ontology = duo()
        chosen: dict[str, str] = {}
        for modifier_id in self.modifiers.data or []:
            term = ontology.term(modifier_id)
            field = getattr(self, f"modifier_{term.shorthand.lower()}", None) if term else None
            chosen[modifier_id] = (field.data or "") if field is not None else ""
        return chosen


def _rows(form: SchemaForm) -> list[dict[str, Any]]:
    return [row.data for row in form.columns if (row.data.get("name") or "").strip()]


def _schema_upload() -> tuple[str, list[dataset_service.ColumnSpec]] | None:
    upload = request.files.get("schema_file")
    if upload is None or not upload.filename:
        return None
    raw = upload.stream.read(1024 * 1024 + 1)
    if len(raw) > 1024 * 1024:
        raise ValidationFailed("The schema file is larger than 1 MB.")
    try:
        return dataset_service.parse_schema_json(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The schema file must be UTF-8 JSON.") from exc


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> tuple[Response | str, int]:
    # Flask stops reading a body over MAX_CONTENT_LENGTH before the form (and its CSRF token)
    # is parsed, so no verified action exists to audit; the person still gets the 422 that
    # names the limit, like every other refused upload.
    limit = ingestion.limits_of(db_session()).max_upload_label
    return error_response(
        422,
        f"The file was not stored: it is larger than the {limit} limit for one upload.",
        fields={"file": f"at most {limit}; split it or ask an administrator"},
    )


@bp.route("/")
@login_required
def index() -> str:
    db = db_session()
    statement = dataset_service.visible_datasets(actor()).join(Dataset.provider)
    page = paginate(
        db,
        statement,
        default_sort="name",
        sorts={"name": Dataset.name, "provider": Organization.name, "created": Dataset.created_at},
    )
    ids = [d.id for d in page.items]
    latest = dataset_service.latest_versions(db, ids)
    return render_template(
        "datasets/index.html",
        page=page,
        latest=latest,
        can_declare=authz.can(actor(), Permission.DATASET_MANAGE),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> WerkzeugResponse | str:
    authz.require(actor(), Permission.DATASET_MANAGE)
    db = db_session()
    form = DeclareForm()
    providers = users.organizations(db, kind=OrganizationKind.PROVIDER)
    form.provider_id.choices = choices((org.id, org.name) for org in providers)
    if submitted(form):
        uploaded = _schema_upload()
        description, columns = uploaded or (
            form.description.data or "",
            dataset_service.parse_columns(_rows(form)),
        )
        dataset = dataset_service.create_dataset(
            db,
            name=form.name.data,
            description=form.description.data or description,
            provider_id=form.provider_id.data,
            columns=columns,
            by=actor(),
            subject_area=form.subject_area.data or SubjectArea.OTHER,
        )
        db.commit()
        flash(f"Dataset {dataset.name} declared with {len(columns)} columns.", "success")
        return redirect(url_for("datasets.detail", dataset_id=dataset.id))
    return render_template("datasets/new.html", form=form)


@bp.route("/<int:dataset_id>")
@login_required
def detail(dataset_id: int) -> str:
    db = db_session()
    user = actor()
    dataset = dataset_service.get_visible_dataset(db, dataset_id, user=user)
    versions = dataset_service.list_versions(db, dataset_id=dataset.id)
    uploaders = dataset_service.uploaders_of(db, versions)
    stewards = dataset_service.stewards_of(db, dataset)
    can_manage = authz.can(user, Permission.DATASET_MANAGE)
    steward_form = StewardForm()
    if can_manage:
        steward_form.user_id.choices = choices(
            (u.id, f"{u.name} ({u.email})")
            for u in dataset_service.steward_candidates(db)
            if u.id not in dataset.steward_ids
        )
    can_set_data_use = (
        authz.can(user, Permission.DATASET_SET_DATA_USE) and user.id in dataset.steward_ids
    )
    data_use_form = DataUseForm()
    data_use_form.offer_terms(dataset.data_use)
    return render_template(
        "datasets/detail.html",
        dataset=dataset,
        versions=versions,
        uploaders=uploaders,
        stewards=stewards,
        steward_form=steward_form,
        can_manage=can_manage,
        reclassifications=reclassification.pending(db, dataset_id=dataset.id),
        can_decide=authz.can(user, Permission.DATASET_APPROVE_RECLASSIFICATION),
        decision_form=DecisionForm(),
        can_upload=(authz.can(user, Permission.DATASET_INGEST) and user.id in dataset.steward_ids),
        data_use=data_use.described(dataset),
        data_use_form=data_use_form,
        can_set_data_use=can_set_data_use,
        number_columns=lowest_values.number_columns(dataset),
        can_declare_lowest=can_manage and user.id in dataset.steward_ids,
        max_upload=ingestion.limits_of(db).max_upload_label,
        max_rows=f"{ingestion.limits_of(db).max_rows:,}",
    )


@bp.route("/<int:dataset_id>/versions", methods=["POST"])
@login_required
def upload(dataset_id: int) -> WerkzeugResponse:
    db = db_session()
    dataset = dataset_service.get_visible_dataset(
        db, dataset_id, user=actor(), event=AuditType.DATASET_INGEST
    )
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ValidationFailed(
            "Choose a CSV or Parquet file to upload.", {"file": "No file was sent."}
        )
    version = ingestion.ingest_upload(
        db, dataset_id=dataset.id, source=file.stream, filename=file.filename, by=actor()
    )
    db.commit()
    flash(
        f"Stored {version.source_filename} as version {version.number}: "
        f"{version.row_count:,} rows.",
        "success",
    )
    return redirect(url_for("datasets.detail", dataset_id=dataset.id))


@bp.route("/<int:dataset_id>/schema", methods=["GET", "POST"])
@login_required
def edit_schema(dataset_id: int) -> WerkzeugResponse | str:
    authz.require(actor(), Permission.DATASET_MANAGE)
    db = db_session()
    dataset = dataset_service.get_dataset(db, dataset_id)
    form = EditSchemaForm()
    if not form.is_submitted():
        form = EditSchemaForm(
            data={
                "description": dataset.description,
                "subject_area": str(dataset.subject_area),
                "columns": [
                    {
                        **dataset_service.spec_of(c).as_dict(),
                        "value_labels": dataset_service.value_labels_text(c.value_labels),
                    }
                    for c in dataset.columns
                ],
            }
        )
        for _ in range(4):
            form.columns.append_entry()
    if submitted(form):
        dataset_service.update_schema(
            db,
            dataset_id=dataset.id,
            description=form.description.data or "",
            columns=dataset_service.parse_columns(_rows(form)),
            by=actor(),
            reason=form.reason.data or "",
            now=utcnow(),
            subject_area=form.subject_area.data or str(dataset.subject_area),
        )
        db.commit()
        waiting = [r.column_name for r in reclassification.pending(db, dataset_id=dataset.id)]
        flash(
            "Schema saved."
            + (
                f" Lowering the classification of {', '.join(waiting)} waits for a privacy "
                "officer's approval; until then the column keeps its class."
                if waiting
                else ""
            ),
            "success",
        )
        return redirect(url_for("datasets.detail", dataset_id=dataset.id))
    return render_template(
        "datasets/schema.html", dataset=dataset, form=form, has_versions=bool(dataset.versions)
    )


@bp.route(
    "/reclassifications/<int:reclassification_id>/<any(approve, reject):decision>", methods=["POST"]
)
@login_required
def decide_reclassification(reclassification_id: int, decision: str) -> WerkzeugResponse:
    form = DecisionForm()
    submitted(form)
    db = db_session()
    act = reclassification.approve if decision == "approve" else reclassification.reject
    decided = act(
        db,
        reclassification_id=reclassification_id,
        comment=form.comment.data or "",
        by=actor(),
        now=utcnow(),
    )
    db.commit()
    flash(f"The reclassification of {decided.column_name} is {decided.status}.", "success")
    return redirect(url_for("datasets.detail", dataset_id=decided.dataset_id))


@bp.route("/<int:dataset_id>/stewards", methods=["POST"])
@login_required
def add_steward(dataset_id: int) -> WerkzeugResponse:
    user_id = request.form.get("user_id", type=int)
    if user_id is None:
        raise ValidationFailed("Choose a data steward.", {"user_id": "Required."})
    db = db_session()
    dataset_service.add_steward(db, dataset_id=dataset_id, user_id=user_id, by=actor())
    db.commit()
    flash("Steward added.", "success")
    return redirect(url_for("datasets.detail", dataset_id=dataset_id))


@bp.route("/<int:dataset_id>/stewards/<int:user_id>/remove", methods=["POST"])
@login_required
def remove_steward(dataset_id: int, user_id: int) -> WerkzeugResponse:
    db = db_session()
    dataset_service.remove_steward(db, dataset_id=dataset_id, user_id=user_id, by=actor())
    db.commit()
    flash("Steward removed.", "success")
    return redirect(url_for("datasets.detail", dataset_id=dataset_id))


@bp.route("/<int:dataset_id>/lowest-values", methods=["POST"])
@login_required
def declare_lowest_values(dataset_id: int) -> WerkzeugResponse:
    db = db_session()
    dataset = dataset_service.get_visible_dataset(
        db, dataset_id, user=actor(), event=AuditType.DATASET_DECLARE_LOWEST
    )
    values = {
        column.name: request.form.get(f"lowest:{column.name}", "")
        for column in lowest_values.number_columns(dataset)
    }
    lowest_values.declare_lowest_values(
        db,
        dataset_id=dataset.id,
        values=values,
        reason=request.form.get("reason", ""),
        by=actor(),
    )
    db.commit()
    flash("The lowest values are saved.", "success")
    return redirect(url_for("datasets.detail", dataset_id=dataset_id))


@bp.route("/<int:dataset_id>/data-use", methods=["POST"])
@login_required
def set_data_use(dataset_id: int) -> WerkzeugResponse:
    db = db_session()
    dataset = dataset_service.get_visible_dataset(
        db, dataset_id, user=actor(), event=AuditType.DATASET_SET_DATA_USE
    )
    form = DataUseForm()
    data_use.set_data_use(
        db,
        dataset_id=dataset.id,
        permission=form.permission.data or "",
        disease=form.disease.data or "",
        modifiers=form.chosen_modifiers(),
        reason=form.reason.data or "",
        by=actor(),
        now=utcnow(),
    )
    db.commit()
    flash("The data-use conditions are saved.", "success")
    return redirect(url_for("datasets.detail", dataset_id=dataset_id))
