"""Group mappings over the API: an administrator lists, adds, approves and removes the mappings
of external groups (of an identity provider, or of SCIM) to roles and organisations."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from governance.api import schema as s
from governance.api.operations import Answer, operation
from governance.api.responses import iso
from governance.authz import Role
from governance.identity import groups
from governance.identity.api_auth import caller
from governance.identity.group_mapping_model import GROUP_LENGTH, SOURCE_LENGTH, GroupMapping
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow

TAG = "Identity"
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
MAPPING = s.shape(
    {
        "id": s.identifier(),
        "source": s.string_out("An identity provider's id, or 'scim'."),
        "external_group": s.string_out(),
        "role": {"type": ["string", "null"], "enum": [*Role, None]},
        "organization_id": {"type": ["integer", "null"]},
        "created_by": s.string_out(),
        "created_at": s.time_out(),
        "approved": {"type": "boolean"},
        "approved_by": {"type": ["string", "null"]},
        "approved_at": NULLABLE_TIME,
    }
)
NEW_MAPPING = s.obj(
    {
        "source": s.text(SOURCE_LENGTH, min_length=1),
        "external_group": s.text(GROUP_LENGTH, min_length=1),
        "role": s.nullable(s.enum(Role)),
        "organization_id": s.nullable(s.identifier()),
    },
    required=("source", "external_group"),
)
SCHEMAS = {
    "GroupMapping": MAPPING,
    "GroupMappingList": s.shape({"items": {"type": "array", "items": s.ref("GroupMapping")}}),
}


def mapping_json(mapping: GroupMapping) -> dict[str, Any]:
    return {
        "id": mapping.id,
        "source": mapping.source,
        "external_group": mapping.external_group,
        "role": mapping.role,
        "organization_id": mapping.organization_id,
        "created_by": mapping.created_by,
        "created_at": iso(mapping.created_at),
        "approved": mapping.approved,
        "approved_by": mapping.approved_by,
        "approved_at": iso(mapping.approved_at),
    }


@operation(
    "GET",
    "/group-mappings",
    tag=TAG,
    summary="External groups mapped to roles and organisations (administrator)",
    errors=(403,),
    answer=Answer(200, "Every mapping, by source and group.", s.ref("GroupMappingList")),
)
def list_group_mappings() -> ResponseReturnValue:
    """Mappings waiting for a second administrator are listed with `approved: false`."""
    return {"items": [mapping_json(m) for m in groups.mappings(db_session(), by=caller())]}


@operation(
    "POST",
    "/group-mappings",
    tag=TAG,
    summary="Map an external group to a role and/or an organisation (administrator)",
    body=NEW_MAPPING,
    errors=(403, 409),
    answer=Answer(201, "The new mapping.", s.ref("GroupMapping")),
)
def create_group_mapping(body: dict[str, Any]) -> ResponseReturnValue:
    """A mapping to a role with approval or audit powers counts once a second administrator
    approves it."""
    db = db_session()
    mapping = groups.create_mapping(
        db,
        source=body["source"],
        external_group=body["external_group"],
        role=body.get("role"),
        organization_id=body.get("organization_id"),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return mapping_json(mapping), 201


@operation(
    "POST",
    "/group-mappings/<int:mapping_id>/approve",
    tag=TAG,
    summary="Approve another administrator's mapping to a powerful role",
    errors=(403, 409),
    answer=Answer(200, "The approved mapping.", s.ref("GroupMapping")),
)
def approve_group_mapping(mapping_id: int) -> ResponseReturnValue:
    """Not by the administrator who created it (403, recorded)."""
    db = db_session()
    mapping = groups.approve_mapping(db, mapping_id=mapping_id, by=caller(), now=utcnow())
    db.commit()
    return mapping_json(mapping)


@operation(
    "DELETE",
    "/group-mappings/<int:mapping_id>",
    tag=TAG,
    summary="Remove a group mapping (administrator)",
    errors=(403,),
    answer=Answer(200, "The mapping as it was.", s.ref("GroupMapping")),
)
def delete_group_mapping(mapping_id: int) -> ResponseReturnValue:
    """Roles it gave are removed at each person's next sign-in or SCIM update from its source."""
    db = db_session()
    removed = mapping_json(groups.delete_mapping(db, mapping_id=mapping_id, by=caller()))
    db.commit()
    return removed
