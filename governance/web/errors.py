"""Maps domain errors to HTTP in one place, and records refusals in the audit trail.

A refused action is rolled back; the refusal itself is then written and committed on its own,
so a denied attempt is never lost even though nothing else it tried is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from governance.audit import service as audit
from governance.identity.models import User
from governance.identity.web_login import request_actor
from governance.kernel.errors import DomainError, InvalidTransition, ValidationFailed
from governance.kernel.extensions import db_session, login_manager
from governance.web import forms

log = logging.getLogger(__name__)

NEXT_STEPS = {
    400: "Check what you sent and try again.",
    401: "Log in and try again.",
    403: "If you need this, ask a privacy officer or the data steward for access; the attempt "
    "has been recorded.",
    404: "Check the address, or go back to your dashboard.",
    405: "Use the page's own buttons and forms.",
    409: "Reload the page to see the current state; only the actions listed are possible now.",
    413: "The upload is larger than this service accepts; split it or ask an administrator.",
    422: "Correct the fields shown and send the form again; nothing was saved.",
    429: "Wait before trying again; the refusal has been recorded.",
    500: "Something went wrong on our side; nothing was saved. Try again, and tell an "
    "administrator if it keeps happening.",
    503: "A part of the service is unreachable; nothing was saved and no data was read. "
    "Try again in a minute.",
}
# A partner reviewer works for a provider agency, not here: "ask the data steward" names
# people they do not know.
PARTNER_403 = (
    "This page is not part of a partner's preview. Partner reviewers see their "
    "agency's outputs under *Outputs* while each is in preview. If you need "
    "something else, write to the research organisation's privacy officer named "
    "on your agreement; the attempt has been recorded."
)
TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Not possible in this state",
    410: "Gone",
    413: "Too large",
    422: "Please correct the form",
    429: "Too many attempts",
    500: "Internal error",
    503: "Temporarily unavailable",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def error_response(status: int, message: str, **extra: Any) -> tuple[Response | str, int]:
    if wants_json():
        body: dict[str, Any] = {
            "error": TITLES.get(status, "Error"),
            "status": status,
            "message": message,
            **extra,
        }
        return jsonify(body), status
    return render_template(
        "errors/error.html",
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        next_step=_next_step(status),
        extra=extra,
    ), status


def _next_step(status: int) -> str:
    from governance import authz
    from governance.authz import Permission

    actor = request_actor()
    # Someone whose only power is previewing their agency's outputs works for the provider:
    # the next step is to write to our privacy officer, not to ask an administrator.
    if (
        status == 403
        and isinstance(actor, User)
        and len(actor.roles) == 1
        and authz.can(actor, Permission.OUTPUT_PREVIEW)
    ):
        return PARTNER_403 + _privacy_officers()
    return NEXT_STEPS.get(status, "")


def _privacy_officers() -> str:
    """Who "our privacy officer" is, by name and address, for someone outside."""
    from governance.identity.users import privacy_officers

    named = [f"{u.name} ({u.email})" for u in privacy_officers(db_session())]
    return f" Our privacy officers: {', '.join(named)}." if named else ""


def record_refusal(error: DomainError) -> None:
    """Roll the refused action back, then record and commit the refusal on its own (for a
    view that answers a refusal with its own page rather than the error page)."""
    session = db_session()
    session.rollback()
    if not error.audit:
        return
    audit.record_refusal(session, error.audit, by=request_actor())
    session.commit()


def _domain_error(error: DomainError) -> tuple[Response | str, int]:
    record_refusal(error)
    if isinstance(error, ValidationFailed) and not wants_json():
        # A refused form is shown again on its own page, with what was typed kept.
        shown = forms.redisplay(error)
        if shown is not None:
            return shown
    extra: dict[str, Any] = {}
    if isinstance(error, InvalidTransition):
        extra["allowed"] = error.allowed
        if error.current is not None:
            extra["current"] = error.current
    if isinstance(error, ValidationFailed) and error.fields:
        extra["fields"] = error.fields
    return error_response(error.status, error.message, **extra)


def _database_down(error: Exception) -> tuple[Response | str, int]:
    log.warning("database unavailable: %s", error)
    try:
        db_session().rollback()
    except DBAPIError:
        log.warning("rollback failed while the database is unavailable")
    # Fix (issue 9, tests/reliability/test_faults.py): the page must not touch the database
    # again. base.html asks for `current_user`, whose loader queries the database (and the
    # user's organisation is a lazy load), so rendering raised a second OperationalError and
    # the person got a bare 500 instead of this 503. Render it as to a visitor who is not
    # logged in; the login session itself is left alone.
    g._login_user = login_manager.anonymous_user()
    return error_response(503, "The database cannot be reached right now.")


def _http_error(error: HTTPException) -> tuple[Response | str, int] | HTTPException:
    if error.code is None or error.code < 400:
        return error
    message = error.description or TITLES.get(error.code, "Error")
    return error_response(error.code, message)


def _csrf_error(error: CSRFError) -> tuple[Response | str, int]:
    return error_response(
        400,
        "This form was not sent from this site or it expired: "
        f"{error.description} Reload the page and send it again.",
    )


def _unexpected(error: Exception) -> tuple[Response | str, int]:
    log.exception("unhandled error", exc_info=error)
    try:
        db_session().rollback()
    except DBAPIError:
        log.warning("rollback failed after an unhandled error")
    return error_response(500, "An unexpected error occurred.")


def register(app: Flask) -> None:
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(OperationalError, _database_down)
    app.register_error_handler(HTTPException, _http_error)
    if not app.config.get("TESTING"):
        app.register_error_handler(Exception, _unexpected)
