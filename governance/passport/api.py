"""GA4GH Passport through the API: your visas, the public keys that verify them (JWKS), and
whether a visa still holds (for a relying party, without a token)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from governance.api import schema as s
from governance.api.operations import Answer, operation
from governance.api.responses import iso
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.passport import visas
from governance.web.errors import error_response

TAG = "GA4GH Passport"
# Relying parties cache the key set this long; an unknown `kid` makes them fetch it again.
JWKS_MAX_AGE = 300
STATE = s.enum(visas.VisaState)
SCHEMAS = {
    "Passport": s.shape(
        {
            visas.PASSPORT_CLAIM: {
                "type": "array",
                "items": s.string_out("A visa: a signed JWT (compact serialisation)."),
                "description": "One ControlledAccessGrants visa per grant of yours that works now.",
            }
        }
    ),
    "JsonWebKeySet": s.shape(
        {"keys": {"type": "array", "items": {"type": "object"}, "description": "Public JWKs."}}
    ),
    "VisaStatus": s.shape(
        {
            "jti": s.string_out(),
            "state": STATE,
            "active": s.boolean(),
            "issued_at": s.time_out(),
            "expires_at": s.time_out(),
        }
    ),
}


@operation(
    "POST",
    "/passport",
    tag=TAG,
    summary="Issue your visas",
    answer=Answer(200, "Your passport.", s.ref("Passport")),
)
def issue_passport() -> ResponseReturnValue:
    """One signed ControlledAccessGrants visa for each of your own grants that works now
    (never anyone else's, never a revoked, expired or paused grant); each issue is recorded
    in the audit trail with its jti. A visa lives PASSPORT_VISA_MINUTES at most and never
    beyond its grant's end."""
    db = db_session()
    issued = visas.issue_visas(db, by=caller(), now=utcnow())
    db.commit()
    return visas.passport(issued)


@operation(
    "GET",
    "/passport/jwks.json",
    tag=TAG,
    summary="The public keys that verify visas (JWKS)",
    authenticated=False,
    answer=Answer(
        200,
        "The JSON Web Key Set.",
        s.ref("JsonWebKeySet"),
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}", "ETag": "The set's tag."},
    ),
)
def jwks() -> ResponseReturnValue:
    """Needs no token. The current signing key and every retired key that a visa still in
    circulation may need; never a private key."""
    response = jsonify(visas.key_set(db_session(), utcnow()))
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    response.add_etag()
    return response.make_conditional(request)


@operation(
    "GET",
    "/passport/visas/<uuid:jti>",
    tag=TAG,
    summary="Whether a visa still holds",
    authenticated=False,
    errors=(410,),
    answer=Answer(200, "The visa holds.", s.ref("VisaStatus")),
)
def visa_status(jti: Any) -> ResponseReturnValue:
    """Needs no token (the jti is known only to the visa's holder and whom they showed it).
    410 once the visa expired, its holder was deactivated, its grant was revoked, ended or
    paused, or its grant's row fails its seal (changed outside the service): refuse it then."""
    status = visas.visa_status(db_session(), str(jti), utcnow())
    body: dict[str, Any] = {
        "jti": status.jti,
        "state": str(status.state),
        "active": status.active,
        "issued_at": iso(status.issued_at),
        "expires_at": iso(status.expires_at),
    }
    if status.active:
        return body
    response, code = error_response(
        410, f"This visa no longer holds: {status.state.replace('_', ' ')}.", **body
    )
    return response, code
