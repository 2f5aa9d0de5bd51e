"""The SCIM 2.0 endpoint (RFC 7643, 7644) at /scim/v2: Users and Groups, the discovery
resources, filters, PATCH, ETags and pagination, for an identity provider's SCIM client.

Parse (scim2-models), authenticate the bearer SCIM token, act through scim_users / scim_groups
as the source "scim", commit once, answer `application/scim+json`. Session cookies are never
read here (so no CSRF); a missing, unknown, expired or revoked token is a 401, recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Blueprint, Flask, Response, current_app, g, json, request
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.identity import scim_groups, scim_tokens, scim_users
from governance.identity.scim_resources import (
    MAX_PAGE,
    dump,
    group_resource,
    resource_types,
    schemas,
    service_provider_config,
    user_resource,
)
from governance.identity.scim_users import SCIM_ACTOR, Caller
from governance.identity.web_login import declare_check
from governance.kernel.errors import DomainError
from governance.kernel.extensions import csrf, db_session
from governance.kernel.text import whole_number
from governance.kernel.types import utcnow

if TYPE_CHECKING:
    # scim2-models is imported by the first SCIM request, not when the app is built.
    import scim2_models as scim


bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
MEDIA_TYPE = "application/scim+json"
F = TypeVar("F", bound=Callable[..., Any])


def scim_token(view: F) -> F:
    """Declares that the route is opened by a SCIM token (checked in `authenticate`), and
    answers the SCIM errors it raises as SCIM errors. Caught here rather than by an error
    handler of the blueprint, which would need scim2-models' exception class when the app is
    built: the models take a fifth of every process's start and serve only SCIM requests."""

    @functools.wraps(view)
    def answering_scim_errors(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as exc:
            import scim2_models as scim

            if isinstance(exc, scim.SCIMException):
                return _scim_error(exc)
            raise

    return declare_check(
        cast(F, answering_scim_errors),
        "a SCIM token, checked before every request of the blueprint",
    )


def query_context() -> scim.Context:
    """The context every resource is answered in."""
    import scim2_models as scim

    return scim.Context.RESOURCE_QUERY_RESPONSE


def register(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)


def base() -> str:
    return request.host_url.rstrip("/") + bp.url_prefix  # type: ignore[operator]


def answer(payload: dict[str, Any], status: int = 200, etag: str | None = None) -> Response:
    response = Response(json.dumps(payload), status=status, mimetype=MEDIA_TYPE)
    if etag:
        response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-store"
    return response


def error(status: int, detail: str, scim_type: str | None = None) -> Response:
    import scim2_models as scim

    payload = scim.Error(status=status, detail=detail, scim_type=scim_type).model_dump()
    return answer(payload, status)


@bp.before_request
def authenticate() -> Response | None:
    scheme, _space, secret = request.headers.get("Authorization", "").partition(" ")
    db = db_session()
    token = (
        scim_tokens.authenticate(db, secret.strip(), utcnow())
        if scheme.lower() == "bearer"
        else None
    )
    if token is None:
        db.rollback()
        audit.record(
            db,
            AuditType.SCIM_REFUSED,
            by=SCIM_ACTOR,
            outcome=Outcome.DENIED,
            target_type="scim_token",
            detail={
                "reason": "missing, unknown, expired or revoked token",
                "path": request.path[:200],
            },
        )
        db.commit()
        response = error(401, "Send a SCIM token as 'Authorization: Bearer <token>'.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="scim"'
        return response
    if db.is_modified(token):
        db.commit()
    g.scim_caller = Caller(token_prefix=token.prefix, issued_by_id=token.created_by_id)
    return None


def _roll_back(refusal: Any) -> None:
    """Undo the refused request, then record and commit its refusal (if it carries one) on
    its own, as done by the SCIM client."""
    db = db_session()
    db.rollback()
    if refusal:
        audit.record_refusal(db, refusal, by=SCIM_ACTOR)
        db.commit()


def _scim_error(exc: scim.SCIMException) -> Response:
    _roll_back(getattr(exc, "audit", None))
    return error(int(exc.status), str(exc.detail), exc.scim_type)


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    db_session().rollback()
    problems = exc.errors()
    if not problems:
        return error(400, "invalid value", "invalidValue")
    where = ".".join(str(p) for p in problems[0]["loc"])
    return error(400, f"{where}: {problems[0]['msg']}", "invalidValue")


@bp.errorhandler(DomainError)
def _domain(exc: DomainError) -> Response:
    _roll_back(exc.audit)
    return error(exc.status, exc.message)


def caller() -> Caller:
    found: Caller = g.scim_caller
    return found


def body() -> dict[str, Any]:
    import scim2_models as scim

    payload = request.get_json(force=True, silent=True)
    if not isinstance(payload, dict):
        raise scim.InvalidSyntaxException(detail="The body must be a JSON object.")
    return payload


def read(resource: scim.Resource[Any]) -> Response:
    """A resource as asked (attributes), with its ETag; 304 when the client has it already."""

    etag = str(resource.meta.version if resource.meta else "")
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag})
    return answer(
        dump(resource, query_context(), parameters(dict(request.args))),
        etag=etag,
    )


def created(payload: dict[str, Any]) -> Response:
    response = answer(payload, 201, payload["meta"]["version"])
    response.headers["Location"] = payload["meta"]["location"]
    return response


def check_if_match(etag: str) -> None:
    import scim2_models as scim

    wanted = request.headers.get("If-Match")
    if wanted and wanted.strip() != "*" and etag not in [t.strip() for t in wanted.split(",")]:
        raise scim.PreconditionFailedException(
            detail="The resource changed since you read it (If-Match does not match its ETag)."
        )


def parameters(source: dict[str, Any]) -> scim.ResponseParameters[Any]:
    """The `attributes` / `excludedAttributes` of a query string or a search body."""
    import scim2_models as scim

    wanted = {k: source[k] for k in ("attributes", "excludedAttributes") if source.get(k)}
    found: scim.ResponseParameters[Any] = scim.ResponseParameters.model_validate(wanted)
    return found


def listed(
    db: Session, query: Any, render: Any, *, start: int, count: int, fields: Any
) -> Response:

    count = min(max(count, 0), MAX_PAGE)
    start = max(start, 1)
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.execute(query.offset(start - 1).limit(count)).all() if count else []
    resources = [dump(render(row), query_context(), fields) for row in rows]
    payload = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
    return answer(payload)


def _int_arg(name: str, default: int, *, minimum: int) -> int:
    import scim2_models as scim

    raw = request.args.get(name)
    if raw is None:
        return default
    number = whole_number(raw.removeprefix("-"), maximum=2**62)
    if number is None:
        raise scim.InvalidValueException(detail=f"{name} must be a whole number.")
    return max(-number if raw.startswith("-") else number, minimum)


# --- discovery ---------------------------------------------------------------------------------


@bp.get("/ServiceProviderConfig")
@scim_token
def service_config() -> Response:

    return answer(service_provider_config(base()).model_dump(scim_ctx=query_context()))


@bp.get("/ResourceTypes")
@scim_token
def list_resource_types() -> Response:

    found = [r.model_dump(scim_ctx=query_context()) for r in resource_types(base())]
    return answer(_list(found))


@bp.get("/ResourceTypes/<name>")
@scim_token
def get_resource_type(name: str) -> Response:
    import scim2_models as scim

    for resource_type in resource_types(base()):
        if resource_type.id == name:
            return answer(resource_type.model_dump(scim_ctx=query_context()))
    raise scim.NotFoundException(detail=f"There is no resource type {name}.")


@bp.get("/Schemas")
@scim_token
def list_schemas() -> Response:

    return answer(_list([s.model_dump(scim_ctx=query_context()) for s in schemas(base())]))


@bp.get("/Schemas/<path:schema_id>")
@scim_token
def get_schema(schema_id: str) -> Response:
    import scim2_models as scim

    for schema in schemas(base()):
        if schema.id == schema_id:
            return answer(schema.model_dump(scim_ctx=query_context()))
    raise scim.NotFoundException(detail=f"There is no schema {schema_id}.")


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


# --- users ---------------------------------------------------------------------------------------


def _user(db: Session, user: Any, identity: Any) -> scim.User[Any]:
    return user_resource(user, identity, scim_users.groups_of(db, user.id), base())


def _user_payload(db: Session, user: Any, identity: Any) -> dict[str, Any]:

    return dump(_user(db, user, identity), query_context())


def _query_args() -> dict[str, Any]:
    return {
        "start": _int_arg("startIndex", 1, minimum=1),
        "count": _int_arg("count", 100, minimum=0),
        "fields": parameters(dict(request.args)),
    }


def _search_args() -> tuple[str | None, dict[str, Any]]:
    import scim2_models as scim

    search: scim.SearchRequest[Any] = scim.SearchRequest.model_validate(
        body(), scim_ctx=scim.Context.SEARCH_REQUEST
    )
    fields = scim.ResponseParameters(
        attributes=search.attributes, excluded_attributes=search.excluded_attributes
    )
    args = {
        "start": search.start_index or 1,
        "count": 100 if search.count is None else search.count,
    }
    return (str(search.filter) if search.filter else None), args | {"fields": fields}


@bp.get("/Users")
@scim_token
def list_users() -> Response:
    db = db_session()
    query = scim_users.users_query(request.args.get("filter"))
    return listed(db, query, lambda row: _user(db, row[0], row[1]), **_query_args())


@bp.post("/Users/.search")
@scim_token
def search_users() -> Response:
    db = db_session()
    filter_text, args = _search_args()
    query = scim_users.users_query(filter_text)
    return listed(db, query, lambda row: _user(db, row[0], row[1]), **args)


@bp.post("/.search")
@scim_token
def search_everything() -> Response:
    import scim2_models as scim

    raise scim.NotImplementedException(
        detail="Search Users and Groups apart: POST /Users/.search or /Groups/.search."
    )


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@scim_token
def not_found(unknown: str) -> Response:
    """A SCIM error for any other address: 405 where another method is served, else 404."""
    import scim2_models as scim

    adapter = current_app.url_map.bind("localhost")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            endpoint, _arguments = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "scim.not_found":
            return error(405, f"/{unknown} does not answer {request.method}.")
    raise scim.NotFoundException(detail=f"There is no SCIM resource at /{unknown}.")


@bp.post("/Users")
@scim_token
def create_user() -> Response:
    import scim2_models as scim

    db = db_session()
    resource: scim.User[Any] = scim.User.model_validate(
        body(), scim_ctx=scim.Context.RESOURCE_CREATION_REQUEST
    )
    user = scim_users.create_user(
        db, resource=resource, caller=caller(), settings=current_app.config, now=utcnow()
    )
    db.commit()
    return created(_user_payload(db, user, db.get(scim_users.ScimIdentity, user.id)))


@bp.get("/Users/<user_id>")
@scim_token
def get_user(user_id: str) -> Response:
    db = db_session()
    user, identity = scim_users.find_user(db, user_id)
    return read(_user(db, user, identity))


@bp.put("/Users/<user_id>")
@scim_token
def replace_user(user_id: str) -> Response:
    import scim2_models as scim

    db = db_session()
    user, identity = scim_users.find_user(db, user_id)
    check_if_match(_user_payload(db, user, identity)["meta"]["version"])
    resource: scim.User[Any] = scim.User.model_validate(
        body(), scim_ctx=scim.Context.RESOURCE_REPLACEMENT_REQUEST
    )
    return _save_user(db, user, identity, resource)


@bp.patch("/Users/<user_id>")
@scim_token
def patch_user(user_id: str) -> Response:
    import scim2_models as scim

    db = db_session()
    user, identity = scim_users.find_user(db, user_id)
    current = user_resource(user, identity, scim_users.groups_of(db, user.id), base())
    check_if_match(str(current.meta.version if current.meta else ""))
    operations = scim.PatchOp[scim.User[Any]].model_validate(
        body(), scim_ctx=scim.Context.RESOURCE_PATCH_REQUEST
    )
    operations.patch(current)
    return _save_user(db, user, identity, current)


def _save_user(db: Session, user: Any, identity: Any, resource: scim.User[Any]) -> Response:
    scim_users.replace_user(
        db, user=user, identity=identity, resource=resource, caller=caller(), now=utcnow()
    )
    db.commit()
    payload = _user_payload(db, user, db.get(scim_users.ScimIdentity, user.id))
    return answer(payload, etag=payload["meta"]["version"])


@bp.delete("/Users/<user_id>")
@scim_token
def delete_user(user_id: str) -> Response:
    db = db_session()
    user, identity = scim_users.find_user(db, user_id)
    check_if_match(_user_payload(db, user, identity)["meta"]["version"])
    scim_users.delete_user(db, user=user, identity=identity, caller=caller(), now=utcnow())
    db.commit()
    return Response(status=204)


# --- groups --------------------------------------------------------------------------------------


def _group(db: Session, group: Any) -> scim.Group:
    return group_resource(group, scim_groups.member_names(db, group), base())


def _group_payload(db: Session, group: Any) -> dict[str, Any]:

    return dump(_group(db, group), query_context())


@bp.get("/Groups")
@scim_token
def list_groups() -> Response:
    db = db_session()
    query = scim_groups.groups_query(request.args.get("filter"))
    return listed(db, query, lambda row: _group(db, row[0]), **_query_args())


@bp.post("/Groups/.search")
@scim_token
def search_groups() -> Response:
    db = db_session()
    filter_text, args = _search_args()
    query = scim_groups.groups_query(filter_text)
    return listed(db, query, lambda row: _group(db, row[0]), **args)


@bp.post("/Groups")
@scim_token
def create_group() -> Response:
    import scim2_models as scim

    db = db_session()
    resource: scim.Group = scim.Group.model_validate(
        body(), scim_ctx=scim.Context.RESOURCE_CREATION_REQUEST
    )
    group = scim_groups.create_group(db, resource=resource, caller=caller(), now=utcnow())
    db.commit()
    return created(_group_payload(db, group))


@bp.get("/Groups/<group_id>")
@scim_token
def get_group(group_id: str) -> Response:
    db = db_session()
    return read(_group(db, scim_groups.find_group(db, group_id)))


@bp.put("/Groups/<group_id>")
@scim_token
def replace_group(group_id: str) -> Response:
    import scim2_models as scim

    db = db_session()
    group = scim_groups.find_group(db, group_id)
    check_if_match(_group_payload(db, group)["meta"]["version"])
    resource: scim.Group = scim.Group.model_validate(
        body(), scim_ctx=scim.Context.RESOURCE_REPLACEMENT_REQUEST
    )
    return _save_group(db, group, resource)


@bp.patch("/Groups/<group_id>")
@scim_token
def patch_group(group_id: str) -> Response:
    import scim2_models as scim

    db = db_session()
    group = scim_groups.find_group(db, group_id)
    current = group_resource(group, scim_groups.member_names(db, group), base())
    check_if_match(str(current.meta.version if current.meta else ""))
    operations = scim.PatchOp[scim.Group].model_validate(
        body(), scim_ctx=scim.Context.RESOURCE_PATCH_REQUEST
    )
    operations.patch(current)
    return _save_group(db, group, current)


def _save_group(db: Session, group: Any, resource: scim.Group) -> Response:
    scim_groups.replace_group(db, group=group, resource=resource, caller=caller(), now=utcnow())
    db.commit()
    payload = _group_payload(db, group)
    return answer(payload, etag=payload["meta"]["version"])


@bp.delete("/Groups/<group_id>")
@scim_token
def delete_group(group_id: str) -> Response:
    db = db_session()
    group = scim_groups.find_group(db, group_id)
    check_if_match(_group_payload(db, group)["meta"]["version"])
    scim_groups.delete_group(db, group=group, caller=caller(), now=utcnow())
    db.commit()
    return Response(status=204)
