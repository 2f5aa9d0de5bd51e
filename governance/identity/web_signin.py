"""Logging in and out, and keeping the server-side session's `last seen` time."""

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
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from governance.identity import sessions, web_sso
from governance.identity import web_throttle as throttle
from governance.identity.signin import (
    LockoutPolicy,
    LoginFailed,
    SecondFactorDue,
    authenticate,
    record_logout,
)
from governance.identity.web_login import (
    actor,
    current_session,
    finish_login,
    login_required,
    public,
)
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form

bp = Blueprint("auth", __name__)
# The signed cookie's note that a password was right and the second factor is due.
SECOND_FACTOR_KEY = "second_factor_due"


class LoginForm(Form):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: a login link must not bounce people to another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def lockout_policy() -> LockoutPolicy:
    return LockoutPolicy(
        threshold=current_app.config["LOCKOUT_THRESHOLD"],
        minutes=current_app.config["LOCKOUT_MINUTES"],
    )


@bp.route("/login", methods=["GET", "POST"])
@public
@throttle.login_limits
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        db = db_session()
        try:
            signed_in = authenticate(
                db,
                email=form.email.data,
                password=form.password.data,
                policy=lockout_policy(),
                now=utcnow(),
                source=throttle.client_address(),
                user_agent=request.user_agent.string,
            )
        except LoginFailed as failure:
            db.commit()  # keep the failure count and its audit event
            throttle.note_failure()
            error = failure.message
        else:
            db.commit()
            target = safe_next(request.args.get("next"))
            if isinstance(signed_in, SecondFactorDue):
                session.clear()
                session[SECOND_FACTOR_KEY] = {
                    "user": signed_in.user.id,
                    "at": int(utcnow().timestamp()),
                    "next": target,
                }
                return redirect(url_for("two_factor.login_code"))
            return finish_login(signed_in, target)
    return render_template(
        "auth/login.html", form=form, error=error, providers=web_sso.provider_buttons()
    )


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    db = db_session()
    record_logout(
        db, actor(), record=current_session(), now=utcnow(), source=throttle.client_address()
    )
    db.commit()
    end_browser_session()
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))


def end_browser_session() -> None:
    logout_user()
    session.clear()


def keep_session_alive() -> None:
    """Before each page: find the signed-in person's session (refusing an ended one) and note
    when it was last used, at most once a minute, in a transaction of its own."""
    if request.endpoint == "static" or request.path.startswith("/api/"):
        return
    if not current_user.is_authenticated:
        return
    record = current_session()
    if record is not None and sessions.touch(record, utcnow()):
        db_session().commit()
