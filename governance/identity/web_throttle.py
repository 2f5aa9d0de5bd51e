"""Throttling password guesses per client address and per account, before the lockout.

Two limits on each form that checks a password, counting failures only (a successful login
costs nothing), over the lockout period (LOCKOUT_MINUTES, a moving window):
- one client address, any accounts: LOGIN_FAILURES_PER_ADDRESS (password spraying);
- one account from one address: LOCKOUT_THRESHOLD - 1, so a single attacker is refused (429)
  before the account locks, and the person can still log in from their own machine. The
  lockout (identity/signin.py) remains for attackers with many addresses; its e-mailed link lets
  the person unlock.
A refusal is 429 with a message saying what to do, and is recorded in the audit trail, once
per client and period (an attacker who keeps knocking must not fill the trail).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, make_response, request
from flask_limiter import RateLimitExceeded, RequestLimit
from limits import parse
from werkzeug.sansio.response import Response as BaseResponse

from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.kernel.extensions import db_session, limiter
from governance.web.errors import error_response

F = TypeVar("F", bound=Callable[..., Any])
FAILED = "governance.password_check_failed"
#: The methods the limits count: password forms are POSTed.
LIMITED_METHODS = frozenset({"POST"})


def client_address() -> str:
    return request.remote_addr or "unknown"


def note_failure() -> None:
    """The view says the password it checked was wrong: this attempt counts."""
    g.setdefault(FAILED, True)


def _failed(_response: Response) -> bool:
    return bool(g.get(FAILED, False))


def _minutes() -> int:
    minutes: int = current_app.config["LOCKOUT_MINUTES"]
    return minutes


def _share(limit: int) -> int:
    """This process's share of a limit: memory storage counts in each process alone, so with
    N server processes each allows a 1/N share and together they allow no more than the
    limit (one attacker still meets the throttle before the lock under `governance serve
    --workers 2`). Redis counts for all of them."""
    processes: int = current_app.config["SERVER_PROCESSES"]
    if not current_app.config["RATELIMIT_STORAGE_URL"].startswith("memory"):
        processes = 1
    return max(1, limit // processes)


def _per_address() -> str:
    failures = _share(current_app.config["LOGIN_FAILURES_PER_ADDRESS"])
    return f"{failures} per {_minutes()} minutes"


def _per_account() -> str:
    failures = _share(current_app.config["LOCKOUT_THRESHOLD"] - 1)
    return f"{failures} per {_minutes()} minutes"


def _attempted_email() -> str:
    return (request.form.get("email") or "").strip().lower()[:320]


def _account_from_address() -> str:
    return f"{_attempted_email()}|{client_address()}"


def _signed_in_account() -> str:
    from flask_login import current_user

    return f"user:{current_user.get_id()}|{client_address()}"


def _breach(scope: str, message: str) -> Callable[[RequestLimit], Response]:
    def on_breach(limit: RequestLimit) -> Response:
        _record_once(scope, limit)
        body, status = error_response(429, message.format(minutes=_minutes()))
        response = make_response(body, status)
        response.headers["Retry-After"] = str(max(1, int(limit.reset_at - time.time())))
        return response

    return on_breach


def _record_once(scope: str, limit: RequestLimit) -> None:
    once = parse(f"1 per {_minutes()} minutes")
    if not limiter.limiter.hit(
        once, "throttle-recorded", scope, client_address(), _attempted_email()
    ):
        return
    session = db_session()
    session.rollback()
    audit.record(
        session,
        AuditType.LOGIN_THROTTLED,
        by=None,
        outcome=Outcome.DENIED,
        actor_email=_attempted_email() or None,
        detail={
            "source": client_address(),
            "scope": scope,
            "limit": str(limit.limit),
            "path": request.path,
        },
    )
    session.commit()


ADDRESS_MESSAGE = (
    "Too many failed logins from your network address. Wait {minutes} minutes "
    "and try again; if you have forgotten your password, ask an administrator "
    "to send you a reset link. This refusal has been recorded."
)
ACCOUNT_MESSAGE = (
    "Too many failed logins for this account from your network address. Wait "
    "{minutes} minutes and try again; if you have forgotten your password, ask "
    "an administrator to send you a reset link. This refusal has been recorded."
)


def login_limits(view: F) -> F:
    """The two limits of the login form (POST only)."""
    per_account = limiter.limit(
        _per_account,
        key_func=_account_from_address,
        methods=sorted(LIMITED_METHODS),
        scope="login-account",
        deduct_when=_failed,
        on_breach=_breach("account", ACCOUNT_MESSAGE),
    )
    per_address = limiter.limit(
        _per_address,
        key_func=client_address,
        methods=sorted(LIMITED_METHODS),
        scope="login-address",
        deduct_when=_failed,
        on_breach=_breach("address", ADDRESS_MESSAGE),
    )
    return cast(F, per_address(per_account(view)))


def password_check_limits(view: F) -> F:
    """Forms where a signed-in person retypes their password: a session left open on a shared
    machine must not become a way to guess it."""
    limit = limiter.limit(
        _per_account,
        key_func=_signed_in_account,
        methods=sorted(LIMITED_METHODS),
        scope="password-check",
        deduct_when=_failed,
        on_breach=_breach("password-check", ACCOUNT_MESSAGE),
    )
    return cast(F, limit(view))


@limiter.request_filter
def _not_limited() -> bool:
    """Every limit here counts POSTs of password forms: any other request (an API read, a
    page) is let past the limiter at once, without its walk through the declared limits on
    each request (a twentieth of a served read's CPU)."""
    return request.method not in LIMITED_METHODS


def _limited(error: RateLimitExceeded) -> BaseResponse | tuple[Response | str, int]:
    if error.response is not None:
        return error.response
    return error_response(429, ADDRESS_MESSAGE.format(minutes=_minutes()))


def register(app: Flask) -> None:
    app.register_error_handler(RateLimitExceeded, _limited)
    _only_limited_methods(app)


def _only_limited_methods(app: Flask) -> None:
    """flask-limiter's three hooks run for every request: before it (its check, which sets up
    its context and walks the declared limits before the request filter lets a GET past),
    after it (deductions, e.g. a failed password, and headers) and at teardown (forgetting its
    context, which lives on the request's own context). A request whose method no limit
    counts has nothing for any of them to do, so they are not called for it: about a tenth of
    an API read's Flask overhead. Raises at start-up if flask-limiter no longer registers them
    so (an upgrade), rather than running without them."""
    before = app.before_request_funcs[None]
    check = before.index(limiter._check_request_limit)
    checking = before[check]

    def check_limited() -> None:
        if request.method in LIMITED_METHODS:
            checking()

    before[check] = check_limited
    after = app.after_request_funcs[None]
    (deduct,) = (
        i for i, hook in enumerate(after) if isinstance(hook, partial) and hook.args == (limiter,)
    )
    deducting = after[deduct]

    def deduct_limited(response: Response) -> Response:
        if request.method in LIMITED_METHODS:
            return cast(Response, deducting(response))
        return response

    after[deduct] = deduct_limited
    teardown = app.teardown_request_funcs[None]
    release = teardown.index(limiter._Limiter__release_context)  # type: ignore[attr-defined]
    releasing = teardown[release]

    def release_limited(error: BaseException | None = None) -> None:
        if request.method in LIMITED_METHODS:
            releasing(error)

    teardown[release] = release_limited
