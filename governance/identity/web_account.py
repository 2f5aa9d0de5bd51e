"""Your own account: your sessions, changing your password, signing out everywhere; and the
pages behind the e-mailed links (set a new password, unlock), which need no login."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from governance import authz
from governance.audit import service as audit
from governance.authz import Permission
from governance.identity import credentials, reauth, sessions, totp, web_sso
from governance.identity import web_throttle as throttle
from governance.identity.signin import unlock_link, unlock_with_link
from governance.identity.web_login import (
    RecentAuthRequired,
    actor,
    current_session,
    login_required,
    public,
)
from governance.identity.web_signin import end_browser_session, safe_next
from governance.kernel.errors import PermissionDenied, ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, submitted

bp = Blueprint("account", __name__)


class ChangePasswordForm(Form):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=1024)]
    )
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm_password = PasswordField(
        "New password again", validators=[DataRequired(), Length(max=1024)]
    )


class NewPasswordForm(Form):
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm_password = PasswordField(
        "New password again", validators=[DataRequired(), Length(max=1024)]
    )


@bp.route("/account/")
@login_required
def index() -> str:
    user = actor()
    record = current_session()
    return render_template(
        "account/index.html",
        form=ChangePasswordForm(prefix="change"),
        sessions=sessions.sessions_of(db_session(), user_id=user.id, by=user),
        current_id=record.id if record else None,
        now=utcnow(),
        min_length=current_app.config["PASSWORD_MIN_LENGTH"],
        providers=web_sso.link_buttons(),
        second_factor=totp.enrolled(db_session(), user.id),
        must_keep_second_factor=bool(current_app.config["ADMIN_SECOND_FACTOR_REQUIRED"])
        and authz.can(user, Permission.USER_MANAGE),
    )


@bp.route("/account/password", methods=["POST"])
@login_required
@throttle.password_check_limits
def change_password() -> Response:
    form = ChangePasswordForm(prefix="change")
    submitted(form)
    db, record = db_session(), current_session()
    try:
        ended = credentials.change_password(
            db,
            user=actor(),
            current_password=form.current_password.data,
            new_password=form.new_password.data,
            confirm_password=form.confirm_password.data,
            min_length=current_app.config["PASSWORD_MIN_LENGTH"],
            keep_session=record.id if record else None,
            now=utcnow(),
        )
    except ValidationFailed as refused:
        if "current_password" in refused.fields:
            throttle.note_failure()
        raise
    db.commit()
    flash(f"Your password was changed; {ended} other session(s) were signed out.", "success")
    return redirect(url_for("account.index"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere() -> Response:
    db, user = db_session(), actor()
    sessions.sign_out_everywhere(db, user_id=user.id, by=user, now=utcnow())
    db.commit()
    end_browser_session()
    flash("You were signed out everywhere, this browser included.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/reset/<secret>", methods=["GET", "POST"])
@public
def reset_password(secret: str) -> Response | str:
    db, now = db_session(), utcnow()
    link = credentials.reset_link(db, secret, now=now)
    form = NewPasswordForm()
    if submitted(form):
        credentials.reset_password(
            db,
            secret=secret,
            new_password=form.new_password.data,
            confirm_password=form.confirm_password.data,
            min_length=current_app.config["PASSWORD_MIN_LENGTH"],
            now=now,
        )
        db.commit()
        end_browser_session()
        flash(
            "Your new password is set and every session was signed out. Log in with it.", "success"
        )
        return redirect(url_for("auth.login"))
    return _private(
        render_template(
            "account/reset.html",
            form=form,
            email=link.user.email,
            min_length=current_app.config["PASSWORD_MIN_LENGTH"],
        )
    )


@bp.route("/unlock/<secret>", methods=["GET", "POST"])
@public
def unlock(secret: str) -> Response | str:
    """GET only shows a button: mail scanners that open links must not use the link up."""
    db, now = db_session(), utcnow()
    link = unlock_link(db, secret, now=now)
    form = Form()
    if submitted(form):
        user = unlock_with_link(db, secret=secret, now=now)
        db.commit()
        flash(f"{user.email} is unlocked. Log in.", "success")
        return redirect(url_for("auth.login"))
    return _private(render_template("account/unlock.html", form=form, email=link.user.email))


def _private(page: str) -> Response:
    """A page whose address holds a secret: no other site may learn it from a Referer."""
    response = make_response(page)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class ReauthenticateForm(Form):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1024)])


@bp.route("/account/reauthenticate", methods=["GET", "POST"])
@login_required
def reauthenticate() -> Response | str:
    """Prove who you are again before a sensitive action, then go back to it."""
    form = ReauthenticateForm(prefix="reauth")
    target = safe_next(request.args.get("next")) or url_for("dashboard.home")
    error = None
    record = current_session()
    if submitted(form) and record is not None:
        db = db_session()
        try:
            reauth.reauthenticate(
                db,
                record=record,
                password=form.password.data or "",
                form=dict(request.form),
                now=utcnow(),
            )
        except PermissionDenied as refused:
            db.rollback()
            if refused.audit:
                audit.record_refusal(db, refused.audit, by=actor())
            db.commit()
            throttle.note_failure()
            error = refused.message
        else:
            db.commit()
            flash("Thank you: you can go on for the next few minutes.", "success")
            return redirect(target)
    return render_template(
        "account/reauthenticate.html",
        form=form,
        error=error,
        target=target,
        second_factor=totp.enrolled(db_session(), actor().id),
    )


def ask_reauthentication(needed: RecentAuthRequired) -> Response:
    """What a page guarded by `require_recent_auth` answers when the proof is too old."""
    flash("This action needs you to confirm who you are: enter your password again.", "info")
    return redirect(url_for("account.reauthenticate", next=safe_next(needed.target) or "/"))
