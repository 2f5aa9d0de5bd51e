"""SAML 2.0 sign-in as a service provider (pysaml2, which checks signatures with xmlsec1).

Each configured IdP gets a service provider of its own, entity id and metadata at
/saml/<key>/metadata (a stable address to give the IdP or the federation). The browser goes to
the IdP with an AuthnRequest (HTTP-Redirect) and comes back with a Response (HTTP-POST) that
pysaml2 checks: the assertion must be signed by a key in the IdP's metadata, name this service
provider as its audience, be addressed to this ACS (recipient), answer the request this browser
made (InResponseTo; unsolicited responses are refused) and be inside its NotBefore /
NotOnOrAfter window. On top of that, each assertion id is kept until it expires and refused if
it comes again (replay).
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.identity.oidc import SignInRefused, Verified
from governance.identity.providers import SamlProvider
from governance.identity.sso_model import SeenAssertion

if TYPE_CHECKING:
    # pysaml2 (and its XML schema stack) is imported by the first SAML sign-in, not with the
    # service: about a second and 60 MB that most processes never use.
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

XMLSEC = "xmlsec1"


class SamlServiceProvider:
    def __init__(self, provider: SamlProvider, *, base_url: str, skew_seconds: int) -> None:
        self.provider = provider
        self.entity_id = f"{base_url}/saml/{provider.key}/metadata"
        self.acs_url = f"{base_url}/saml/{provider.key}/acs"
        self.skew_seconds = skew_seconds
        self._client: Saml2Client | None = None

    def config(self) -> SPConfig:
        from saml2 import BINDING_HTTP_POST
        from saml2.config import SPConfig
        from saml2.saml import NAMEID_FORMAT_PERSISTENT

        xmlsec = shutil.which(XMLSEC)
        if xmlsec is None:
            raise SignInRefused("xmlsec1 is not installed, so SAML signatures cannot be checked")
        metadata: dict[str, Any] = (
            {"local": [self.provider.idp_metadata_file]}
            if self.provider.idp_metadata_file
            else {"remote": [_remote(self.provider)]}
        )
        settings = {
            "entityid": self.entity_id,
            "xmlsec_binary": xmlsec,
            "metadata": metadata,
            "accepted_time_diff": self.skew_seconds,
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "name": "Data governance",
                    "endpoints": {
                        "assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]
                    },
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "allow_unsolicited": False,
                    "authn_requests_signed": False,
                    "name_id_format": NAMEID_FORMAT_PERSISTENT,
                }
            },
        }
        config = SPConfig()
        config.load(settings)
        return config

    def client(self) -> Saml2Client:
        from saml2.client import Saml2Client

        if self._client is None:
            self._client = Saml2Client(config=self.config())
        return self._client

    def metadata(self) -> str:
        from saml2.metadata import create_metadata_string

        return create_metadata_string(None, config=self.config(), valid=48).decode()  # type: ignore[no-any-return]

    def start(self) -> tuple[str, str]:
        """The IdP address to send the browser to, and the request's id to keep."""
        from saml2 import BINDING_HTTP_REDIRECT

        request_id, info = self.client().prepare_for_authenticate(
            entityid=self.provider.idp_entity_id, binding=BINDING_HTTP_REDIRECT
        )
        location = dict(info["headers"])["Location"]
        return str(location), str(request_id)

    def finish(
        self, session: Session, *, saml_response: str, request_id: str | None, now: dt.datetime
    ) -> Verified:
        """Check the IdP's response against the request this browser made; record its
        assertion so that it is never accepted twice."""
        from saml2 import BINDING_HTTP_POST

        if not request_id:
            raise SignInRefused("no SAML sign-in was started in this browser (unsolicited)")
        try:
            base64.b64decode(saml_response, validate=True)
            response = self.client().parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
            )
        # pysaml2 reports a refused response with many exception classes of its own (and
        # some of Python's), all of which mean the same here: no sign-in.
        except Exception as error:
            raise SignInRefused(
                f"SAML response refused: {type(error).__name__}: {error}"[:300]
            ) from None
        if response is None or response.assertion is None:
            raise SignInRefused("SAML response refused: no valid assertion")
        assertion = response.assertion
        issuer = str(response.issuer())
        if issuer != self.provider.idp_entity_id:
            raise SignInRefused(f"SAML response from {issuer!r}, not the configured IdP")
        self._remember(session, issuer=issuer, assertion=assertion, now=now)
        subject = response.get_subject()
        attributes: dict[str, list[str]] = response.ava or {}
        email = attributes.get(self.provider.email_attribute) or []
        names = attributes.get("displayName") or attributes.get("cn") or []
        return Verified(
            issuer=issuer,
            subject=str(subject.text).strip(),
            email=str(email[0]) if email else None,
            name=str(names[0]) if names else None,
            groups=tuple(str(g) for g in attributes.get(self.provider.groups_attribute, [])),
        )

    def _remember(self, session: Session, *, issuer: str, assertion: Any, now: dt.datetime) -> None:
        session.execute(delete(SeenAssertion).where(SeenAssertion.expires_at < now))
        seen = session.scalars(
            select(SeenAssertion).where(
                SeenAssertion.issuer == issuer, SeenAssertion.assertion_id == str(assertion.id)
            )
        ).first()
        if seen is not None:
            raise SignInRefused("replayed SAML assertion (its id was seen before)")
        session.add(
            SeenAssertion(
                issuer=issuer,
                assertion_id=str(assertion.id)[:200],
                expires_at=_expiry(assertion, now),
            )
        )
        session.flush()


def _remote(provider: SamlProvider) -> dict[str, str]:
    source = {"url": str(provider.idp_metadata_url)}
    if provider.idp_metadata_signing_cert:
        source["cert"] = provider.idp_metadata_signing_cert
    return source


def _expiry(assertion: Any, now: dt.datetime) -> dt.datetime:
    """When the assertion stops being acceptable (the latest NotOnOrAfter it carries)."""
    moments = []
    conditions = getattr(assertion, "conditions", None)
    if conditions is not None and conditions.not_on_or_after:
        moments.append(conditions.not_on_or_after)
    subject = getattr(assertion, "subject", None)
    for confirmation in getattr(subject, "subject_confirmation", None) or []:
        data = confirmation.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            moments.append(data.not_on_or_after)
    parsed = [dt.datetime.fromisoformat(m.replace("Z", "+00:00")) for m in moments]
    return max(parsed, default=now + dt.timedelta(hours=1)) + dt.timedelta(minutes=5)
