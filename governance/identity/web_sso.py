"""Single sign-on pages: send the browser to an OpenID Connect provider and take it back.

`/login/oidc/<provider>` keeps the request's `state`, `nonce` and PKCE verifier in the signed
session cookie and redirects to the provider; `/login/oidc/<provider>/callback` checks the
answer (oidc.py), signs the person in (sso.py) and records every outcome. A signed-in person
who starts from their account page links the provider to their own account instead.
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from governance.identity import sso
from governance.identity import web_throttle as throttle
from governance.identity.oidc import OidcClient, Pending, SignInRefused, Verified
from governance.identity.providers import OidcProvider, SamlProvider, load_providers
from governance.identity.saml import SamlServiceProvider
from governance.identity.web_login import actor, finish_login, login_required, public
from governance.kernel.extensions import csrf, db_session
from governance.kernel.types import utcnow

bp = Blueprint("sso", __name__)
PENDING_KEY = "oidc_pending"
EXTENSION = "governance.oidc_clients"
SAML_EXTENSION = "governance.saml_providers"
SAML_COOKIE = "saml_request"
SAML_REQUEST_SECONDS = 600


def register(app: Flask) -> None:
    """Read the providers file once, at start-up: a mistake in it stops the app."""
    providers = load_providers(Path(app.config["IDENTITY_PROVIDERS_FILE"]))
    app.extensions[EXTENSION] = {
        key: OidcClient(provider, cache_seconds=app.config["OIDC_METADATA_CACHE_SECONDS"])
        for key, provider in providers.oidc.items()
    }
    app.extensions[SAML_EXTENSION] = {
        key: SamlServiceProvider(
            provider,
            base_url=app.config["BASE_URL"].rstrip("/"),
            skew_seconds=app.config["OIDC_CLOCK_SKEW_SECONDS"],
        )
        for key, provider in providers.saml.items()
    }
    csrf.exempt(saml_acs)  # the IdP's form posts here; InResponseTo ties it to this browser


def clients() -> dict[str, OidcClient]:
    found: dict[str, OidcClient] = current_app.extensions.get(EXTENSION, {})
    return found


def saml_providers() -> dict[str, SamlServiceProvider]:
    found: dict[str, SamlServiceProvider] = current_app.extensions.get(SAML_EXTENSION, {})
    return found


def provider_buttons() -> list[tuple[str, str]]:
    """(sign-in address, display name) of each provider, for the login page."""
    oidc = [
        (url_for("sso.oidc_start", provider=key), client.provider.display_name)
        for key, client in sorted(clients().items())
    ]
    saml = [
        (url_for("sso.saml_start", provider=key), sp.provider.display_name)
        for key, sp in sorted(saml_providers().items())
    ]
    return oidc + saml


def link_buttons() -> list[tuple[str, str]]:
    """(key, display name) of each OpenID Connect provider an account can be linked to."""
    return [(key, client.provider.display_name) for key, client in sorted(clients().items())]


def _client(provider: str) -> OidcClient:
    client = clients().get(provider)
    if client is None:
        abort(404)
    return client


def _callback_url(provider: str) -> str:
    return url_for("sso.oidc_callback", provider=provider, _external=True)


@bp.route("/login/oidc/<provider>")
@public
def oidc_start(provider: str) -> Response:
    client = _client(provider)
    try:
        url, pending = client.start(redirect_uri=_callback_url(provider))
    except SignInRefused as refused:
        return _refused(provider, refused)
    intent = "link" if current_user.is_authenticated else "sign_in"
    cookie[PENDING_KEY] = {**pending.to_dict(), "intent": intent}
    return redirect(url)


@bp.route("/login/oidc/<provider>/callback")
@public
def oidc_callback(provider: str) -> Response | tuple[str, int]:
    client = _client(provider)
    raw = cookie.pop(PENDING_KEY, None)
    pending = Pending.from_dict(raw)
    intent = raw.get("intent") if isinstance(raw, dict) else None
    db = db_session()
    now = utcnow()
    try:
        if pending is None or pending.provider != provider:
            raise SignInRefused("no sign-in was started in this browser (state mismatch)")
        verified = client.finish(
            pending=pending,
            answer=request.args.to_dict(),
            redirect_uri=_callback_url(provider),
            now=int(now.timestamp()),
            leeway=current_app.config["OIDC_CLOCK_SKEW_SECONDS"],
        )
        if intent == "link" and current_user.is_authenticated:
            sso.link(
                db,
                user=actor(),
                provider=client.provider,
                verified=verified,
                now=now,
                source=throttle.client_address(),
            )
            db.commit()
            flash(f"Your account is now linked to {client.provider.display_name}.", "info")
            return redirect("/account/")
        return _sign_in(db, client.provider, verified)
    except SignInRefused as refused:
        return _refused_page(provider, refused)


@bp.route("/login/saml/<provider>")
@public
def saml_start(provider: str) -> Response:
    sp = _saml(provider)
    try:
        url, request_id = sp.start()
    except SignInRefused as refused:
        return _refused(provider, refused)
    answer = redirect(url)
    # The IdP's answer comes back as a cross-site form POST, which never carries the Lax
    # session cookie: the request id travels in a signed cookie of its own, sent cross-site
    # (SameSite=None needs Secure, so on plain-HTTP development it stays Lax, same-site only).
    secure = bool(current_app.config["SESSION_COOKIE_SECURE"])
    answer.set_cookie(
        SAML_COOKIE,
        _saml_signer().dumps({"provider": provider, "request_id": request_id}),
        max_age=SAML_REQUEST_SECONDS,
        path=url_for("sso.saml_acs", provider=provider),
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
    )
    return answer


@bp.route("/saml/<provider>/acs", methods=["POST"])
@public
def saml_acs(provider: str) -> Response:
    sp = _saml(provider)
    request_id = saml_request_id(provider)
    db = db_session()
    now = utcnow()
    try:
        verified = sp.finish(
            db, saml_response=request.form.get("SAMLResponse", ""), request_id=request_id, now=now
        )
        answer = _sign_in(db, sp.provider, verified)
    except SignInRefused as refused:
        page, status = _refused_page(provider, refused)
        answer = Response(page, status=status, mimetype="text/html")
    answer.delete_cookie(SAML_COOKIE, path=url_for("sso.saml_acs", provider=provider))
    return answer


@bp.route("/saml/<provider>/metadata")
@public
def saml_metadata(provider: str) -> Response:
    sp = _saml(provider)
    return Response(sp.metadata(), mimetype="application/samlmetadata+xml")


def _sign_in(db: Session, provider: OidcProvider | SamlProvider, verified: Verified) -> Response:
    """Start the session of the person a verified answer names, and put it in the cookie."""
    signed_in = sso.sign_in(
        db,
        provider=provider,
        verified=verified,
        now=utcnow(),
        source=throttle.client_address(),
        user_agent=request.user_agent.string,
    )
    db.commit()
    return finish_login(signed_in, None)


def _saml_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.config["SECRET_KEY"]), salt="saml-request")


def saml_request_id(provider: str) -> str | None:
    """The id of the AuthnRequest this browser made to this provider, if recent."""
    try:
        pending = _saml_signer().loads(
            request.cookies.get(SAML_COOKIE, ""), max_age=SAML_REQUEST_SECONDS
        )
    except BadSignature:
        return None
    if not isinstance(pending, dict) or pending.get("provider") != provider:
        return None
    return str(pending.get("request_id"))


def _saml(provider: str) -> SamlServiceProvider:
    sp = saml_providers().get(provider)
    if sp is None:
        abort(404)
    return sp


def _refused(provider: str, refused: SignInRefused) -> Response:
    db = db_session()
    sso.record_failure(db, reason=refused.reason, detail=_failure_detail(provider), now=utcnow())
    db.commit()
    flash(refused.message, "error")
    return redirect(url_for("auth.login"))


def _refused_page(provider: str, refused: SignInRefused) -> tuple[str, int]:
    db = db_session()
    if not refused.recorded:
        sso.record_failure(
            db, reason=refused.reason, detail=_failure_detail(provider), now=utcnow()
        )
    db.commit()
    throttle.note_failure()
    return render_template("auth/sso_refused.html", message=refused.message), 401


@bp.route("/account/link/<provider>", methods=["POST"])
@login_required
def link_provider(provider: str) -> Response:
    """Link the signed-in account to a provider: the browser proves the provider's side."""
    _client(provider)
    return oidc_start(provider)


def _failure_detail(provider: str) -> dict[str, str]:
    return {"source": throttle.client_address(), "provider": provider}
