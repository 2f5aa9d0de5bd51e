"""Administration pages: people, their roles and organisations, training records, their
sessions, reset links and locks, and the role changes that need a second administrator."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import (
    DateField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length

from governance import authz
from governance.authz import Permission, Role
from governance.identity import credentials, role_changes, sessions
from governance.identity import users as user_service
from governance.identity.models import TrainingCourse, User
from governance.identity.organization_model import OrganizationKind
from governance.identity.role_change_model import RoleChange
from governance.identity.signin import unlock
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, submitted
from governance.web.paging import paginate

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_CHOICES = choices((role.value, role.label) for role in Role)


class UserForm(Form):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    organization_id = SelectField("Organisation", coerce=int)
    roles = SelectMultipleField("Roles", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField("Initial password", validators=[DataRequired(), Length(max=1024)])


class EditUserForm(Form):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    organization_id = SelectField("Organisation", coerce=int)
    roles = SelectMultipleField("Roles", choices=ROLE_CHOICES, validators=[DataRequired()])


class TrainingForm(Form):
    course = SelectField("Course", choices=choices((c.value, c.label) for c in TrainingCourse))
    completed_on = DateField("Completed on", validators=[DataRequired()])
    expires_on = DateField("Expires on", validators=[DataRequired()])


class OrganizationForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        "Kind",
        choices=choices(
            [
                (OrganizationKind.RESEARCH.value, "Research organisation"),
                (OrganizationKind.PROVIDER.value, "Data provider agency"),
            ]
        ),
    )


def _organization_choices() -> list[SelectChoice]:
    orgs = user_service.organizations(db_session())
    return choices((org.id, f"{org.name} ({org.kind})") for org in orgs)


def _require_people_page() -> None:
    if not (
        authz.can(current_user, Permission.USER_MANAGE)
        or authz.can(current_user, Permission.TRAINING_RECORD)
    ):
        authz.require(current_user, Permission.USER_MANAGE)


@bp.route("/users")
@login_required
def users() -> str:
    _require_people_page()
    page = paginate(
        db_session(),
        user_service.users_query(),
        default_sort="name",
        sorts={"name": User.name, "email": User.email, "created": User.created_at},
    )
    return render_template("admin/users.html", page=page)


@bp.route("/users/new", methods=["GET", "POST"])
@login_required
def new_user() -> Response | str:
    authz.require(current_user, Permission.USER_MANAGE)
    form = UserForm()
    form.organization_id.choices = _organization_choices()
    if submitted(form):
        db = db_session()
        user = user_service.create_user(
            db,
            email=form.email.data,
            name=form.name.data,
            organization_id=form.organization_id.data,
            roles=form.roles.data,
            password=form.password.data,
            password_min_length=current_app.config["PASSWORD_MIN_LENGTH"],
            by=current_user,
        )
        db.commit()
        flash(f"Account created for {user.email}.", "success")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/user_new.html", form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def user_detail(user_id: int) -> Response | str:
    _require_people_page()
    db = db_session()
    user = user_service.get_user(db, user_id)
    form = EditUserForm(obj=user, prefix="edit")
    form.organization_id.choices = _organization_choices()
    if not form.is_submitted():
        form.roles.data = sorted(r.value for r in user.role_set)
    if submitted(form):
        outcome = user_service.update_user(
            db,
            user_id=user.id,
            name=form.name.data,
            organization_id=form.organization_id.data,
            roles=form.roles.data,
            by=current_user,
        )
        db.commit()
        flash("Changes saved.", "success")
        if outcome.requested:  # a role, or the organisation ("Organisation: <name>")
            flash(
                "Waiting for a second administrator's approval: "
                + ", ".join(change.role_label for change in outcome.requested)
                + ".",
                "info",
            )
        return redirect(url_for("admin.user_detail", user_id=user.id))
    now = utcnow()
    can_see_sessions = authz.can(current_user, Permission.SESSION_END_ANY)
    return render_template(
        "admin/user_detail.html",
        user=user,
        form=form,
        training_form=TrainingForm(prefix="training"),
        now=now,
        locked=user.locked_until is not None and user.locked_until > now,
        pending=role_changes.pending_labels(db, user.id),
        sessions=sessions.sessions_of(db, user_id=user.id, by=actor(), limit=10)
        if can_see_sessions
        else [],
    )


@bp.route("/users/<int:user_id>/sign-out", methods=["POST"])
@login_required
def sign_out(user_id: int) -> Response:
    db = db_session()
    ended = sessions.sign_out_everywhere(db, user_id=user_id, by=actor(), now=utcnow())
    db.commit()
    flash(f"Signed out everywhere: {ended} session(s) ended.", "success")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/users/<int:user_id>/reset-link", methods=["POST"])
@login_required
def send_reset_link(user_id: int) -> Response:
    db = db_session()
    link = credentials.send_reset_link(db, user_id=user_id, by=actor(), now=utcnow())
    db.commit()
    flash(
        f"A single-use link to set a new password was e-mailed to {link.user.email}; it "
        f"works until {link.expires_at:%Y-%m-%d %H:%M} UTC.",
        "success",
    )
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@login_required
def unlock_user(user_id: int) -> Response:
    db = db_session()
    user = unlock(db, user_id=user_id, by=actor(), now=utcnow())
    db.commit()
    flash(f"{user.email} is unlocked.", "success")
    return redirect(url_for("admin.user_detail", user_id=user_id))


class RejectForm(Form):
    note = StringField("Why", validators=[Length(max=500)])


@bp.route("/role-changes")
@login_required
def role_changes_page() -> str:
    db, user = db_session(), actor()
    pending = role_changes.pending_changes(db, by=user)
    page = paginate(
        db,
        role_changes.history_query(by=user),
        default_sort="decided",
        sorts={"decided": RoleChange.decided_at, "requested": RoleChange.requested_at},
        default_direction="desc",
    )
    return render_template(
        "admin/role_changes.html",
        pending=pending,
        page=page,
        can_decide={c.id: role_changes.can_decide(user, c) for c in pending},
        reject_form=RejectForm(prefix="reject"),
    )


@bp.route("/role-changes/<int:change_id>/approve", methods=["POST"])
@login_required
def approve_role(change_id: int) -> Response:
    db = db_session()
    change = role_changes.approve(db, change_id=change_id, by=actor(), now=utcnow())
    db.commit()
    done = (
        f"holds the {change.role_label.lower()} role"
        if change.role
        else f"belongs to {change.user.organization.name}"
    )
    flash(f"{change.user.email} now {done}; their sessions were signed out.", "success")
    return redirect(url_for("admin.role_changes_page"))


@bp.route("/role-changes/<int:change_id>/reject", methods=["POST"])
@login_required
def reject_role(change_id: int) -> Response:
    form = RejectForm(prefix="reject")
    submitted(form)
    db = db_session()
    change = role_changes.reject(
        db, change_id=change_id, by=actor(), now=utcnow(), note=form.note.data or ""
    )
    db.commit()
    flash(
        f"The request for {change.user.email} ({change.role_label.lower()}) was {change.status}.",
        "success",
    )
    return redirect(url_for("admin.role_changes_page"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@login_required
def set_active(user_id: int) -> Response:
    db = db_session()
    user = user_service.get_user(db, user_id)
    user_service.set_active(db, user_id=user_id, active=not user.active, by=current_user)
    db.commit()
    flash(f"{user.email} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/users/<int:user_id>/training", methods=["POST"])
@login_required
def add_training(user_id: int) -> Response | str:
    authz.require(current_user, Permission.TRAINING_RECORD)
    form = TrainingForm(prefix="training")
    submitted(form)
    db = db_session()
    user_service.record_training(
        db,
        user_id=user_id,
        course=form.course.data,
        completed_on=form.completed_on.data,
        expires_on=form.expires_on.data,
        by=current_user,
    )
    db.commit()
    flash("Training recorded.", "success")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/organizations", methods=["GET", "POST"])
@login_required
def organizations() -> Response | str:
    authz.require(current_user, Permission.ORGANIZATION_MANAGE)
    db = db_session()
    form = OrganizationForm()
    if submitted(form):
        user_service.create_organization(
            db, name=form.name.data, kind=OrganizationKind(form.kind.data), by=current_user
        )
        db.commit()
        flash("Organisation added.", "success")
        return redirect(url_for("admin.organizations"))
    orgs = user_service.organizations(db)
    return render_template("admin/organizations.html", organizations=orgs, form=form)
