"""The Flask extensions and the request's database session.

One session per request, opened on first use and closed at teardown; a view commits once,
after the service call succeeded (Indico's rule: parse, check access, act, commit).

Who is signed in is identity's business: `init_extensions` takes its loader
(identity/web_login.py), so that the kernel knows no noun.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from governance.kernel.db import Database, set_reading_first

login_manager = LoginManager()
csrf = CSRFProtect()
# Limits are declared on the views they protect (identity/web_throttle.py); storage and strategy
# come from the app's configuration (RATELIMIT_STORAGE_URL).
limiter = Limiter(key_func=get_remote_address)
# The cookie's key for the server-side session's secret.
SESSION_KEY = "sid"

DB_KEY = "governance.kernel.db"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def database(app: Flask | None = None) -> Database:
    db: Database = (app or current_app).extensions[DB_KEY]
    return db


def db_session() -> Session:
    """The current request's session."""
    if "db_session" not in g:
        # A request that only reads (and records that it did) is read by SQLite without its
        # write lock until it writes (kernel/db.py); the flag is cleared at teardown.
        set_reading_first(has_request_context() and request.method in SAFE_METHODS)
        g.db_session = database().sessions()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
    set_reading_first(False)


def init_extensions(app: Flask, db: Database, *, load_user: Callable[[str], Any]) -> None:
    app.extensions[DB_KEY] = db
    app.teardown_appcontext(_close_session)
    login_manager.user_loader(load_user)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    limiter.init_app(app)
