"""The JSON API under /api/v1 and its OpenAPI description.

One module per noun (agreements, access_requests, grants, datasets, analyses, outputs, audit,
me), each a set of thin handlers declared with `operations.operation`: parse and check the
request against its declaration, call the same service function as the page, commit once,
answer JSON. Adding a
noun is one more module imported below and its SCHEMAS added to `openapi.SHAPES`; see
docs/decisions/api.md.
"""

from __future__ import annotations

from flask import Flask

from governance.api import (  # noqa: F401  (each module registers its routes on `bp`)
    access_requests,
    agreements,
    analyses,
    audit,
    auth,
    datasets,
    grants,
    me,
    openapi,
    outputs,
)
from governance.api.operations import bp
from governance.extensions import csrf


def register_api(app: Flask) -> None:
    # Only bearer tokens authenticate here, never the session cookie, so there is no
    # cross-site request to forge.
    csrf.exempt(bp)
    app.register_blueprint(bp)
