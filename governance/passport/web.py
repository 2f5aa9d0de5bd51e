"""The passport download on the grants page (blueprint `passport`): a form's POST, since
issuing visas writes them to the register and the audit trail."""

from __future__ import annotations

import json

from flask import Blueprint, Response

from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.passport import visas

bp = Blueprint("passport", __name__, url_prefix="/passport")


@bp.route("/download", methods=["POST"])
@login_required
def download() -> Response:
    """Your visas as a GA4GH passport claim, `{"ga4gh_passport_v1": [...]}`, to hand to
    another research environment."""
    db = db_session()
    issued = visas.issue_visas(db, by=actor(), now=utcnow())
    db.commit()
    return Response(
        json.dumps(visas.passport(issued), indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="ga4gh-passport.json"',
            "Cache-Control": "no-store",
        },
    )
