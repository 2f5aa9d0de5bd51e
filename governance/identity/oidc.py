"""OpenID Connect sign-in as a relying party: the authorization code flow with PKCE.

Authlib builds the authorization request (PKCE S256, `state`, `nonce`) and redeems the code at
the token endpoint; joserfc (Authlib's JOSE library) checks the ID token: its signature with a
key from the provider's published JWKS, its issuer, its audience (and `azp` when there are
several), its expiry and issue time (with OIDC_CLOCK_SKEW_SECONDS of leeway) and the `nonce`
this browser was given. The discovery document and the JWKS are cached for
OIDC_METADATA_CACHE_SECONDS; a token signed with a key id the cached set does not hold fetches
the JWKS again, once, before refusing (the provider rotated its keys). Only asymmetric
signature algorithms are accepted: `none` and HMAC with the client secret never are.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from governance.identity.providers import OidcProvider
from governance.kernel.errors import DomainError

SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
HTTP_TIMEOUT = 10


class SignInRefused(DomainError):
    """The provider's answer did not prove who the person is; `reason` goes to the audit."""

    status = 401

    def __init__(self, reason: str, *, recorded: bool = False) -> None:
        super().__init__(
            "Single sign-on did not complete, so you are not signed in. Try again, or ask an "
            "administrator if it keeps failing."
        )
        self.reason = reason
        # Whether the refusal's audit event is already written (by the sign-in service).
        self.recorded = recorded


@dataclass(frozen=True)
class Pending:
    """What the browser's session keeps between the redirect to the provider and its return."""

    provider: str
    state: str
    nonce: str
    code_verifier: str

    def to_dict(self) -> dict[str, str]:
        return {
            "provider": self.provider,
            "state": self.state,
            "nonce": self.nonce,
            "code_verifier": self.code_verifier,
        }

    @classmethod
    def from_dict(cls, raw: object) -> Pending | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(**{name: str(raw[name]) for name in cls.__dataclass_fields__})
        except KeyError:
            return None


@dataclass(frozen=True)
class Verified:
    """Who the provider says signed in, from a verified ID token."""

    issuer: str
    subject: str
    email: str | None
    name: str | None
    groups: tuple[str, ...]


class OidcClient:
    """One provider: its cached discovery document and keys, and the two legs of the flow."""

    def __init__(self, provider: OidcProvider, *, cache_seconds: int) -> None:
        self.provider = provider
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata and time.monotonic() - self._metadata[0] < self.cache_seconds:
                return self._metadata[1]
        url = f"{self.provider.issuer}/.well-known/openid-configuration"
        document = _get_json(url)
        # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was asked for.
        if document.get("issuer", "").rstrip("/") != self.provider.issuer:
            raise SignInRefused(f"discovery document names issuer {document.get('issuer')!r}")
        with self._lock:
            self._metadata = (time.monotonic(), document)
        return document

    def keys(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
        if not refresh and cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            keyset = KeySet.import_key_set(_get_json(self.metadata()["jwks_uri"]))  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError) as error:
            raise SignInRefused(f"the provider's JWKS cannot be read: {error}") from error
        with self._lock:
            self._keys = (time.monotonic(), keyset)
        return keyset

    def start(self, *, redirect_uri: str) -> tuple[str, Pending]:
        """The address to send the browser to, and what to keep until it comes back."""
        pending = Pending(
            provider=self.provider.key,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
        )
        with self._session(redirect_uri) as oauth:
            url, _state = oauth.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
            )
        return url, pending

    def finish(
        self,
        *,
        pending: Pending,
        answer: Mapping[str, str],
        redirect_uri: str,
        now: int,
        leeway: int,
    ) -> Verified:
        """Check the provider's answer against what this browser was given, redeem the code
        and verify the ID token."""
        if not secrets.compare_digest(answer.get("state", ""), pending.state):
            raise SignInRefused("state mismatch")
        if "error" in answer:
            detail = answer.get("error_description") or answer["error"]
            raise SignInRefused(f"the provider refused: {answer['error']}: {detail}"[:300])
        code = answer.get("code")
        if not code:
            raise SignInRefused("no authorization code")
        with self._session(redirect_uri) as oauth:
            try:
                token = oauth.fetch_token(
                    self.metadata()["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                )
            except (OAuthError, requests.RequestException, ValueError) as error:
                raise SignInRefused(f"the token endpoint refused the code: {error}") from error
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("the token response has no ID token")
        return self.verify_id_token(id_token, nonce=pending.nonce, now=now, leeway=leeway)

    def verify_id_token(self, id_token: str, *, nonce: str, now: int, leeway: int) -> Verified:
        try:
            header = extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError) as error:
            raise SignInRefused(f"the ID token is malformed: {error}") from error
        if header.get("alg") not in SIGNING_ALGORITHMS:
            raise SignInRefused(f"ID token algorithm {header.get('alg')!r} is not accepted")
        key = self._key_for(header.get("kid"))
        try:
            token = jwt.decode(id_token, key, algorithms=list(SIGNING_ALGORITHMS))
        except JoseError as error:
            raise SignInRefused(f"bad ID token signature: {error.error}") from error
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=leeway,
            iss={"essential": True, "value": self.provider.issuer},
            aud={"essential": True, "value": self.provider.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise SignInRefused(f"ID token claim check failed: {error.error}: {error}") from error
        for name, wanted in self.provider.required_claims:
            # e.g. Google's `hd`: only accounts of the institution's own domain.
            if claims.get(name) != wanted:
                raise SignInRefused(f"ID token claim {name!r} is not the required value")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.provider.client_id:
            raise SignInRefused("ID token for several audiences without us as azp")
        return Verified(
            issuer=self.provider.issuer,
            subject=str(claims["sub"]),
            email=_claim_text(claims.get(self.provider.email_claim)),
            name=_claim_text(claims.get("name")),
            groups=_claim_list(claims.get(self.provider.groups_claim)),
        )

    def _key_for(self, kid: object) -> Any:
        if not isinstance(kid, str) or not kid:
            raise SignInRefused("the ID token names no signing key (kid)")
        for refresh in (False, True):
            keyset = self.keys(refresh=refresh)
            for key in keyset.keys:
                if key.kid == kid:
                    return key
        raise SignInRefused(f"the ID token's key {kid!r} is not in the provider's JWKS")

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret,
            scope=" ".join(self.provider.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106  (a method name)
            timeout=HTTP_TIMEOUT,
        )


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise SignInRefused(f"cannot fetch {url}: {error}") from error
    if not isinstance(document, dict):
        raise SignInRefused(f"{url} is not a JSON object")
    return document


def _claim_text(value: object) -> str | None:
    return value.strip()[:320] if isinstance(value, str) and value.strip() else None


def _claim_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item)[:200] for item in value if isinstance(item, str | int))
    return ()
