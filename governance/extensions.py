"""The Flask extensions and the request's database session.

One session per request, opened on first use and closed at teardown; a view commits once,
after the service call succeeded (Indico's rule: parse, check access, act, commit).
"""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from governance.db import Database
from governance.models.user import User

login_manager = LoginManager()
csrf = CSRFProtect()

DB_KEY = "governance.db"


def database(app: Flask | None = None) -> Database:
    db: Database = (app or current_app).extensions[DB_KEY]
    return db


def db_session() -> Session:
    """The current request's session."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    # A deactivated account's existing session stops working on its very next request.
    if user is None or not user.active:
        return None
    return user


def init_extensions(app: Flask, db: Database) -> None:
    app.extensions[DB_KEY] = db
    app.teardown_appcontext(_close_session)
    login_manager.user_loader(_load_user)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    csrf.init_app(app)
