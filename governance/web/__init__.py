"""The shell of the pages: what every page shares (forms, paging, error pages, navigation,
security headers). The blueprints are each noun's; governance/registry.py puts them together."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from werkzeug.routing import IntegerConverter, Map

from governance.kernel.errors import ValidationFailed
from governance.kernel.types import MAX_ID


def install_converters(app: Flask) -> None:
    # Ids in addresses are 32-bit, like the columns they name: a larger number is a 404 here
    # rather than an overflow in the database.
    app.url_map.converters["int"] = BoundedInt


class BoundedInt(IntegerConverter):
    """`<int:...>` with an upper bound of `MAX_ID` unless a rule says otherwise."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def refuse_nul_characters() -> None:
    """A NUL character is never meaningful text; PostgreSQL cannot store one and a page
    should not echo one. Refuse it in any query or form field before a view runs."""
    api = request.path.startswith("/api/")  # the API validates its own JSON bodies
    query = request.query_string
    # A query's NUL arrives as %00 (or raw): without either its fields need no walk.
    fields = list(request.args.items(multi=True)) if b"%00" in query or b"\x00" in query else []
    if not api:
        fields.extend(request.form.items(multi=True))
    for name, value in fields:
        if "\x00" in name or "\x00" in value:
            raise ValidationFailed(
                "Text may not contain NUL characters; nothing was saved.",
                {name.replace("\x00", ""): "Contains a NUL character."},
            )


def remember_plain_functions(app: Flask) -> None:
    """Flask asks `ensure_sync` of each hook and of the view on every request (about fifteen
    for an API read), and each time it inspects the function's code for a coroutine. The
    functions are the app's own, made at start-up, so each process remembers the ones that
    are plain (at most PLAIN_FUNCTIONS) and hands them back at once; a coroutine function
    still goes to Flask's own wrapping each time."""
    plain: set[Any] = set()
    wrap = app.ensure_sync

    def ensure_sync(func: Any) -> Any:
        if func in plain:
            return func
        made = wrap(func)
        if made is func and len(plain) < PLAIN_FUNCTIONS:
            plain.add(func)
        return made

    app.ensure_sync = ensure_sync  # type: ignore[method-assign]


PLAIN_FUNCTIONS = 4096


# The headers every answer carries unless its view set its own.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    # No inline script or style anywhere: text people typed can never run in a page.
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
_PAGE_HEADERS = (*SECURITY_HEADERS, ("Cache-Control", "no-store"))


def security_headers(response: Response) -> Response:
    # One pass over the headers the view set, then the missing ones appended in order: the
    # same headers as a `setdefault` for each, which scanned the list once per header.
    wanted = _PAGE_HEADERS if response.mimetype == "text/html" else SECURITY_HEADERS
    present = {name.lower() for name, _value in response.headers}
    response.headers.extend([(n, v) for n, v in wanted if n.lower() not in present])
    return response
