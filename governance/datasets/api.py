"""Datasets through the API: their schema with each column's classification, uploading a new
version (through the ingestion service), and a privacy officer's decision on lowering a stored
column's classification (reclassification.py). Reading the granted columns of their rows is
access's (access/api_rows.py), under the same /datasets/ address; its answer's shape, `Rows`,
is declared here with the datasets' others."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from governance import authz
from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import iso, page_schema, paged
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets import data_use, ingestion, lowest_values, reclassification, service
from governance.datasets.models import (
    Classification,
    ColumnReclassification,
    ColumnType,
    Dataset,
    DatasetVersion,
    ReclassificationStatus,
    SubjectArea,
)
from governance.identity.api_auth import caller
from governance.identity.organization_model import Organization
from governance.kernel.errors import ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.paging import paginate

TAG = "Datasets"
NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
SUMMARY_FIELDS: dict[str, s.Schema] = {
    "id": s.identifier(),
    "name": s.string_out(),
    "description": s.string_out(),
    "subject_area": s.enum(SubjectArea, description="What the data is about."),
    "provider": s.shape({"id": s.identifier(), "name": s.string_out()}),
    "created_at": s.time_out(),
    "latest_version": {**NULLABLE_INT, "description": "The newest stored version, if any."},
}
VERSION = s.shape(
    {
        "number": s.integer(1),
        "rows": s.integer(0),
        "bytes": s.integer(0),
        "sha256": s.string_out(),
        "source_filename": s.string_out(),
        "created_at": s.time_out(),
        "uploaded_by_id": NULLABLE_INT,
        "destroyed_at": NULLABLE_TIME,
    }
)
DUO_TERM_FIELDS: dict[str, s.Schema] = {
    "id": s.string_out("The GA4GH DUO id, such as DUO:0000042."),
    "label": s.string_out("The term's label in the shipped DUO release."),
    "shorthand": s.string_out("DUO's shorthand, such as GRU (empty for the kinds of research)."),
}
DATA_USE = s.nullable(
    s.shape(
        {
            "version": s.string_out("The DUO release the terms come from."),
            "permission": s.shape(DUO_TERM_FIELDS),
            "disease": s.string_out("The MONDO id of a disease-specific permission."),
            "modifiers": {
                "type": "array",
                "items": s.shape({**DUO_TERM_FIELDS, "parameter": s.string_out()}),
            },
        },
        description="The data-use conditions as GA4GH DUO terms (null: none stated).",
    )
)
DETAIL = s.shape(
    {
        **SUMMARY_FIELDS,
        "data_use": DATA_USE,
        "columns": {
            "type": "array",
            "items": s.shape(
                {
                    "position": s.integer(0),
                    "name": s.string_out(),
                    "type": s.enum(ColumnType),
                    "classification": s.enum(Classification),
                    "required": s.boolean(),
                    "description": s.string_out(),
                    "lowest_value": {
                        "type": ["number", "null"],
                        "description": "The lowest value a number column can hold, declared "
                        "by a steward: a rounded mean's sums are taken from it.",
                    },
                }
            ),
        },
        "stewards": {
            "type": "array",
            "items": s.shape({"id": s.identifier(), "name": s.string_out()}),
        },
        "versions": {
            "type": "array",
            "items": s.ref("DatasetVersion"),
            "description": "Newest first.",
        },
        "actions": {"type": "array", "items": s.enum(("upload",))},
        "reclassifications": {
            "type": "array",
            "items": s.ref("Reclassification"),
            "description": "Lowerings of a column's class waiting for a "
            "privacy officer (the column keeps its class).",
        },
    }
)
RECLASSIFICATION = s.shape(
    {
        "id": s.identifier(),
        "dataset_id": s.identifier(),
        "column": s.string_out(),
        "from": s.enum(Classification),
        "to": s.enum(Classification),
        "status": s.enum(ReclassificationStatus),
        "reason": s.string_out(),
        "requested_by": s.string_out(),
        "requested_at": s.time_out(),
        "decided_by": {"type": ["string", "null"]},
        "decided_at": NULLABLE_TIME,
        "comment": s.string_out(),
    }
)
ROWS = s.shape(
    {
        "items": {
            "type": "array",
            "items": {"type": "object", "description": "One row: granted column -> value."},
        },
        "columns": {"type": "array", "items": s.string_out()},
        "page": s.integer(1),
        "per_page": s.integer(1),
        "pages": s.integer(1),
        "total": s.integer(0, description="Rows matching the filters."),
        "version": s.integer(1, description="The dataset version read."),
        "rules": {
            "type": "array",
            "items": s.string_out(),
            "description": "The grants that allowed the read.",
        },
    }
)
SCHEMAS = {
    "DatasetSummary": s.shape(SUMMARY_FIELDS),
    "Dataset": DETAIL,
    "DatasetVersion": VERSION,
    "DatasetPage": page_schema(s.ref("DatasetSummary")),
    "Rows": ROWS,
    "Reclassification": RECLASSIFICATION,
}


def summary(dataset: Dataset, latest: dict[int, int]) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "subject_area": str(dataset.subject_area),
        "provider": {"id": dataset.provider.id, "name": dataset.provider.name},
        "created_at": iso(dataset.created_at),
        "latest_version": latest.get(dataset.id),
    }


def version_json(version: DatasetVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "rows": version.row_count,
        "bytes": version.byte_size,
        "sha256": version.sha256,
        "source_filename": version.source_filename,
        "created_at": iso(version.created_at),
        "uploaded_by_id": version.uploaded_by_id,
        "destroyed_at": iso(version.destroyed_at),
    }


@operation(
    "GET",
    "/datasets",
    tag=TAG,
    summary="List the datasets whose schema you can see",
    query=(
        Param("page", s.integer(1, 1_000_000)),
        Param("per_page", s.integer(1, 200)),
        Param("sort", s.enum(("name", "provider", "created"))),
        Param("dir", s.enum(("asc", "desc"))),
    ),
    answer=Answer(200, "One page of datasets.", s.ref("DatasetPage")),
)
def list_datasets(query: dict[str, Any]) -> ResponseReturnValue:
    """Research staff see every dataset's description (never its rows); a provider agency's
    people see their own agency's."""
    statement = service.visible_datasets(caller()).join(Dataset.provider)
    page = paginate(
        db_session(),
        statement,
        default_sort="name",
        sorts={"name": Dataset.name, "provider": Organization.name, "created": Dataset.created_at},
    )
    latest = service.latest_versions(db_session(), [d.id for d in page.items])
    return paged(page, lambda dataset: summary(dataset, latest))


@operation(
    "GET",
    "/datasets/<int:dataset_id>",
    tag=TAG,
    summary="One dataset: its schema with classifications, stewards and versions",
    answer=Answer(200, "The dataset.", s.ref("Dataset")),
)
def get_dataset(dataset_id: int) -> ResponseReturnValue:
    """404 if it does not exist or belongs to another provider agency than yours (the same
    answer; the look-up is recorded as denied either way)."""
    db, user = db_session(), caller()
    dataset = service.get_visible_dataset(db, dataset_id, user=user)
    versions = service.list_versions(db, dataset_id=dataset.id)
    stewards = service.stewards_of(db, dataset)
    uploads = authz.can(user, Permission.DATASET_INGEST) and user.id in dataset.steward_ids
    return {
        **summary(dataset, service.latest_versions(db, [dataset.id])),
        "data_use": data_use.described(dataset),
        "columns": [
            {
                "position": c.position,
                "name": c.name,
                "type": str(c.type),
                "classification": str(c.classification),
                "required": c.required,
                "description": c.description,
                "lowest_value": c.lowest_value,
            }
            for c in dataset.columns
        ],
        "stewards": [{"id": u.id, "name": u.name} for u in stewards],
        "versions": [version_json(v) for v in versions],
        "actions": ["upload"] if uploads else [],
        "reclassifications": [
            reclassification_json(r) for r in reclassification.pending(db, dataset_id=dataset.id)
        ],
    }


def reclassification_json(asked: ColumnReclassification) -> dict[str, Any]:
    return {
        "id": asked.id,
        "dataset_id": asked.dataset_id,
        "column": asked.column_name,
        "from": str(asked.from_classification),
        "to": str(asked.to_classification),
        "status": str(asked.status),
        "reason": asked.reason,
        "requested_by": asked.requested_by_label,
        "requested_at": iso(asked.requested_at),
        "decided_by": asked.decided_by_label,
        "decided_at": iso(asked.decided_at),
        "comment": asked.decision_comment,
    }


DECISION = s.obj({"comment": s.text(4000)})


@operation(
    "POST",
    "/reclassifications/<int:reclassification_id>/approve",
    tag=TAG,
    summary="Approve lowering a stored column's classification (privacy officer)",
    body=DECISION,
    errors=(403, 409),
    answer=Answer(200, "The decided reclassification.", s.ref("Reclassification")),
)
def approve_reclassification(reclassification_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """By a privacy officer other than the person who asked (403, recorded, otherwise). The
    column takes the lower class from now on; requests and grants already decided keep the
    class recorded with them."""
    db = db_session()
    decided = reclassification.approve(
        db,
        reclassification_id=reclassification_id,
        comment=body.get("comment", ""),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return reclassification_json(decided)


@operation(
    "POST",
    "/reclassifications/<int:reclassification_id>/reject",
    tag=TAG,
    summary="Reject lowering a stored column's classification (privacy officer)",
    body=DECISION,
    errors=(403, 409),
    answer=Answer(200, "The decided reclassification.", s.ref("Reclassification")),
)
def reject_reclassification(reclassification_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """The column keeps its class."""
    db = db_session()
    decided = reclassification.reject(
        db,
        reclassification_id=reclassification_id,
        comment=body.get("comment", ""),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return reclassification_json(decided)


@operation(
    "POST",
    "/datasets/<int:dataset_id>/versions",
    tag=TAG,
    summary="Upload a new version (CSV or Parquet) of a dataset you steward",
    upload=s.shape(
        {"file": {"type": "string", "format": "binary", "description": "A .csv or .parquet file."}}
    ),
    errors=(403,),
    answer=Answer(201, "The stored version.", s.ref("DatasetVersion")),
)
def upload_version(dataset_id: int) -> ResponseReturnValue:
    """Checked against the declared schema; a refused file is recorded with the reason and
    nothing is stored. Larger than MAX_UPLOAD_MB: 413; more rows than MAX_UPLOAD_ROWS: 422."""
    db, user = db_session(), caller()
    dataset = service.get_visible_dataset(db, dataset_id, user=user, event=AuditType.DATASET_INGEST)
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ValidationFailed(
            "Send the file as multipart/form-data field 'file'.", {"file": "No file was sent."}
        )
    version = ingestion.ingest_upload(
        db, dataset_id=dataset.id, source=file.stream, filename=file.filename, by=user
    )
    db.commit()
    return version_json(version), 201


@operation(
    "PUT",
    "/datasets/<int:dataset_id>/data-use",
    tag=TAG,
    summary="State a dataset's data-use conditions as GA4GH DUO terms (its steward)",
    body=s.obj(
        {
            "permission": s.text(40, min_length=1, description="A DUO permission id."),
            "disease": s.text(40, description="The MONDO id of a disease-specific permission."),
            "modifiers": {
                "type": "object",
                "additionalProperties": s.text(500),
                "description": "DUO modifier id -> its parameter ('' for none), such as "
                '{"DUO:0000024": "2027-01-01"}.',
            },
            "reason": s.text(
                data_use.MAX_REASON, description="Required when the conditions are loosened."
            ),
        },
        required=("permission",),
    ),
    errors=(403,),
    answer=Answer(200, "The dataset with its conditions.", s.ref("Dataset")),
)
def set_data_use(dataset_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """As on the dataset's page: only a steward of the dataset (403, recorded, otherwise);
    every change is audited with the conditions before and after; loosening them needs a
    reason (422, nothing written)."""
    db, user = db_session(), caller()
    dataset = service.get_visible_dataset(
        db, dataset_id, user=user, event=AuditType.DATASET_SET_DATA_USE
    )
    modifiers = body.get("modifiers") or {}
    if not all(isinstance(value, str) for value in modifiers.values()):
        raise ValidationFailed(
            "Each modifier's parameter is text ('' for none).", {"modifiers": "text values"}
        )
    data_use.set_data_use(
        db,
        dataset_id=dataset.id,
        permission=body["permission"],
        disease=body.get("disease", ""),
        modifiers=modifiers,
        reason=body.get("reason", ""),
        by=user,
        now=utcnow(),
    )
    db.commit()
    return get_dataset(dataset_id)


@operation(
    "PUT",
    "/datasets/<int:dataset_id>/lowest-values",
    tag=TAG,
    summary="Declare the lowest value of a dataset's number columns (its steward)",
    body=s.obj(
        {
            "lowest_values": {
                "type": "object",
                "additionalProperties": s.nullable(
                    s.number(-lowest_values.MAX_MAGNITUDE, lowest_values.MAX_MAGNITUDE)
                ),
                "description": "Column -> the lowest value it can hold (null: none), such as "
                '{"year_of_birth": 1900}. Under rounding a mean of a number column is released '
                "only when its lowest value is declared.",
            },
            "reason": s.text(
                lowest_values.MAX_REASON, description="Required when a declared value changes."
            ),
        },
        required=("lowest_values",),
    ),
    errors=(403,),
    answer=Answer(200, "The dataset with its columns' lowest values.", s.ref("Dataset")),
)
def declare_lowest_values(dataset_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """As on the dataset's page: only a steward of the dataset (403, recorded, otherwise);
    integer and float columns only, finite numbers (422 naming each, nothing written); every
    change audited with the values before and after; changing a declared value needs a
    reason."""
    db, user = db_session(), caller()
    dataset = service.get_visible_dataset(
        db, dataset_id, user=user, event=AuditType.DATASET_DECLARE_LOWEST
    )
    values = body["lowest_values"]
    wrong = {
        str(name): "a number or null"
        for name, value in values.items()
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float))
    }
    if wrong:
        raise ValidationFailed("Each lowest value is a number or null.", wrong)
    lowest_values.declare_lowest_values(
        db, dataset_id=dataset.id, values=values, reason=body.get("reason", ""), by=user
    )
    db.commit()
    return get_dataset(dataset_id)
