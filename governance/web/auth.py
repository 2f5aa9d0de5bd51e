"""Logging in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from governance.extensions import db_session
from governance.models.types import utcnow
from governance.services.auth import LockoutPolicy, LoginFailed, authenticate, record_logout
from governance.web.access import login_required
from governance.web.forms import Form

bp = Blueprint("auth", __name__)


class LoginForm(Form):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: a login link must not bounce people to another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        db = db_session()
        policy = LockoutPolicy(threshold=current_app.config["LOCKOUT_THRESHOLD"],
                               minutes=current_app.config["LOCKOUT_MINUTES"])
        try:
            user = authenticate(db, email=form.email.data, password=form.password.data,
                                policy=policy, now=utcnow(), source=request.remote_addr or "web")
        except LoginFailed as failure:
            db.commit()  # keep the failure count and its audit event
            error = failure.message
        else:
            db.commit()
            session.clear()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for("dashboard.home"))
    return render_template("auth/login.html", form=form, error=error)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    db = db_session()
    record_logout(db, current_user._get_current_object())
    db.commit()
    logout_user()
    session.clear()
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))
