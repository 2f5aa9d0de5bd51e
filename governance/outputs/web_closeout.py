"""An ended agreement's close-out: the checklist computed from the live records, and the close
it allows (refused with 409 naming the unmet items until all hold)."""

from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.wrappers import Response as BaseResponse

from governance import authz
from governance.authz import Permission
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.outputs import closeout
from governance.web.forms import Form, committed, submitted

bp = Blueprint("closeout", __name__, url_prefix="/agreements")


@bp.route("/<int:agreement_id>/closeout")
@login_required
def checklist(agreement_id: int) -> str:
    db = db_session()
    user = actor()
    agreement, items = closeout.view_checklist(db, agreement_id=agreement_id, by=user, now=utcnow())
    db.commit()  # the view is recorded
    return render_template(
        "agreements/closeout.html",
        agreement=agreement,
        items=items,
        ready=all(item.met for item in items),
        can_close=agreement.status in closeout.ENDED
        and authz.can(user, Permission.AGREEMENT_CERTIFY_DESTRUCTION),
        form=Form(),
    )


@bp.route("/<int:agreement_id>/close", methods=["POST"])
@login_required
def close(agreement_id: int) -> BaseResponse:
    submitted(Form())
    agreement = closeout.close_agreement(
        db_session(), agreement_id=agreement_id, by=actor(), now=utcnow()
    )
    return committed(
        f"Agreement {agreement.reference} is closed.",
        "closeout.checklist",
        agreement_id=agreement_id,
    )
