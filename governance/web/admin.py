"""Administration pages: people, their roles and organisations, training records."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
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
from governance.extensions import db_session
from governance.models.organization import Organization, OrganizationKind
from governance.models.user import TrainingCourse, User
from governance.services import users as user_service
from governance.web.access import login_required
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
    kind = SelectField("Kind", choices=choices([
        (OrganizationKind.RESEARCH.value, "Research organisation"),
        (OrganizationKind.PROVIDER.value, "Data provider agency")]))


def _organization_choices() -> list[SelectChoice]:
    orgs = db_session().scalars(select(Organization).order_by(Organization.name))
    return choices((org.id, f"{org.name} ({org.kind})") for org in orgs)


def _require_people_page() -> None:
    if not (authz.can(current_user, Permission.USER_MANAGE)
            or authz.can(current_user, Permission.TRAINING_RECORD)):
        authz.require(current_user, Permission.USER_MANAGE)


@bp.route("/users")
@login_required
def users() -> str:
    _require_people_page()
    page = paginate(db_session(), select(User), default_sort="name",
                    sorts={"name": User.name, "email": User.email,
                           "created": User.created_at})
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
            db, email=form.email.data, name=form.name.data,
            organization_id=form.organization_id.data, roles=form.roles.data,
            password=form.password.data,
            password_min_length=current_app.config["PASSWORD_MIN_LENGTH"], by=current_user)
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
        user_service.update_user(db, user_id=user.id, name=form.name.data,
                          organization_id=form.organization_id.data, roles=form.roles.data,
                          by=current_user)
        db.commit()
        flash("Changes saved.", "success")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/user_detail.html", user=user, form=form,
                           training_form=TrainingForm(prefix="training"))


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
    user_service.record_training(db, user_id=user_id, course=form.course.data,
                          completed_on=form.completed_on.data,
                          expires_on=form.expires_on.data, by=current_user)
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
            db, name=form.name.data, kind=OrganizationKind(form.kind.data), by=current_user)
        db.commit()
        flash("Organisation added.", "success")
        return redirect(url_for("admin.organizations"))
    orgs = db.scalars(select(Organization).order_by(Organization.name)).all()
    return render_template("admin/organizations.html", organizations=orgs, form=form)
