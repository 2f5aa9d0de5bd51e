"""Who the token belongs to, and the caller's own tokens (listing and revoking; creating a
token is done on the API tokens page or with `governance token create`, so that a leaked
token cannot mint itself a longer-lived successor)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from governance import authz
from governance.api import schema as s
from governance.api.operations import Answer, operation
from governance.api.responses import iso
from governance.authz import Permission, Role
from governance.identity import tokens
from governance.identity.api_auth import caller, current_token
from governance.identity.organization_model import OrganizationKind
from governance.identity.token_model import ApiToken
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow

TAG = "You"
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TOKEN = s.shape(
    {
        "id": s.identifier(),
        "name": s.string_out(),
        "prefix": s.string_out("The token's first 8 characters."),
        "created_at": s.time_out(),
        "expires_at": s.time_out(),
        "revoked_at": NULLABLE_TIME,
        "last_used_at": NULLABLE_TIME,
        "status": s.enum(("active", "revoked", "expired")),
    }
)
ME = s.shape(
    {
        "id": s.identifier(),
        "email": s.string_out(),
        "name": s.string_out(),
        "organization": s.shape(
            {"id": s.identifier(), "name": s.string_out(), "kind": s.enum(OrganizationKind)}
        ),
        "roles": {"type": "array", "items": s.enum(Role)},
        "permissions": {"type": "array", "items": s.enum(Permission)},
        "token": s.ref("Token"),
    }
)
SCHEMAS = {
    "Me": ME,
    "Token": TOKEN,
    "TokenList": s.shape({"items": {"type": "array", "items": s.ref("Token")}}),
}


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
        "last_used_at": iso(token.last_used_at),
        "status": token.status(utcnow()),
    }


@operation(
    "GET",
    "/me",
    tag=TAG,
    summary="Who the token belongs to",
    answer=Answer(200, "The token's holder, roles and permissions.", s.ref("Me")),
)
def me() -> ResponseReturnValue:
    """The workflow permissions the holder's roles give; access to dataset rows is decided
    per column from their grants."""
    user = caller()
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "organization": {
            "id": user.organization.id,
            "name": user.organization.name,
            "kind": str(user.organization.kind),
        },
        "roles": sorted(str(r) for r in user.role_set),
        "permissions": [str(p) for p in Permission if authz.can(user, p)],
        "token": token_json(current_token()),
    }


@operation(
    "GET",
    "/tokens",
    tag=TAG,
    summary="Your API tokens",
    answer=Answer(200, "Newest first, revoked and expired ones included.", s.ref("TokenList")),
)
def list_tokens() -> ResponseReturnValue:
    """Secrets are never shown again after creation: only each token's first 8 characters."""
    return {"items": [token_json(t) for t in tokens.tokens_of(db_session(), caller().id)]}


@operation(
    "POST",
    "/tokens/<int:token_id>/revoke",
    tag=TAG,
    summary="Revoke a token",
    errors=(403, 409),
    answer=Answer(200, "The revoked token.", s.ref("Token")),
)
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Your own tokens (including the one making this request); an administrator anyone's.
    It stops working on its next request."""
    db = db_session()
    token = tokens.revoke_token(db, token_id=token_id, by=caller(), now=utcnow())
    db.commit()
    return token_json(token)
