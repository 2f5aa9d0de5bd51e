"""A real OpenID Connect provider for the tests: `oidc-provider` (node) on a free port.

`tests/identity/oidc/provider.js` is the whole provider; this module writes its configuration
(signing keys, clients, users), starts it, restarts it with other keys (rotation, a forged
signer), and signs a person in at it as a browser would, returning the address the provider
sends the browser back to.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from joserfc.jwk import RSAKey

from tests.workers import exclusive, free_port

HERE = Path(__file__).parent / "oidc"
NODE_SKIP = (
    "OpenID Connect tests skipped: node and npm are not installed (they start the real "
    "provider, the npm package oidc-provider; apt-get install nodejs npm, node >= 20.19)."
)
CLIENT_ID = "governance"
CLIENT_SECRET = "governance-test-client-secret"
OTHER_CLIENT_ID = "another-service"
PASSWORD = "provider-password"

USERS: dict[str, dict[str, Any]] = {
    "alice": {
        "password": PASSWORD,
        "email": "alice@university.example",
        "name": "Alice Archer",
        "groups": ["research-staff"],
    },
    "gerry": {
        "password": PASSWORD,
        "email": "gerry@university.example",
        "name": "Gerry Group",
        "groups": ["a-group-nobody-mapped"],
    },
    "leaver": {
        "password": PASSWORD,
        "email": "leaver@university.example",
        "name": "Lee Leaver",
        "groups": ["research-staff"],
        "active": False,
    },
    "steward": {
        "password": PASSWORD,
        "email": "steward@test.example",
        "name": "Someone claiming the steward's e-mail",
        "groups": [],
    },
}


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install_packages() -> None:
    """`npm ci` from the committed lock, once per checkout (xdist's workers take turns: the
    first installs, the others find it done)."""
    with exclusive(HERE / "node_modules.lock"):
        if not (HERE / "node_modules" / "oidc-provider").exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=HERE,
                check=True,
            )


def signing_key(kid: str) -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return key.as_dict(private=True)


class TestProvider:
    """One provider process; `restart` keeps its address (the relying party's settings)."""

    __test__ = False

    def __init__(
        self,
        workdir: Path,
        redirect_uris: list[str],
        port: int | None = None,
        users: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.workdir = workdir
        # The provider's people; change a person's groups here, then `restart`.
        self.users = copy.deepcopy(USERS if users is None else users)
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.redirect_uris = redirect_uris
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "oidc-provider.log"

    def start(self, *, keys: list[dict[str, Any]], id_token_ttl: int = 600) -> None:
        clients = [
            {
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uris": self.redirect_uris,
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            }
            for client_id, secret in (
                (CLIENT_ID, CLIENT_SECRET),
                (OTHER_CLIENT_ID, "another-service-secret"),
            )
        ]
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "jwks": {"keys": keys},
            "clients": clients,
            "users": self.users,
            "id_token_ttl": id_token_ttl,
        }
        config_file = self.workdir / "oidc-provider.json"
        config_file.write_text(json.dumps(config))
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                ["node", str(HERE / "provider.js"), str(config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Generous, as LiveServer's: node starting beside other workers' servers and browsers
        # may take many seconds to listen and to answer its first request; a healthy start
        # returns at once.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {self.log.read_text()[-3000:]}")
            try:
                requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
                return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        raise RuntimeError(f"oidc-provider did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, *, keys: list[dict[str, Any]], id_token_ttl: int = 600) -> None:
        self.stop()
        self.start(keys=keys, id_token_ttl=id_token_ttl)

    def sign_in(self, authorize_url: str, login: str, password: str = PASSWORD) -> str:
        """Sign in at the provider as a browser would; the address it sends the browser back
        to (the relying party's callback, with `code` and `state`, or with an `error`)."""
        browser = requests.Session()
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        for _ in range(12):
            if response.status_code in (302, 303):
                location = urljoin(response.url, response.headers["Location"])
                if not location.startswith(self.issuer):
                    return location
                response = browser.get(location, allow_redirects=False, timeout=10)
            elif response.status_code == 200 and "/interaction/" in response.url:
                action = re.search(r'action="([^"]+)"', response.text)
                assert action, response.text
                response = browser.post(
                    urljoin(response.url, action.group(1)),
                    data={"login": login, "password": password},
                    allow_redirects=False,
                    timeout=10,
                )
            else:
                raise AssertionError(f"{response.status_code} at {response.url}: {response.text}")
        raise AssertionError("the provider kept redirecting")


def providers_file(path: Path, provider: TestProvider, *, allow_jit: bool = True) -> Path:
    """The relying party's instance/identity_providers.toml for this provider."""
    secret = path.parent / "testidp.secret"
    secret.write_text(CLIENT_SECRET)
    path.write_text(
        "[providers.testidp]\n"
        'display_name = "Test University"\n'
        f'issuer = "{provider.issuer}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret_file = "{secret}"\n'
        'scopes = ["openid", "email", "profile", "groups"]\n'
        f"allow_jit = {'true' if allow_jit else 'false'}\n"
        'organization = "Test Lab"\n'
    )
    return path
