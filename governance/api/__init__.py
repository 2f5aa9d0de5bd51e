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

from governance.access import api_grants as grants  # noqa: F401  (each module registers its routes on `bp`)
from governance.access import api_requests as access_requests  # noqa: F401  (each module registers its routes on `bp`)
from governance.agreements import api as agreements  # noqa: F401  (each module registers its routes on `bp`)
from governance.analysis import api as analyses  # noqa: F401  (each module registers its routes on `bp`)
from governance.api import openapi  # noqa: F401  (each module registers its routes on `bp`)
from governance.api.operations import bp
from governance.audit import api as audit  # noqa: F401  (each module registers its routes on `bp`)
from governance.datasets import api as datasets  # noqa: F401  (each module registers its routes on `bp`)
from governance.identity import api as me  # noqa: F401  (each module registers its routes on `bp`)
from governance.identity import api_auth as auth  # noqa: F401  (each module registers its routes on `bp`)
from governance.kernel.extensions import csrf
from governance.outputs import api as outputs  # noqa: F401  (each module registers its routes on `bp`)


def register_api(app: Flask) -> None:
    # Only bearer tokens authenticate here, never the session cookie, so there is no
    # cross-site request to forge.
    csrf.exempt(bp)
    app.register_blueprint(bp)
