"""Your mail settings (how often your digest comes, what waits on you) and the outbox page
an administrator searches."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms import SelectField

from governance import authz
from governance.authz import Permission
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.mail_model import MAIL_STATUS_LABELS, OutboxMessage
from governance.kernel.types import utcnow
from governance.reminders import digest, ledger, queries
from governance.reminders.models import DIGEST_LABELS, Digest
from governance.web.forms import Form, choices, submitted
from governance.web.paging import paginate

bp = Blueprint("mail", __name__)


class DigestForm(Form):
    digest = SelectField(
        "Digest of the tasks waiting on you",
        choices=choices((d.value, DIGEST_LABELS[d]) for d in Digest),
    )


@bp.route("/account/mail", methods=["GET", "POST"])
@login_required
def preferences() -> Response | str:
    user, db = actor(), db_session()
    form = DigestForm(prefix="mail")
    if form.posted() and submitted(form):
        digest.set_digest(db, user=user, digest=str(form.digest.data), by=user)
        db.commit()
        flash("Your digest choice is saved.", "success")
        return redirect(url_for("mail.preferences"))
    if not form.posted():
        form.digest.data = digest.preference(db, user.id).digest
    return render_template(
        "mail/preferences.html",
        form=form,
        tasks=ledger.open_tasks(db, user.id),
        today=utcnow().date(),
    )


@bp.route("/admin/outbox")
@login_required
def outbox() -> str:
    authz.require(actor(), Permission.MAIL_READ_OUTBOX)
    chosen = queries.parse_filter(dict(request.args))
    page = paginate(
        db_session(),
        queries.outbox_query(chosen),
        default_sort="created",
        default_direction="desc",
        sorts={
            "created": OutboxMessage.id,
            "recipient": OutboxMessage.recipient,
            "status": OutboxMessage.delivery,
        },
    )
    return render_template(
        "mail/outbox.html",
        page=page,
        chosen=chosen,
        statuses=MAIL_STATUS_LABELS,
        kinds=queries.KIND_LABELS,
    )
