"""Each role's dashboard: the tasks waiting for that role, with their deadlines."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from governance.authz.roles import Role
from governance.dashboard.charts import charts_for
from governance.identity import users
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.tasks import tasks_for
from governance.kernel.types import utcnow
from governance.reminders import ledger
from governance.web.navigation import dashboard_roles

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@login_required
def home() -> Response | str:
    roles = dashboard_roles(current_user.role_set)
    if not roles:
        # Signed in (often for the first time, through an identity provider) but with nothing
        # to do yet: say so, and whom to ask, rather than refuse.
        user = actor()
        return render_template(
            "dashboard/no_role.html",
            administrators=users.role_administrators(
                db_session(), organization_id=user.organization_id
            ),
        )
    return redirect(url_for("dashboard.for_role", role=roles[0].value))


@bp.route("/dashboard/<role>")
@login_required
def for_role(role: str) -> str:
    try:
        chosen = Role(role)
    except ValueError:
        abort(404)
    if chosen not in current_user.role_set:
        abort(403, f"The {chosen.label.lower()} dashboard is for people who hold that role.")
    session, user = db_session(), actor()
    tasks = ledger.with_due(
        session, user, tasks_for(session, user=user, role=chosen), today=utcnow().date()
    )
    pictures = charts_for(session, user=user, role=chosen, today=utcnow().date())
    return render_template(
        "dashboard/role.html",
        role=chosen,
        tasks=tasks,
        charts=pictures,
        view_functions=current_app.view_functions,
    )
