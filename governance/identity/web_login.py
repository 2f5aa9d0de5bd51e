"""Who is signed in: the loader flask-login calls, and typed wrappers over flask-login
(which ships without type information).

A signed-in person is found through their server-side session (identity/sessions.py): the
cookie names the session by its secret, and a session that has ended, or whose person was
deactivated, signs nobody in, whatever copies of the cookie exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask_login
from flask import g, redirect, request, url_for
from flask import session as cookie
from werkzeug.wrappers import Response

from governance.identity import sessions
from governance.identity.models import User
from governance.identity.session_model import UserSession
from governance.identity.signin import SignedIn
from governance.kernel.extensions import SESSION_KEY, db_session

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
    if not user_id.isdigit():
        return None
    record = sessions.find_active(db_session(), cookie.get(SESSION_KEY), user_id=int(user_id))
    if record is None:
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


def current_session() -> UserSession | None:
    """The server-side session of this request's signed-in person, once they are loaded."""
    record = g.get("user_session")
    return record if isinstance(record, UserSession) else None
