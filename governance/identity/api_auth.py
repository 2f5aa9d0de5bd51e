"""Who is calling: every API request but the description is authenticated by a personal API
token sent as `Authorization: Bearer <token>`, and by nothing else.

Session cookies are not accepted here, so a page open in a browser can never be made to call
the API on its user's behalf (which is why CSRF does not apply to this blueprint). A missing,
unknown, expired or revoked token, or one whose holder was deactivated, is answered 401 with
`WWW-Authenticate: Bearer`, on the very next request after the change.
"""

from __future__ import annotations

from flask import Response, g, request
from flask.typing import ResponseReturnValue

from governance.api.operations import OPERATIONS, bp
from governance.identity import tokens
from governance.identity.models import User
from governance.identity.token_model import ApiToken
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.errors import error_response

REALM = "governance"


def unauthorised(message: str, *, invalid: bool) -> tuple[Response | str, int]:
    body, status = error_response(401, message)
    challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid else "")
    if isinstance(body, Response):
        body.headers["WWW-Authenticate"] = challenge
    return body, status


@bp.before_request
def authenticate() -> ResponseReturnValue | None:
    declared = OPERATIONS.get((request.endpoint or "").removeprefix("api."))
    if declared is not None and not declared.authenticated:
        return None
    scheme, _space, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return unauthorised(
            "Send a personal API token as 'Authorization: Bearer <token>'; "
            "create one on the API tokens page.",
            invalid=False,
        )
    db = db_session()
    token = tokens.authenticate(db, secret.strip(), utcnow())
    if token is None:
        db.rollback()
        return unauthorised(
            "The token is unknown, expired or revoked, or its holder's account is deactivated.",
            invalid=True,
        )
    if db.is_modified(token):
        db.commit()  # last_used_at, written apart from whatever the request goes on to do
    g.api_token = token
    g.api_user = token.user
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    # Only what an endpoint declares public (the visa keys) may be kept by caches. Most
    # answers set neither header: then there is nothing to parse (werkzeug's cache-control
    # and vary objects cost more than the answer's other headers together).
    headers = response.headers
    if "Cache-Control" not in headers or not response.cache_control.public:
        headers["Cache-Control"] = "no-store"
    if "Vary" in headers:
        response.vary.add("Authorization")
    else:
        headers["Vary"] = "Authorization"
    return response


def caller() -> User:
    """The token's holder: the `by=` of every service call the API makes."""
    user = g.get("api_user")
    if not isinstance(user, User):
        raise RuntimeError("caller() used outside an authenticated API request")
    return user


def current_token() -> ApiToken:
    token = g.get("api_token")
    if not isinstance(token, ApiToken):
        raise RuntimeError("current_token() used outside an authenticated API request")
    return token
