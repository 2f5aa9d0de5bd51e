"""Typed wrappers over flask-login, which ships without type information."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask_login
from flask import g, request

from governance.identity.models import User

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
