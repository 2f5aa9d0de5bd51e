"""Who is signed in: the loader flask-login calls, and typed wrappers over flask-login
(which ships without type information).

A signed-in person is found through their server-side session (identity/sessions.py): the
cookie names the session by its secret, and a session that has ended, or whose person was
deactivated, signs nobody in, whatever copies of the cookie exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import flask_login
from flask import current_app, flash, g, redirect, request, url_for
from flask import session as cookie
from werkzeug.wrappers import Response

from governance.identity import sessions
from governance.identity.models import User
from governance.identity.session_model import SessionEndReason, UserSession
from governance.identity.signin import SignedIn
from governance.kernel.extensions import SESSION_KEY, db_session
from governance.kernel.types import utcnow

F = TypeVar("F", bound=Callable[..., Any])


# What an endpoint declares it checks before its service runs; tests/lifecycle/
# test_route_checks.py fails on any route or command that declares nothing.
SIGNED_IN = "signed in (the service checks the permission and the object rules)"
PUBLIC = "public (no sign-in)"


def declare_check(view: F, check: str) -> F:
    view.__authz__ = check  # type: ignore[attr-defined]
    return view


def login_required(view: F) -> F:
    """Anonymous requests go to the login page (or get 401 from the API)."""
    return declare_check(cast(F, flask_login.login_required(view)), SIGNED_IN)


def public(view: F) -> F:
    """Declares that anyone may open the page, signed in or not."""
    return declare_check(view, PUBLIC)


def actor() -> User:
    """The logged-in person, as the model object services expect in `by=`."""
    user = flask_login.current_user._get_current_object()
    if not isinstance(user, User):
        raise RuntimeError("actor() called outside a logged-in request")
    return user


def request_actor() -> User | None:
    """Who acts in this request, for the record of a refusal: on the API the token's holder
    (the API never accepts the session cookie), on pages the logged-in person."""
    if request.path.startswith("/api/"):
        holder = g.get("api_user")
        return holder if isinstance(holder, User) else None
    user = flask_login.current_user
    return user._get_current_object() if user.is_authenticated else None


def load_user(user_id: str) -> User | None:
    """The person whose live session the cookie names; a session unused for too long, or past
    its lifetime, ends here (audited) and signs nobody in."""
    if not user_id.isdigit():
        return None
    db = db_session()
    record = sessions.find_active(db, cookie.get(SESSION_KEY), user_id=int(user_id))
    if record is None:
        return None
    limits = sessions.SessionLimits.from_settings(current_app.config)
    ended = sessions.end_if_expired(db, record=record, limits=limits, now=utcnow())
    if ended is not None:
        db.commit()
        flash(EXPIRY_MESSAGES[ended], "info")
        return None
    g.user_session = record
    return record.user


def finish_login(signed_in: SignedIn, target: str | None) -> Response:
    """Put the new session in the cookie; nothing from before the login survives it (session
    fixation)."""
    cookie.clear()
    flask_login.login_user(signed_in.user)
    cookie[SESSION_KEY] = signed_in.session_secret
    return redirect(target or url_for("dashboard.home"))


EXPIRY_MESSAGES = {
    SessionEndReason.IDLE_TIMEOUT: "Your session ended because it was not used for a while. "
    "Log in again.",
    SessionEndReason.LIFETIME_ENDED: "Your session reached its longest lifetime. Log in again.",
}


class RecentAuthRequired(Exception):
    """The action needs a fresher proof of who the person is; `target` is where to go back."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def ensure_recent_auth(max_age: dt.timedelta | None = None, *, back: str | None = None) -> None:
    """Raise RecentAuthRequired unless the signed-in person proved who they are within
    `max_age` (default REAUTH_MINUTES). After re-authenticating, a GET comes back to itself and
    a form's POST to `back` (the page the form is on), which the person sends again."""
    record = current_session()
    limit = max_age or dt.timedelta(minutes=int(current_app.config["REAUTH_MINUTES"]))
    if record is not None and sessions.is_recent(record, max_age=limit, now=utcnow()):
        return
    target = request.full_path if request.method == "GET" else (back or request.referrer or "/")
    raise RecentAuthRequired(target)


def require_recent_auth(
    max_age: dt.timedelta | None = None, *, back: Callable[..., str] | None = None
) -> Callable[[F], F]:
    """Before the most sensitive actions: the person re-authenticates (password, and the second
    factor where they have one) when their last proof is older than `max_age`. `back` gives,
    from the view's arguments, the page to return to after a POST. Put it below
    `login_required`."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            ensure_recent_auth(max_age, back=back(**kwargs) if back else None)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def current_session() -> UserSession | None:
    """The server-side session of this request's signed-in person, once they are loaded."""
    record = g.get("user_session")
    return record if isinstance(record, UserSession) else None
