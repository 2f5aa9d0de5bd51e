"""The shell of the pages: what every page shares (forms, paging, error pages, navigation,
security headers). The blueprints are each noun's; governance/registry.py puts them together."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from werkzeug.routing import IntegerConverter, Map

from governance.kernel.errors import ValidationFailed


def install_converters(app: Flask) -> None:
    # Ids in addresses are 32-bit, like the columns they name: a larger number is a 404 here
    # rather than an overflow in the database.
    app.url_map.converters["int"] = BoundedInt


class BoundedInt(IntegerConverter):
    """`<int:...>` with an upper bound of 2**31 - 1 unless a rule says otherwise."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2_147_483_647)
        super().__init__(map, *args, **kwargs)


def refuse_nul_characters() -> None:
    """A NUL character is never meaningful text; PostgreSQL cannot store one and a page
    should not echo one. Refuse it in any query or form field before a view runs."""
    fields = list(request.args.items(multi=True))
    if not request.path.startswith("/api/"):  # the API validates its own JSON bodies
        fields.extend(request.form.items(multi=True))
    for name, value in fields:
        if "\x00" in name or "\x00" in value:
            raise ValidationFailed(
                "Text may not contain NUL characters; nothing was saved.",
                {name.replace("\x00", ""): "Contains a NUL character."},
            )


def security_headers(response: Response) -> Response:
    # No inline script or style anywhere: text people typed can never run in a page.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
