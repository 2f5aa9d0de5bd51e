"""The audit trail pages: search, exports, the PDF report, evidence packs and verification.

Compliance managers and privacy officers hold `audit:read`, `audit:export` and
`audit:verify`. Every page load and download is itself recorded, and committed before any
export byte is streamed.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from flask import (
    Blueprint,
    Response,
    flash,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from governance import authz
from governance.audit import evidence as audit_evidence
from governance.audit import export as audit_export
from governance.audit import report as audit_report
from governance.audit import saved_searches
from governance.audit import search as audit_search
from governance.audit.directory import names_for
from governance.audit.models import AuditType, Outcome
from governance.audit.queries import KINDS, AuditFilter, parse_filter
from governance.audit.sentences import event_label
from governance.audit.verify import run_verification
from governance.audit.web_rows import event_rows
from governance.authz import Permission
from governance.identity.web_login import actor, login_required, require_recent_auth
from governance.kernel.errors import ValidationFailed
from governance.kernel.extensions import database, db_session
from governance.kernel.text import whole_number
from governance.web.drawn import KeptDrawings

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _attachment(body: bytes | Iterator[bytes], fmt: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=audit_export.MEDIA_TYPES[fmt].split(";")[0],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _before() -> int | None:
    raw = request.args.get("before", "").strip()
    if not raw:
        return None
    number = whole_number(raw, maximum=10**18 - 1)
    if number is None:
        raise ValidationFailed("before must be an event number.", {"before": "Not a number."})
    return number


@bp.route("/")
@login_required
def search() -> tuple[str, int]:
    db, user = db_session(), actor()
    try:
        flt, before = parse_filter(request.args, db), _before()
        page = audit_search.search(db, flt, before=before, by=user)
    except ValidationFailed as refusal:
        # The form shows what is wrong beside what was typed; the refused search is recorded.
        db.rollback()
        audit_search.record_refused_search(db, dict(request.args), refusal, by=user)
        db.commit()
        return _page(None, AuditFilter(), errors=refusal.fields, message=str(refusal)), 422
    db.commit()
    return _page(page, flt), 200


def _page(
    page: audit_search.SearchPage | None,
    flt: AuditFilter,
    *,
    errors: dict[str, str] | None = None,
    message: str = "",
) -> str:
    db, user = db_session(), actor()
    events = page.events if page is not None else []
    names = names_for(db, events)
    return render_template(
        "audit/search.html",
        page=page,
        head=page.head if page is not None else audit_search.readable_head(db, by=user),
        flt=flt,
        args=flt.as_args(),
        rows=event_rows(events, names),
        names=names,
        errors=errors or {},
        message=message,
        event_type_select=_event_type_select(
            request.args.get("event_type"), (errors or {}).get("event_type")
        ),
        outcomes=list(Outcome),
        kinds=[(name, text) for name, (text, _) in KINDS.items()],
        presets=saved_searches.presets(),
        saved=saved_searches.list_saved(db, by=user),
        can_export=authz.can(user, Permission.AUDIT_EXPORT),
        can_verify=authz.can(user, Permission.AUDIT_VERIFY),
        **_filter_form(errors, message),
    )


@bp.route("/export")
@login_required
@require_recent_auth()
def export() -> Response:
    authz.require(actor(), Permission.AUDIT_EXPORT, audit={"event_type": AuditType.AUDIT_EXPORT})
    fmt = request.args.get("format", "")
    if fmt not in audit_export.MEDIA_TYPES:
        raise ValidationFailed("format must be csv, jsonl or pdf.", {"format": "Unknown."})
    db = db_session()
    flt = parse_filter(request.args, db)
    event_type = AuditType.AUDIT_REPORT if fmt == "pdf" else AuditType.AUDIT_EXPORT
    audit_export.record_export(db, flt, fmt=fmt, by=actor(), event_type=event_type)
    db.commit()
    engine = database().read_engine()
    filename = audit_export.export_filename(fmt, flt)
    if fmt == "pdf":
        report = audit_report.build_report(db, engine, flt)
        return _attachment(audit_report.render_report(report), fmt, filename)
    return _attachment(audit_export.iter_export(engine, flt, fmt), fmt, filename)


@bp.route("/searches", methods=["POST"])
@login_required
def save_search() -> BaseResponse:
    db = db_session()
    saved_searches.save(
        db,
        name=request.form.get("name", ""),
        query=request.form.get("query", ""),
        by=actor(),
    )
    db.commit()
    flash("Search saved: run it again from “Saved searches”.", "success")
    return redirect(url_for("audit.search"))


@bp.route("/searches/<int:search_id>/delete", methods=["POST"])
@login_required
def delete_search(search_id: int) -> BaseResponse:
    db = db_session()
    saved_searches.delete(db, search_id, by=actor())
    db.commit()
    flash("Saved search deleted.", "success")
    return redirect(url_for("audit.search"))


@bp.route("/evidence/<int:agreement_id>.<fmt>")
@login_required
def evidence(agreement_id: int, fmt: str) -> Response:
    if fmt not in ("pdf", "csv"):
        raise ValidationFailed("An evidence pack is a PDF and a CSV.", {"format": "Unknown."})
    db = db_session()
    audit_evidence.record_evidence_export(db, agreement_id, by=actor())
    db.commit()
    engine = database().read_engine()
    filename = f"agreement-{agreement_id}-{'evidence' if fmt == 'pdf' else 'events'}.{fmt}"
    if fmt == "pdf":
        pack = audit_evidence.build_pack(db, engine, agreement_id)
        return _attachment(audit_evidence.render_pack(pack), fmt, filename)
    return _attachment(audit_evidence.iter_pack_csv(engine, agreement_id), fmt, filename)


@bp.route("/verify", methods=["POST"])
@login_required
def verify() -> BaseResponse:
    db = db_session()
    result = run_verification(db, database().read_engine(), by=actor())
    db.commit()
    # Intact, but with time-stamp tokens whose signatures could not be checked: a warning.
    category = "error" if not result.intact else "warning" if result.unchecked else "success"
    flash(result.summary(), category)
    return redirect(url_for("audit.search"))


@cache
def _event_type_options() -> list[tuple[str, str]]:
    """The "What happened" choices: fixed by the code, so worked out once per process rather
    than for each search (about 150 labels)."""
    return [(t.value, event_label(t.value)) for t in AuditType]


def _event_type_select(selected: str | None, error: str | None) -> Markup:
    """The "What happened" drop-down. Its 150 options were a tenth of a search's CPU to render
    (a macro call per option); they depend only on which one is chosen, so each process keeps
    the drop-down drawn for no choice and for each event type. A choice that is no event type,
    or an error to show beside it, is drawn each time (never kept: anyone could type one)."""
    if error is None and (selected is None or selected in _EVENT_TYPES):
        return _drawn_event_type_select(selected)
    return _draw_event_type_select(selected, error)


_EVENT_TYPES = frozenset(t.value for t in AuditType)


@cache
def _drawn_event_type_select(selected: str | None) -> Markup:
    return _draw_event_type_select(selected, None)


def _draw_event_type_select(selected: str | None, error: str | None) -> Markup:
    macro = get_template_attribute("_macros.html", "filter_select")
    # An autoescaping template's macro returns Markup, every value in it escaped.
    drawn: Markup = macro(
        "event_type",
        "What happened",
        _event_type_options(),
        selected,
        any="Anything",
        error=error,
        id="event_type",
    )
    return drawn


# The filter form's fields a person types freely: a form showing any of them is drawn each time.
_TYPED = ("since", "until", "user", "agreement_id", "dataset", "dataset_id")
# Every choice of "What happened", kind and outcome, with and without other arguments: far
# fewer in practice; emptied, not grown, beyond this.
KEPT_FORMS = 1024
_kept_forms = KeptDrawings(KEPT_FORMS)


def _filter_form(errors: dict[str, str] | None, message: str) -> dict[str, object]:
    """The search's filter form as kept for this request's choices, if it was drawn before
    (`kept_filters`), and how the template keeps the one it draws (`keep_filters`).

    Its seven fields and their macros were about a twentieth of a search's CPU, and a search
    by its drop-downs alone (the checks, paging through one kind of event) shows the same form
    each time: it depends only on the three choices, whether any argument is given (the Clear
    link) and where the app is mounted. A form showing typed text, an error or a message is
    drawn each time and never kept (anyone could type anything)."""
    args = request.args
    key = (
        None
        if errors or message or any(args.get(name) for name in _TYPED)
        else (
            args.get("event_type"),
            args.get("kind"),
            args.get("outcome"),
            bool(args),
            request.script_root,
        )
    )

    def keep(drawn: Markup) -> str:
        if key is not None:
            _kept_forms.keep(key, drawn)
        return ""

    return {"kept_filters": _kept_forms.get(key) if key else None, "keep_filters": keep}
