"""Webhook pages for administrators: the endpoints, registering one (its secret shown once),
each endpoint's delivery log, sending a message again, switching an endpoint on and off."""

from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.wrappers import Response
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, committed, submitted
from governance.webhooks import queries, service
from governance.webhooks.events import KINDS, LABELS

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


class EventTypesField(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EndpointForm(Form):
    url = StringField("Address (https://…)", validators=[DataRequired(), Length(max=2000)])
    description = StringField("What receives it", validators=[Optional(), Length(max=200)])
    event_types = EventTypesField(
        "Events to send",
        choices=choices(dict.fromkeys((kind.type, kind.label) for kind in KINDS)),
        validators=[DataRequired()],
    )
    secret = StringField(
        "Signing secret (leave empty to have one made)", validators=[Optional(), Length(max=200)]
    )


@bp.route("/")
@login_required
def index() -> str:
    service.require_manager(actor())
    return render_template(
        "webhooks/index.html",
        endpoints=queries.endpoints(db_session()),
        form=EndpointForm(),
        labels=LABELS,
    )


@bp.route("/", methods=["POST"])
@login_required
def create() -> tuple[str, int]:
    service.require_manager(actor())
    form = EndpointForm()
    submitted(form)
    db = db_session()
    registered = service.register_endpoint(
        db,
        url=form.url.data or "",
        event_types=form.event_types.data or [],
        description=form.description.data or "",
        secret=form.secret.data,
        by=actor(),
        now=utcnow(),
    )
    db.commit()
    # Answered directly rather than redirected: the secret must not pass through the session.
    return render_template(
        "webhooks/created.html", endpoint=registered.endpoint, secret=registered.secret
    ), 201


@bp.route("/<int:endpoint_id>")
@login_required
def show(endpoint_id: int) -> str:
    db = db_session()
    endpoint = service.endpoint(db, endpoint_id, by=actor())
    return render_template(
        "webhooks/show.html",
        endpoint=endpoint,
        log=queries.delivery_log(db, endpoint.id),
        labels=LABELS,
    )


@bp.route("/<int:endpoint_id>/enable", methods=["POST"])
@login_required
def enable(endpoint_id: int) -> Response:
    service.set_enabled(
        db_session(), endpoint_id=endpoint_id, enabled=True, by=actor(), now=utcnow()
    )
    return committed(
        "Endpoint enabled; its waiting messages are sent.", "webhooks.show", endpoint_id=endpoint_id
    )


@bp.route("/<int:endpoint_id>/disable", methods=["POST"])
@login_required
def disable(endpoint_id: int) -> Response:
    service.set_enabled(
        db_session(), endpoint_id=endpoint_id, enabled=False, by=actor(), now=utcnow()
    )
    return committed(
        "Endpoint disabled; its messages wait until it is enabled again.",
        "webhooks.show",
        endpoint_id=endpoint_id,
    )


@bp.route("/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@login_required
def redeliver(delivery_id: int) -> Response:
    delivery = service.redeliver(db_session(), delivery_id=delivery_id, by=actor(), now=utcnow())
    return committed(
        "The message will be sent again now.", "webhooks.show", endpoint_id=delivery.endpoint_id
    )
