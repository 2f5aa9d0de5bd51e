"""The single sign-on providers people may sign in with, read from one TOML file in instance/.

```toml
[providers.university]                 # the key appears in addresses: /login/oidc/university
display_name = "University of Example" # the button on the login page
issuer = "https://login.example.edu"   # discovery at <issuer>/.well-known/openid-configuration
client_id = "governance"
client_secret_env = "UNIVERSITY_OIDC_SECRET"   # or client_secret_file = "/run/secrets/..."
email_claim = "email"                  # which ID token claim holds the e-mail (default email)
groups_claim = "groups"                # which claim lists the person's groups (default groups)
allow_jit = true                       # first sign-in creates the account (without roles)
organization = "Research Lab"          # ... in this organisation (needed with allow_jit)
scopes = ["openid", "email", "profile"]
required_claims = { hd = "example.edu" }  # claims the ID token must carry with these values
```

SAML 2.0 identity providers (a university's IdP, or one from a federation's metadata) sit in
`[saml.<key>]` tables; the service is then a SAML service provider whose metadata is published
at /saml/<key>/metadata:

```toml
[saml.campus]
display_name = "Example University (SAML)"
idp_entity_id = "https://idp.example.edu/idp/shibboleth"
idp_metadata_file = "/etc/governance/campus-idp.xml"    # or idp_metadata_url = "https://..."
email_attribute = "mail"               # attribute (friendly name) holding the e-mail
groups_attribute = "eduPersonEntitlement"
allow_jit = false
```

The secret never sits in the file itself: an environment variable or a file of its own (mode
0600, e.g. a container secret). A mistake in the file stops start-up with a message naming it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.kernel.config import ConfigError

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
# The key is also the source of the provider's group mappings (groups.py), where SCIM has its own.
RESERVED_KEY = "scim"
DEFAULT_SCOPES = ("openid", "email", "profile")
KNOWN_FIELDS = {
    "display_name",
    "issuer",
    "client_id",
    "client_secret_env",
    "client_secret_file",
    "email_claim",
    "groups_claim",
    "allow_jit",
    "organization",
    "scopes",
    "required_claims",
}

SAML_FIELDS = {
    "display_name",
    "idp_entity_id",
    "idp_metadata_file",
    "idp_metadata_url",
    "email_attribute",
    "groups_attribute",
    "allow_jit",
    "organization",
    "idp_metadata_signing_cert",
}


@dataclass(frozen=True)
class OidcProvider:
    key: str
    display_name: str
    issuer: str
    client_id: str
    client_secret: str
    email_claim: str
    groups_claim: str
    allow_jit: bool
    organization: str | None
    scopes: tuple[str, ...]
    required_claims: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:  # the secret stays out of logs and error pages
        return f"<OidcProvider {self.key} {self.issuer}>"


@dataclass(frozen=True)
class SamlProvider:
    key: str
    display_name: str
    idp_entity_id: str
    idp_metadata_file: str | None
    idp_metadata_url: str | None
    email_attribute: str
    groups_attribute: str
    allow_jit: bool
    organization: str | None
    # The certificate that signs the metadata at idp_metadata_url (a federation's aggregate or
    # MDQ service): metadata whose signature does not verify is not used.
    idp_metadata_signing_cert: str | None = None


@dataclass(frozen=True)
class Providers:
    oidc: dict[str, OidcProvider]
    saml: dict[str, SamlProvider]


def load_providers(path: Path) -> Providers:
    """The providers the file declares, by key; no file means no single sign-on."""
    if not path.exists():
        return Providers(oidc={}, saml={})
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the identity providers: {error}") from error
    oidc = {key: _provider(path, key, entry) for key, entry in _tables(path, document, "providers")}
    saml = {key: _saml(path, key, entry) for key, entry in _tables(path, document, "saml")}
    shared = set(oidc) & set(saml)
    if shared:
        raise ConfigError(f"{path}: provider keys used twice: {', '.join(sorted(shared))}")
    return Providers(oidc=oidc, saml=saml)


def _tables(path: Path, document: dict[str, Any], name: str) -> list[tuple[str, dict[str, Any]]]:
    tables = document.get(name, {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: [{name}] must be a table of providers")
    checked = []
    for key, entry in tables.items():
        where = f"{path}: provider {key!r}"
        if not KEY.match(key):
            raise ConfigError(f"{where}: the key must be lower-case letters, digits, - or _")
        if key == RESERVED_KEY:
            raise ConfigError(f"{where}: {RESERVED_KEY!r} names the SCIM source of group mappings")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table")
        checked.append((key, entry))
    return checked


def _saml(path: Path, key: str, entry: dict[str, Any]) -> SamlProvider:
    where = f"{path}: SAML provider {key!r}"
    unknown = set(entry) - SAML_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    metadata_file = entry.get("idp_metadata_file")
    metadata_url = entry.get("idp_metadata_url")
    if (metadata_file is None) == (metadata_url is None):
        raise ConfigError(f"{where}: give one of idp_metadata_file or idp_metadata_url")
    if metadata_file is not None and not Path(str(metadata_file)).exists():
        raise ConfigError(f"{where}: idp_metadata_file {metadata_file} does not exist")
    if metadata_url is not None and not str(metadata_url).startswith("https://"):
        raise ConfigError(f"{where}: idp_metadata_url must be an https:// address")
    allow_jit, organization = _provisioning(entry, where)
    return SamlProvider(
        key=key,
        display_name=_text(entry, "display_name", where),
        idp_entity_id=_text(entry, "idp_entity_id", where),
        idp_metadata_file=str(metadata_file) if metadata_file is not None else None,
        idp_metadata_url=str(metadata_url) if metadata_url is not None else None,
        email_attribute=str(entry.get("email_attribute", "mail")),
        groups_attribute=str(entry.get("groups_attribute", "eduPersonEntitlement")),
        allow_jit=allow_jit,
        organization=organization,
        idp_metadata_signing_cert=_optional_file(entry, "idp_metadata_signing_cert", where),
    )


def _optional_file(entry: dict[str, Any], name: str, where: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not Path(str(value)).exists():
        raise ConfigError(f"{where}: {name} {value} does not exist")
    return str(value)


def _provisioning(entry: dict[str, Any], where: str) -> tuple[bool, str | None]:
    allow_jit = entry.get("allow_jit", False)
    if not isinstance(allow_jit, bool):
        raise ConfigError(f"{where}: allow_jit must be true or false")
    organization = entry.get("organization")
    if allow_jit and not isinstance(organization, str):
        raise ConfigError(f"{where}: allow_jit needs the organisation new accounts belong to")
    return allow_jit, organization if isinstance(organization, str) else None


def _provider(path: Path, key: str, entry: dict[str, Any]) -> OidcProvider:
    where = f"{path}: provider {key!r}"
    unknown = set(entry) - KNOWN_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    issuer = _text(entry, "issuer", where)
    if not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ConfigError(f"{where}: the issuer must be an https:// address")
    allow_jit, organization = _provisioning(entry, where)
    scopes = entry.get("scopes", list(DEFAULT_SCOPES))
    if not isinstance(scopes, list) or "openid" not in scopes:
        raise ConfigError(f"{where}: scopes must be a list that includes openid")
    return OidcProvider(
        key=key,
        display_name=_text(entry, "display_name", where),
        issuer=issuer.rstrip("/"),
        client_id=_text(entry, "client_id", where),
        client_secret=_secret(entry, where),
        email_claim=str(entry.get("email_claim", "email")),
        groups_claim=str(entry.get("groups_claim", "groups")),
        allow_jit=allow_jit,
        organization=organization,
        scopes=tuple(str(scope) for scope in scopes),
        required_claims=_required_claims(entry, where),
    )


def _required_claims(entry: dict[str, Any], where: str) -> tuple[tuple[str, Any], ...]:
    required = entry.get("required_claims", {})
    if not isinstance(required, dict):
        raise ConfigError(f"{where}: required_claims must be a table of claim = value")
    return tuple(sorted(required.items()))


def _text(entry: dict[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {name} is required")
    return value.strip()


def _secret(entry: dict[str, Any], where: str) -> str:
    if "client_secret_env" in entry:
        name = str(entry["client_secret_env"])
        secret = os.environ.get(name, "")
        if not secret:
            raise ConfigError(f"{where}: the environment variable {name} is not set")
        return secret
    if "client_secret_file" in entry:
        try:
            secret = Path(str(entry["client_secret_file"])).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"{where}: cannot read client_secret_file: {error}") from error
        if not secret:
            raise ConfigError(f"{where}: client_secret_file is empty")
        return secret
    raise ConfigError(f"{where}: give client_secret_env or client_secret_file")
