"""Second-factor pages: the code after a right password, enrolment, and the rule that sends an
administrator without a second factor to enrolment before anything else."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from governance.identity import totp
from governance.identity import web_throttle as throttle
from governance.identity.signin import LoginFailed
from governance.identity.web_login import (
    actor,
    current_session,
    finish_login,
    login_required,
    public,
    require_recent_auth,
)
from governance.identity.web_signin import SECOND_FACTOR_KEY, lockout_policy
from governance.kernel.errors import DomainError
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form

bp = Blueprint("two_factor", __name__)
# How long after a right password the second factor may be given.
DUE_SECONDS = 300
# What an administrator without a second factor may still open.
ENROLMENT_ENDPOINTS = frozenset(
    {"two_factor.enrol", "two_factor.start", "two_factor.confirm", "auth.logout", "static"}
)


class CodeForm(Form):
    code = StringField("Code", validators=[DataRequired(), Length(max=40)])


@bp.route("/login/second-factor", methods=["GET", "POST"])
@public
def login_code() -> Response | str:
    due = cookie.get(SECOND_FACTOR_KEY)
    now = utcnow()
    if not isinstance(due, dict) or now.timestamp() - float(due.get("at", 0)) > DUE_SECONDS:
        cookie.pop(SECOND_FACTOR_KEY, None)
        flash("Log in again: the time to give the second factor has passed.", "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        db = db_session()
        try:
            signed_in = totp.complete_login(
                db,
                user_id=int(due["user"]),
                code=form.code.data,
                policy=lockout_policy(),
                now=now,
                source=throttle.client_address(),
                user_agent=request.user_agent.string,
            )
        except LoginFailed as failure:
            db.commit()  # keep the failure count and its audit event
            error = failure.message
        else:
            db.commit()
            return finish_login(signed_in, due.get("next"))
    return render_template("auth/second_factor.html", form=form, error=error)


@bp.route("/account/two-factor")
@login_required
def enrol() -> str:
    db = db_session()
    user = actor()
    secret = totp.pending_secret(db, user=user)
    uri = totp.provisioning_uri(user, secret) if secret else None
    return render_template(
        "account/two_factor.html",
        enrolled=totp.enrolled(db, user.id),
        required=totp.must_enrol(db, user),
        secret=secret,
        uri=uri,
        qr=totp.qr_data_uri(uri) if uri else None,
        form=CodeForm(),
    )


@bp.route("/account/two-factor/start", methods=["POST"])
@login_required
def start() -> Response:
    db = db_session()
    totp.start_enrolment(db, user=actor(), now=utcnow())
    db.commit()
    return redirect(url_for("two_factor.enrol"))


@bp.route("/account/two-factor/confirm", methods=["POST"])
@login_required
def confirm() -> Response | tuple[str, int] | str:
    form = CodeForm()
    db = db_session()
    if not form.validate_on_submit():
        return redirect(url_for("two_factor.enrol"))
    try:
        codes = totp.confirm_enrolment(db, user=actor(), code=form.code.data, now=utcnow())
    except DomainError as refused:
        db.rollback()
        flash(refused.message, "error")
        return redirect(url_for("two_factor.enrol"))
    db.commit()
    return render_template("account/recovery_codes.html", codes=codes)


def _reauth_window() -> dt.timedelta:
    return dt.timedelta(minutes=int(current_app.config["REAUTH_MINUTES"]))


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
@require_recent_auth(back=lambda: url_for("account.index"))
def disable() -> Response:
    db = db_session()
    totp.disable(
        db,
        user=actor(),
        record=current_session(),
        max_age=_reauth_window(),
        administrators_must_keep=bool(current_app.config["ADMIN_SECOND_FACTOR_REQUIRED"]),
        now=utcnow(),
    )
    db.commit()
    flash(
        "The second factor is off: your password alone signs you in. Its recovery codes no "
        "longer work.",
        "success",
    )
    return redirect(url_for("account.index"))


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
@require_recent_auth(back=lambda: url_for("account.index"))
def regenerate_codes() -> str:
    db = db_session()
    codes = totp.regenerate_recovery_codes(
        db, user=actor(), record=current_session(), max_age=_reauth_window(), now=utcnow()
    )
    db.commit()
    return render_template("account/recovery_codes.html", codes=codes, replaced=True)


def require_enrolment() -> Response | None:
    """Before each page: an administrator without a second factor goes to enrolment."""
    if not current_app.config["ADMIN_SECOND_FACTOR_REQUIRED"]:
        return None
    if request.path.startswith("/api/") or not current_user.is_authenticated:
        return None
    if request.endpoint in ENROLMENT_ENDPOINTS:
        return None
    if totp.must_enrol(db_session(), actor()):
        return redirect(url_for("two_factor.enrol"))
    return None
