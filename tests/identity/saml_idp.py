"""A real SAML 2.0 identity provider for the tests: pysaml2's own IdP (`saml2.server.Server`),
signing with a key made for the test run."""

from __future__ import annotations

import base64
import datetime as dt
import html
import shutil
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

IDP_ENTITY_ID = "https://idp.university.example/idp"
XMLSEC_SKIP = (
    "SAML tests skipped: the xmlsec1 binary is not installed (pysaml2 checks signatures with "
    "it; apt-get install xmlsec1, which .ci/run does)."
)
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def xmlsec_available() -> bool:
    return shutil.which("xmlsec1") is not None


def key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class TestIdP:
    __test__ = False

    def __init__(self, folder: Path, name: str = "idp", sso_url: str | None = None) -> None:
        self.folder = folder
        self.sso_url = sso_url or f"{IDP_ENTITY_ID}/sso"
        self.key_file, self.cert_file = key_pair(folder, name)
        self.name = name

    def _config(
        self, sp_metadata: Path | None, lifetime: dict[str, int] | None = None
    ) -> IdPConfig:
        settings: dict[str, Any] = {
            "entityid": IDP_ENTITY_ID,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]
                    },
                    "policy": {"default": {"lifetime": lifetime or {"minutes": 15}}},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
        }
        if sp_metadata is not None:
            settings["metadata"] = {"local": [str(sp_metadata)]}
        config = IdPConfig()
        config.load(settings)
        return config

    def write_metadata(self) -> Path:
        """The IdP's metadata (its signing certificate) for the service provider's settings."""
        path = self.folder / f"{self.name}-metadata.xml"
        path.write_bytes(create_metadata_string(None, config=self._config(None), valid=48))
        return path

    def answer(
        self,
        sp_metadata: str,
        authn_request_url: str,
        *,
        subject: str,
        attributes: dict[str, list[str]],
        audience: str | None = None,
        sign: bool = True,
        lifetime: dict[str, int] | None = None,
    ) -> str:
        """The base64 SAMLResponse the IdP would post back for this AuthnRequest."""
        metadata = self.folder / "sp-metadata.xml"
        metadata.write_text(sp_metadata)
        server = Server(config=self._config(metadata, lifetime))
        query = parse_qs(urlsplit(authn_request_url).query)
        request = server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        sp_entity_id = request.message.issuer.text
        acs = request.message.assertion_consumer_service_url
        self.last_acs = acs
        response = server.create_authn_response(
            identity=attributes,
            in_response_to=request.message.id,
            destination=acs,
            sp_entity_id=audience or sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
            authn={"class_ref": PASSWORD_CLASS},
            sign_assertion=sign,
            sign_response=False,
        )
        return base64.b64encode(str(response).encode()).decode()


class IdPSite:
    """The IdP's sign-in page over HTTP, for the browser: it answers the AuthnRequest with a
    form that posts the signed response to the service provider's ACS when the person presses
    Continue (a real IdP asks for a password first; this one has signed `subject` in)."""

    def __init__(
        self,
        idp: TestIdP,
        sp_metadata: Callable[[], str],
        *,
        port: int,
        subject: str,
        attributes: Any,
    ) -> None:
        self.idp, self.sp_metadata = idp, sp_metadata
        self.subject, self.attributes = subject, attributes
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith("/sso?"):  # the browser's favicon, say
                    self.send_response(204)
                    self.end_headers()
                    return
                response = site.idp.answer(
                    site.sp_metadata(),
                    f"http://127.0.0.1{self.path}",
                    subject=site.subject,
                    attributes=site.attributes,
                )
                page = (
                    "<!doctype html><html lang=en><head><title>Test IdP</title></head><body>"
                    "<h1>Test SAML IdP</h1>"
                    f'<form method="post" action="{html.escape(str(site.idp.last_acs))}">'
                    f'<input type="hidden" name="SAMLResponse" value="{response}">'
                    '<button type="submit">Continue</button></form></body></html>'
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.encode())

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
