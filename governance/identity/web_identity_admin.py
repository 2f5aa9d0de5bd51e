"""Identity administration pages: group mappings (external group to role and organisation) and
the SCIM tokens of identity providers' provisioning clients."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from governance import authz
from governance.authz import Permission, Role
from governance.identity import groups, scim_tokens
from governance.identity import users as user_service
from governance.identity.group_mapping_model import GROUP_LENGTH, SOURCE_LENGTH
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, submitted

bp = Blueprint("identity_admin", __name__, url_prefix="/admin/identity")


class MappingForm(Form):
    source = StringField(
        "Source (identity provider id, or scim)",
        validators=[DataRequired(), Length(max=SOURCE_LENGTH)],
    )
    external_group = StringField(
        "External group (as the provider sends it)",
        validators=[DataRequired(), Length(max=GROUP_LENGTH)],
    )
    role = SelectField("Role")
    organization_id = SelectField("Organisation")


def _mapping_form() -> MappingForm:
    form = MappingForm(prefix="mapping")
    form.role.choices = choices([("", "(no role)"), *((r.value, r.label) for r in Role)])
    form.organization_id.choices = choices(
        [("", "(no organisation)")]
        + [(str(o.id), o.name) for o in user_service.organizations(db_session())]
    )
    return form


@bp.route("/groups", methods=["GET", "POST"])
@login_required
def group_mappings() -> Response | str:
    db, by = db_session(), actor()
    authz.require(by, Permission.IDENTITY_CONFIGURE)
    form = _mapping_form()
    if submitted(form):
        mapping = groups.create_mapping(
            db,
            source=form.source.data,
            external_group=form.external_group.data,
            role=form.role.data or None,
            organization_id=int(form.organization_id.data) if form.organization_id.data else None,
            by=by,
            now=utcnow(),
        )
        db.commit()
        flash(
            f"Group {mapping.external_group!r} of {mapping.source} is mapped"
            + ("." if mapping.approved else "; it counts once a second administrator approves it."),
            "success",
        )
        return redirect(url_for("identity_admin.group_mappings"))
    return render_template(
        "identity_admin/groups.html",
        mappings=groups.mappings(db, by=by),
        form=form,
        can_approve=authz.can(by, Permission.ROLE_APPROVE),
    )


@bp.route("/groups/<int:mapping_id>/approve", methods=["POST"])
@login_required
def approve_mapping(mapping_id: int) -> Response:
    db = db_session()
    mapping = groups.approve_mapping(db, mapping_id=mapping_id, by=actor(), now=utcnow())
    db.commit()
    flash(f"The mapping of {mapping.external_group!r} now counts.", "success")
    return redirect(url_for("identity_admin.group_mappings"))


@bp.route("/groups/<int:mapping_id>/delete", methods=["POST"])
@login_required
def delete_mapping(mapping_id: int) -> Response:
    db = db_session()
    groups.delete_mapping(db, mapping_id=mapping_id, by=actor(), now=utcnow())
    db.commit()
    flash("Mapping removed.", "success")
    return redirect(url_for("identity_admin.group_mappings"))


class ScimTokenForm(Form):
    name = StringField(
        "Name (which provider uses it)", validators=[DataRequired(), Length(max=200)]
    )
    days = IntegerField(
        "Valid for (days)",
        default=180,
        validators=[DataRequired(), NumberRange(min=1, max=scim_tokens.MAX_DAYS)],
    )


@bp.route("/scim-tokens", methods=["GET", "POST"])
@login_required
def scim_token_list() -> str:
    """Issue a token (its secret shown once, on this answer only) and list the others."""
    db, by = db_session(), actor()
    authz.require(by, Permission.IDENTITY_CONFIGURE)
    form = ScimTokenForm(prefix="scim")
    secret = None
    if submitted(form):
        _token, secret = scim_tokens.issue_token(
            db, name=form.name.data or "", days=form.days.data or 0, by=by, now=utcnow()
        )
        db.commit()
        form = ScimTokenForm(prefix="scim", formdata=None)
    return render_template(
        "identity_admin/scim_tokens.html",
        tokens=scim_tokens.tokens(db, by=by),
        form=form,
        secret=secret,
        now=utcnow(),
    )


@bp.route("/scim-tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_scim_token(token_id: int) -> Response:
    db = db_session()
    token = scim_tokens.revoke_token(db, token_id=token_id, by=actor(), now=utcnow())
    db.commit()
    flash(f"SCIM token {token.prefix}… is revoked; the next request with it is refused.", "success")
    return redirect(url_for("identity_admin.scim_token_list"))


@bp.route("/sign-in")
@login_required
def sign_in_policy() -> str:
    """Which organisations still allow local passwords."""
    authz.require(actor(), Permission.IDENTITY_CONFIGURE)
    return render_template(
        "identity_admin/sign_in.html", organizations=user_service.organizations(db_session())
    )


@bp.route("/sign-in/<int:organization_id>", methods=["POST"])
@login_required
def set_local_passwords(organization_id: int) -> Response:
    db = db_session()
    allowed = request.form.get("local_passwords") == "on"
    organization = user_service.set_local_passwords(
        db, organization_id=organization_id, allowed=allowed, by=actor()
    )
    db.commit()
    ended = "" if allowed else " Its people's password sessions were ended."
    flash(
        f"Local passwords are now {'on' if allowed else 'off'} for {organization.name}.{ended}",
        "success",
    )
    return redirect(url_for("identity_admin.sign_in_policy"))
