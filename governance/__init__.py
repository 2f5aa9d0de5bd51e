"""Data use agreement and access governance service: `create_app` builds the Flask app."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from governance.kernel.config import (
    PROJECT_ROOT,
    is_http_off_loopback,
    load_settings,
    private_dir,
    project_instance_path,
    session_cookie_secure,
)

if TYPE_CHECKING:
    from flask import Flask

    from governance.kernel.db import Database


def show_service_logs() -> None:
    """Send the service's INFO records (notifications logged instead of e-mailed, ...) to
    stderr, beside gunicorn's own lines; without this Python drops everything below WARNING.
    Left alone when the operator (or a test runner) has configured logging."""
    import logging

    service = logging.getLogger("governance")
    if service.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    )
    service.addHandler(handler)
    service.setLevel(logging.INFO)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Configure, load the policy (refusing to start without it), wire extensions and views."""
    # Imported here so that `governance.analysis.engine` and the CLI's light commands do not pull in
    # Flask, Casbin and the web layer when they are imported on their own.
    from pathlib import Path

    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from governance import authz, registry

    show_service_logs()
    instance_path = project_instance_path()
    private_dir(instance_path)
    settings = load_settings(instance_path, test_config)
    app = Flask(
        __name__, instance_path=str(instance_path), template_folder=str(PROJECT_ROOT / "templates")
    )
    app.config.update(settings)
    secure = session_cookie_secure(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        MAX_CONTENT_LENGTH=settings["MAX_UPLOAD_MB"] * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        # Login throttling (identity/web_throttle.py). Should Redis be unreachable, counting
        # goes on in memory rather than either refusing every login or throttling nobody.
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=settings["RATELIMIT_STORAGE_URL"],
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_KEY_PREFIX="governance",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    if is_http_off_loopback(settings["BASE_URL"]):
        logging.getLogger(__name__).warning(
            "BASE_URL %s serves this site over plain HTTP to other machines: passwords and "
            "session cookies would cross the network in clear (and the session cookie, sent "
            "over HTTPS only, will not work). Serve it over HTTPS and set BASE_URL to https://.",
            settings["BASE_URL"],
        )
    if settings["PROXY_COUNT"]:
        # The client's own address (for throttling and the audit trail) and scheme, as the
        # trusted proxies in front of us report them.
        hops = settings["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    authz.install_policy(Path(settings["POLICY_DIR"]))
    database = open_database(settings)
    registry.install_app(app, database)
    return app


def open_database(settings: Mapping[str, Any]) -> Database:
    """The database as every process uses it: its audit settings (keys, checkpoint cadence),
    settings, key rings and grant index, which the services find on it."""
    from governance.audit.search import AT_CAP_INFO, FiltersAtCap
    from governance.audit.service import AuditSettings
    from governance.authz.grant_index import GrantIndex
    from governance.kernel import keys
    from governance.kernel.db import Database

    # A missing or unreadable key stops start-up here (KeyFileError); `governance init`
    # creates keys, nothing else does. Checkpoints signed by a retired audit key still verify.
    key_rings = keys.load_rings(settings)
    audit_settings = AuditSettings(
        keys=key_rings.audit.keys,
        current_key_id=key_rings.audit.current_id,
        checkpoint_every=settings["AUDIT_CHECKPOINT_EVERY"],
        checkpoint_minutes=settings["AUDIT_CHECKPOINT_MINUTES"],
    )
    return Database(
        settings["DATABASE_URL"],
        info={
            "audit": audit_settings,
            "settings": settings,
            "keys": key_rings,
            # One grant index per database and process, shared by its sessions (see decision.py).
            "grant_index": GrantIndex(),
            # The audit searches whose count has reached its cap (see audit/search.py).
            AT_CAP_INFO: FiltersAtCap(),
        },
    )


def open_audit_trail() -> Database:
    """The database for a command that only verifies, exports or reports on the audit trail:
    the settings, keys and database `create_app` would give it, with the trail's own wiring
    (registry_trail.py: the record listeners, the report's names) and nothing else. It needs no
    policy (its actor is the system), no page and no other noun's wiring, and importing those
    took about 2 s of CPU at each command, beside the verifier's own workers on 2 cores."""
    from governance import registry_trail

    show_service_logs()
    instance_path = project_instance_path()
    private_dir(instance_path)
    settings = load_settings(instance_path, None)
    registry_trail.install()
    return open_database(settings)
