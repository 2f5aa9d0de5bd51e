"""The web layer: blueprints, error pages, navigation and security headers."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from werkzeug.routing import IntegerConverter, Map

import governance.workflows  # noqa: F401  (registers dashboard task providers and periodic jobs)
from governance.access import web as access_pages
from governance.access import web_data as data_pages
from governance.agreements import web as agreements
from governance.analysis import web as analyses
from governance.audit import web as audit
from governance.dashboard import web as dashboard
from governance.datasets import web as datasets
from governance.identity import web_account as account
from governance.identity import web_admin as admin
from governance.identity import web_signin as auth
from governance.identity import web_throttle as throttle
from governance.identity import web_tokens as tokens
from governance.kernel.errors import ValidationFailed
from governance.outputs import web as outputs
from governance.outputs import web_public as public
from governance.web import errors, navigation


def register_web(app: Flask) -> None:
    from governance.api import register_api

    # Ids in addresses are 32-bit, like the columns they name: a larger number is a 404 here
    # rather than an overflow in the database.
    app.url_map.converters["int"] = BoundedInt
    for blueprint in (auth.bp, dashboard.bp, admin.bp, agreements.bp, datasets.bp,
                      audit.bp, access_pages.bp, data_pages.bp, analyses.bp, outputs.bp,
                      public.bp, tokens.bp, account.bp):
        app.register_blueprint(blueprint)
    register_api(app)
    errors.register(app)
    throttle.register(app)
    navigation.register(app)
    app.before_request(_refuse_nul_characters)
    app.before_request(auth.keep_session_alive)
    app.after_request(_security_headers)


class BoundedInt(IntegerConverter):
    """`<int:...>` with an upper bound of 2**31 - 1 unless a rule says otherwise."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2_147_483_647)
        super().__init__(map, *args, **kwargs)


def _refuse_nul_characters() -> None:
    """A NUL character is never meaningful text; PostgreSQL cannot store one and a page
    should not echo one. Refuse it in any query or form field before a view runs."""
    fields = list(request.args.items(multi=True))
    if not request.path.startswith("/api/"):  # the API validates its own JSON bodies
        fields.extend(request.form.items(multi=True))
    for name, value in fields:
        if "\x00" in name or "\x00" in value:
            raise ValidationFailed("Text may not contain NUL characters; nothing was saved.",
                                   {name.replace("\x00", ""): "Contains a NUL character."})


def _security_headers(response: Response) -> Response:
    # No inline script or style anywhere: text people typed can never run in a page.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
