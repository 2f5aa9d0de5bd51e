"""Data use agreement and access governance service: `create_app` builds the Flask app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from governance.config import PROJECT_ROOT, load_settings, project_instance_path, read_or_create_key

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Configure, load the policy (refusing to start without it), wire extensions and views."""
    # Imported here so that `governance.analysis` and the CLI's light commands do not pull in
    # Flask, Casbin and the web layer when they are imported on their own.
    from pathlib import Path

    from flask import Flask

    from governance import authz
    from governance.authz.grant_index import GrantIndex
    from governance.db import Database
    from governance.extensions import init_extensions
    from governance.services.audit import AuditSettings
    from governance.web import register_web

    instance_path = project_instance_path()
    instance_path.mkdir(parents=True, exist_ok=True)
    settings = load_settings(instance_path, test_config)
    app = Flask(__name__, instance_path=str(instance_path),
                template_folder=str(PROJECT_ROOT / "templates"))
    app.config.update(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["SESSION_COOKIE_SECURE"],
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=settings["MAX_UPLOAD_MB"] * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    authz.install_policy(Path(settings["POLICY_DIR"]))
    audit_settings = AuditSettings.from_key(
        read_or_create_key(Path(settings["AUDIT_KEY_FILE"])),
        checkpoint_every=settings["AUDIT_CHECKPOINT_EVERY"],
        checkpoint_minutes=settings["AUDIT_CHECKPOINT_MINUTES"],
    )
    database = Database(settings["DATABASE_URL"], info={
        "audit": audit_settings, "settings": settings,
        # One grant index per database and process, shared by its sessions (see decision.py).
        "grant_index": GrantIndex()})
    init_extensions(app, database)
    register_web(app)
    return app
