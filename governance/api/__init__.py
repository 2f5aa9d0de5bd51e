"""The JSON API under /api/v1 and its OpenAPI description.

One module per noun (agreements, access_requests, grants, datasets, analyses, outputs, audit,
me), each a set of thin handlers declared with `operations.operation`: parse and check the
request against its declaration, call the same service function as the page, commit once,
answer JSON. Adding a
noun is one more module in `API_MODULES` of governance/registry.py and its SCHEMAS added to
`openapi.SHAPES`; see docs/decisions/api.md.
"""

from __future__ import annotations

from flask import Flask

from governance.api.operations import bp
from governance.kernel.extensions import csrf


def register_api(app: Flask) -> None:
    # Only bearer tokens authenticate here, never the session cookie, so there is no
    # cross-site request to forge.
    csrf.exempt(bp)
    app.register_blueprint(bp)
