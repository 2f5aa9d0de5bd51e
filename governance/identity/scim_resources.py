"""How accounts and groups look to a SCIM client, built with scim2-models: the resources, the
schemas and service description we publish, ETags, and filters translated to SQL.

We publish only the attributes we keep (userName, displayName, active, one e-mail, externalId,
and the read-only groups), so a client knows what it can rely on. `roles`, `entitlements` and
`password` are refused when a client tries to set them: roles come only from group mappings
(identity/groups.py), and a provisioned account has no local password.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, or_

from governance.identity.models import User
from governance.identity.scim_model import ScimGroup, ScimIdentity
from governance.kernel.types import canonical_json

if TYPE_CHECKING:
    # scim2-models is imported by the first SCIM request, not when the app is built.
    import scim2_models as scim
    from scim2_models.path.expressions import AttrPath, FilterNode


USER_ATTRIBUTES = ("userName", "displayName", "active", "emails", "groups")
EMAIL_SUB_ATTRIBUTES = ("value", "primary")
REQUIRED_USER_ATTRIBUTES = ("displayName", "active", "emails")
GROUP_ATTRIBUTES = ("displayName", "members")
MAX_PAGE = 200
FORBIDDEN = ("roles", "entitlements", "password", "x509_certificates")


def user_schema() -> scim.Schema:
    import scim2_models as scim

    schema = scim.User.to_schema()
    schema.attributes = [a for a in schema.attributes or [] if a.name in USER_ATTRIBUTES]
    for attribute in schema.attributes:
        # Every account has an e-mail (notifications, sign-in), a name and a state, so the
        # schema says so and clients send them.
        if attribute.name in REQUIRED_USER_ATTRIBUTES:
            attribute.required = scim.Required.true
        if attribute.name == "emails":
            attribute.sub_attributes = [
                s for s in attribute.sub_attributes or [] if s.name in EMAIL_SUB_ATTRIBUTES
            ]
            for sub_attribute in attribute.sub_attributes:
                if sub_attribute.name == "value":
                    sub_attribute.required = scim.Required.true
    return schema


def group_schema() -> scim.Schema:
    import scim2_models as scim

    schema = scim.Group.to_schema()
    schema.attributes = [a for a in schema.attributes or [] if a.name in GROUP_ATTRIBUTES]
    return schema


def service_provider_config(base: str) -> scim.ServiceProviderConfig:
    import scim2_models as scim

    return scim.ServiceProviderConfig(
        documentation_uri=None,
        patch=scim.Patch(supported=True),
        bulk=scim.Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=scim.Filter(supported=True, max_results=MAX_PAGE),
        change_password=scim.ChangePassword(supported=False),
        sort=scim.Sort(supported=False),
        etag=scim.ETag(supported=True),
        authentication_schemes=[
            scim.AuthenticationScheme(
                type=scim.AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="A SCIM token an administrator issues on the identity page.",
                primary=True,
            )
        ],
        meta=scim.Meta(
            resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig"
        ),
    )


def resource_types(base: str) -> list[scim.ResourceType]:
    import scim2_models as scim

    found = []
    for model, name in ((scim.User, "User"), (scim.Group, "Group")):
        resource_type = scim.ResourceType.from_resource(model)
        resource_type.meta = scim.Meta(
            resource_type="ResourceType", location=f"{base}/ResourceTypes/{name}"
        )
        found.append(resource_type)
    return found


def schemas(base: str) -> list[scim.Schema]:
    import scim2_models as scim

    found = []
    for schema in (user_schema(), group_schema()):
        schema.meta = scim.Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
        found.append(schema)
    return found


def etag_of(payload: dict[str, Any]) -> str:
    """A weak ETag: the digest of the representation without its meta."""
    body = {k: v for k, v in payload.items() if k != "meta"}
    return 'W/"' + hashlib.sha256(canonical_json(body).encode()).hexdigest()[:32] + '"'


def user_resource(
    user: User, identity: ScimIdentity | None, groups: list[ScimGroup], base: str
) -> scim.User[Any]:
    import scim2_models as scim

    resource: scim.User[Any] = scim.User(
        id=str(user.id),
        user_name=identity.user_name if identity else user.email,
        external_id=identity.external_id if identity else None,
        display_name=user.name,
        active=user.active,
        emails=[scim.Email(value=user.email, primary=True)],
        groups=[
            scim.GroupMembership(
                value=str(group.id),
                display=group.display_name,
                ref=scim.Reference(f"{base}/Groups/{group.id}"),
                type="direct",
            )
            for group in groups
        ]
        or None,
    )
    modified = identity.updated_at if identity else user.created_at
    _stamp(resource, "User", f"{base}/Users/{user.id}", user.created_at, modified)
    return resource


def group_resource(group: ScimGroup, names: dict[int, str], base: str) -> scim.Group:
    import scim2_models as scim

    resource = scim.Group(
        id=str(group.id),
        display_name=group.display_name,
        external_id=group.external_id,
        members=[
            scim.GroupMember(
                value=str(member.user_id),
                display=names.get(member.user_id),
                ref=scim.Reference(f"{base}/Users/{member.user_id}"),
                type="User",
            )
            for member in group.members
        ]
        or None,
    )
    _stamp(resource, "Group", f"{base}/Groups/{group.id}", group.created_at, group.updated_at)
    return resource


def dump(
    resource: scim.Resource[Any],
    context: scim.Context,
    parameters: scim.ResponseParameters[Any] | None = None,
) -> dict[str, Any]:
    """The resource as JSON, with only the `attributes` (or without the `excludedAttributes`)
    the client asked for."""
    payload: dict[str, Any] = resource.model_dump(scim_ctx=context, response_parameters=parameters)
    return payload


def _stamp(
    resource: scim.Resource[Any], kind: str, location: str, created: Any, modified: Any
) -> None:
    import scim2_models as scim

    resource.meta = scim.Meta(
        resource_type=kind, location=location, created=created, last_modified=modified
    )
    version = etag_of(resource.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE))
    resource.meta.version = version


# --- filters -----------------------------------------------------------------------------------


def user_name_column() -> ColumnElement[str]:
    return func.coalesce(ScimIdentity.user_name, User.email)


def user_filter(text: str) -> ColumnElement[bool]:
    """The SQL condition for a filter on userName, emails, externalId or displayName with eq, co
    and sw, joined by and/or. Anything else is a SCIM invalidFilter."""
    import scim2_models as scim

    node = scim.ScimFilter[scim.User[Any]](text).ast
    return _condition(node, _user_column)


def group_filter(text: str) -> ColumnElement[bool]:
    import scim2_models as scim

    node = scim.ScimFilter[scim.Group](text).ast
    return _condition(node, _group_column)


def _user_column(path: AttrPath) -> Any:
    name = path.attr.lower()
    if name == "username" and path.sub_attr is None:
        return user_name_column()
    if name == "emails" and (path.sub_attr is None or path.sub_attr.lower() == "value"):
        return User.email
    if name == "externalid" and path.sub_attr is None:
        return ScimIdentity.external_id
    if name == "displayname" and path.sub_attr is None:
        return User.name
    return None


def _group_column(path: AttrPath) -> Any:
    name = path.attr.lower()
    if name == "displayname" and path.sub_attr is None:
        return ScimGroup.display_name
    if name == "externalid" and path.sub_attr is None:
        return ScimGroup.external_id
    return None


def _condition(node: FilterNode, column_of: Any) -> ColumnElement[bool]:
    import scim2_models as scim
    from scim2_models.path.expressions import (
        CompareOperator,
        Comparison,
        LogicalExpr,
        LogicalOperator,
    )

    if isinstance(node, LogicalExpr):
        parts = [_condition(term, column_of) for term in node.terms]
        return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)
    if isinstance(node, Comparison):
        column = column_of(node.attr_path)
        if column is None:
            raise scim.InvalidFilterException(
                detail=f"Filtering on {node.attr_path} is not supported: use userName, emails, "
                "externalId or displayName."
            )
        value = str(node.value).lower()
        lowered = func.lower(column)
        if node.op == CompareOperator.eq:
            return lowered == value
        if node.op == CompareOperator.co:
            return lowered.contains(value, autoescape=True)
        if node.op == CompareOperator.sw:
            return lowered.startswith(value, autoescape=True)
        raise scim.InvalidFilterException(
            detail=f"The operator {node.op.value} is not supported: use eq, co or sw."
        )
    raise scim.InvalidFilterException(
        detail="Only eq, co and sw, joined by and / or, are supported."
    )
