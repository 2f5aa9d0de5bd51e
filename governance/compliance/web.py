"""The compliance manager's annual audit pages (audit periods, their certification campaign,
training completion and the controls report) and the stewards' certification list. Views
parse, call one service, commit and render."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from flask import Blueprint, Response, current_app, render_template
from markupsafe import Markup
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    DateField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from governance.access import training_report as training
from governance.audit import service as audit
from governance.audit.verify import trust_of, verify_chain
from governance.compliance import certification, certification_export, controls, periods
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import database, db_session
from governance.kernel.types import utcnow
from governance.web.forms import Form, choices, committed, submitted

bp = Blueprint("compliance", __name__, url_prefix="/compliance")
FORMATS = {"csv": "text/csv", "pdf": "application/pdf"}


class PeriodForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    starts_on = DateField("First day", validators=[DataRequired()])
    ends_on = DateField("Last day", validators=[DataRequired()])


class CampaignForm(Form):
    certify_by = DateField("Stewards decide by the end of (UTC)", validators=[DataRequired()])


class DecisionForm(Form):
    decision = SelectField(
        "Decision",
        choices=choices(
            (d.value, label)
            for d, label in (
                (certification.Decision.CONFIRM, "Confirm as it is"),
                (certification.Decision.NARROW, "Narrow to the columns kept"),
                (certification.Decision.REVOKE, "Revoke"),
            )
        ),
    )
    keep = SelectMultipleField("Columns kept (when narrowing)")
    comment = TextAreaField("Comment (required to revoke)")


def _download(body: bytes | Iterator[bytes], fmt: str, name: str) -> Response:
    return Response(
        body,
        mimetype=FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> BaseResponse | str:
    db = db_session()
    found = periods.list_periods(db, by=actor())
    form = PeriodForm()
    if submitted(form):
        period = periods.open_period(
            db,
            name=form.name.data,
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            by=actor(),
            now=utcnow(),
        )
        return committed("The audit period is open.", "compliance.period", period_id=period.id)
    return render_template("compliance/index.html", periods=found, form=form)


@bp.route("/periods/<int:period_id>")
@login_required
def period(period_id: int) -> str:
    db = db_session()
    now = utcnow()
    found = periods.view_period(db, period_id=period_id, by=actor())
    lines = training.training_lines(db, today=now.date())
    return render_template(
        "compliance/period.html",
        period=found,
        progress=periods.progress(found, now=now),
        rows=certification_export.item_rows(db, found, now=now),
        training=training.summarise(lines),
        campaign_form=CampaignForm(),
        now=now,
    )


@bp.route("/periods/<int:period_id>/certify", methods=["POST"])
@login_required
def certify(period_id: int) -> BaseResponse:
    form = CampaignForm()
    submitted(form)
    deadline = dt.datetime.combine(form.certify_by.data, dt.time(), tzinfo=dt.UTC)
    periods.start_certification(
        db_session(),
        period_id=period_id,
        certify_by=deadline + dt.timedelta(days=1),
        by=actor(),
        now=utcnow(),
    )
    return committed(
        "The certification campaign has started: the stewards are told.",
        "compliance.period",
        period_id=period_id,
    )


@bp.route("/periods/<int:period_id>/close", methods=["POST"])
@login_required
def close(period_id: int) -> BaseResponse:
    periods.close_period(db_session(), period_id=period_id, by=actor(), now=utcnow())
    return committed("The audit period is closed.", "compliance.period", period_id=period_id)


@bp.route("/periods/<int:period_id>/training")
@login_required
def training_page(period_id: int) -> str:
    db = db_session()
    found = periods.view_period(db, period_id=period_id, by=actor())
    lines = training.training_lines(db, today=utcnow().date())
    return render_template(
        "compliance/training.html",
        period=found,
        lines=lines,
        summary=training.summarise(lines),
        window_days=training.WINDOW.days,
    )


@bp.route("/periods/<int:period_id>/training.csv")
@login_required
def training_csv(period_id: int) -> Response:
    db = db_session()
    found = periods.view_period(db, period_id=period_id, by=actor())
    chunks = list(training.export_training_report(db, by=actor(), now=utcnow(), period=found.name))
    db.commit()
    return _download(iter(chunks), "csv", f"training-{period_id}-{utcnow():%Y%m%d}.csv")


@bp.route("/periods/<int:period_id>/certification.<fmt>")
@login_required
def certification_file(period_id: int, fmt: str) -> Response:
    if fmt not in FORMATS:
        raise NotFound("The certification exports as csv or pdf.")
    db = db_session()
    record = certification_export.build(db, period_id=period_id, fmt=fmt, by=actor(), now=utcnow())
    db.commit()
    name = f"certification-{period_id}.{fmt}"
    if fmt == "pdf":
        return _download(certification_export.render_certification_pdf(record), fmt, name)
    return _download(certification_export.iter_certification_csv(record), fmt, name)


@bp.route("/periods/<int:period_id>/controls.<fmt>")
@login_required
def controls_file(period_id: int, fmt: str) -> Response:
    if fmt not in FORMATS:
        raise NotFound("The controls report exports as csv or pdf.")
    db = db_session()
    periods.view_period(db, period_id=period_id, by=actor())
    verification = verify_chain(database().read_engine(), audit.settings_of(db), trust=trust_of(db))
    report = controls.build(
        db,
        period_id=period_id,
        fmt=fmt,
        by=actor(),
        now=utcnow(),
        verification=verification,
        settings=current_app.config,
    )
    db.commit()
    name = f"controls-{period_id}.{fmt}"
    if fmt == "pdf":
        return _download(controls.render_controls_pdf(report), fmt, name)
    return _download(controls.iter_controls_csv(report), fmt, name)


@bp.route("/certifications")
@login_required
def certifications() -> str:
    items = certification.steward_items(db_session(), by=actor())
    forms = {}
    for entry in items:
        form = DecisionForm(prefix=f"item{entry.item.id}")
        form.keep.choices = _column_choices(entry.columns)
        forms[entry.item.id] = form
    return render_template("compliance/certifications.html", items=items, forms=forms, now=utcnow())


def _column_choices(columns: Iterable[str]) -> list[SelectChoice]:
    """Column names are data identifiers: the page sets them as code, not as words."""
    return choices((c, Markup("<code>{}</code>").format(c)) for c in columns)


@bp.route("/certifications/<int:item_id>", methods=["POST"])
@login_required
def decide(item_id: int) -> BaseResponse:
    db = db_session()
    item = certification.get_item(db, item_id)
    form = DecisionForm(prefix=f"item{item_id}")
    form.keep.choices = _column_choices(c for c in item.columns_at_start.split(",") if c)
    submitted(form)
    decided = certification.certify(
        db,
        item_id=item_id,
        decision=form.decision.data,
        keep=list(form.keep.data or []),
        comment=form.comment.data or "",
        by=actor(),
        now=utcnow(),
    )
    return committed(f"Grant #{decided.grant_id}: {decided.status}.", "compliance.certifications")
