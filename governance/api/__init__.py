"""The JSON API under /api/v1 and its OpenAPI description.

One module per noun (agreements, access_requests, grants, datasets, analyses, outputs, audit,
me), each a set of thin handlers declared with `operations.operation`: parse and check the
request against its declaration, call the same service function as the page, commit once,
answer JSON. Adding a
noun is one more module in `API_MODULES` of governance/registry.py and its SCHEMAS added to
`openapi.SHAPES`; see docs/decisions/api.md.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from governance.api.operations import API_PREFIX, bp
from governance.kernel.extensions import csrf


class SessionsOutsideTheApi(SecureCookieSessionInterface):
    """The session cookie, except under the API: its requests are authenticated by their
    bearer token and by nothing else (identity/api_auth.py), so a cookie sent along is
    neither read nor answered (Flask's null session: reading it finds nothing, writing to it
    fails), and a read pays no cookie parsing or signing. Each process also keeps the
    cookie's signer for the secret keys it was made with, rather than making one per
    request."""

    def __init__(self) -> None:
        self._signers: dict[tuple[Any, ...], Any] = {}

    def get_signing_serializer(self, app: Flask) -> Any:
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        signer = self._signers.get(key)
        if signer is None:
            signer = super().get_signing_serializer(app)
            self._signers.clear()  # only the keys in use now are worth keeping
            self._signers[key] = signer
        return signer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(f"{API_PREFIX}/"):
            return None  # Flask makes it the null session
        return super().open_session(app, request)


def register_api(app: Flask) -> None:
    # Only bearer tokens authenticate here, never the session cookie, so there is no
    # cross-site request to forge.
    csrf.exempt(bp)
    app.session_interface = SessionsOutsideTheApi()
    app.register_blueprint(bp)
