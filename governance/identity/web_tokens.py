"""API token pages: my tokens, creating one (its secret shown once, on the answer to the form
and never again), and revoking. People who manage accounts also see everyone's usable tokens,
so a leaked one can be revoked at once."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from governance import authz
from governance.authz import Permission
from governance.identity import tokens as service
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, submitted

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


class TokenForm(Form):
    name = StringField("What the token is for", validators=[DataRequired(), Length(max=200)])
    days = IntegerField("Days until it expires", validators=[Optional(), NumberRange(min=1)])


def _index_context(form: TokenForm) -> dict[str, object]:
    user, db, now = actor(), db_session(), utcnow()
    everyone = (
        service.active_tokens(db, by=user, now=now)
        if authz.can(user, Permission.USER_MANAGE)
        else []
    )
    return {
        "form": form,
        "tokens": service.tokens_of(db, user.id),
        "everyone": everyone,
        "now": now,
        "max_days": service.token_days(db),
        "can_create": authz.can(user, Permission.TOKEN_CREATE),
    }


@bp.route("/")
@login_required
def index() -> str:
    form = TokenForm()
    if not form.is_submitted():  # shown again after a refusal: keep what was typed
        form.days.data = service.token_days(db_session())
    return render_template("tokens/index.html", **_index_context(form))


@bp.route("/", methods=["POST"])
@login_required
def create() -> tuple[str, int]:
    form = TokenForm()
    user, db = actor(), db_session()
    authz.require(user, Permission.TOKEN_CREATE)
    submitted(form)
    created = service.create_token(
        db, user_id=user.id, name=form.name.data or "", days=form.days.data, by=user, now=utcnow()
    )
    db.commit()
    # Answered directly rather than redirected: the secret must not pass through the
    # session (flash) or be shown by reloading a page.
    return render_template("tokens/created.html", token=created.token, secret=created.secret), 201


@bp.route("/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int) -> Response:
    db = db_session()
    token = service.revoke_token(db, token_id=token_id, by=actor(), now=utcnow())
    db.commit()
    flash(f"Token {token.prefix}… revoked; it stops working on its next request.", "success")
    return redirect(url_for("tokens.index"))
