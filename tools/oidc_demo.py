"""`make oidc-demo`: a local OpenID Connect provider to sign in to `make run` with.

Starts the tests' real provider (tests/identity/oidc/provider.js, the npm package
oidc-provider) on http://127.0.0.1:9400 with one client for http://127.0.0.1:5000 and three
people (password `provider-password`): alice (research staff), gerry (a group nobody mapped)
and leaver (deactivated at the provider). It writes instance/identity_providers.toml (when
absent) naming it, so the login page of `make run` shows "Sign in with Demo University".
Ctrl-C stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.identity import oidc_provider as idp  # noqa: E402

PORT = int(os.environ.get("OIDC_DEMO_PORT", "9400"))
APP = os.environ.get("GOVERNANCE_BASE_URL", "http://127.0.0.1:5000")
ORGANIZATION = "Riverside Crime Lab"  # the demo world's research lab (governance/demo)


def main() -> None:
    if not idp.node_available():
        sys.exit(idp.NODE_SKIP)
    idp.install_packages()
    instance = Path(os.environ.get("GOVERNANCE_INSTANCE_PATH", ROOT / "instance"))
    instance.mkdir(mode=0o700, exist_ok=True)
    issuer = f"http://127.0.0.1:{PORT}"
    secret = instance / "demo_oidc_client.secret"
    secret.write_text(idp.CLIENT_SECRET)
    secret.chmod(0o600)
    providers = instance / "identity_providers.toml"
    if not providers.exists():
        providers.write_text(
            "[providers.demo]\n"
            'display_name = "Demo University"\n'
            f'issuer = "{issuer}"\n'
            f'client_id = "{idp.CLIENT_ID}"\n'
            f'client_secret_file = "{secret}"\n'
            'scopes = ["openid", "email", "profile", "groups"]\n'
            "allow_jit = true\n"
            f'organization = "{ORGANIZATION}"\n'
        )
        providers.chmod(0o600)
        print(f"wrote {providers}; restart `make run` to show the provider's button")
    config = instance / "demo_oidc_provider.json"
    config.write_text(
        json.dumps(
            {
                "issuer": issuer,
                "port": PORT,
                "jwks": {"keys": [idp.signing_key("demo-key")]},
                "clients": [
                    {
                        "client_id": idp.CLIENT_ID,
                        "client_secret": idp.CLIENT_SECRET,
                        "redirect_uris": [f"{APP}/login/oidc/demo/callback"],
                        "grant_types": ["authorization_code"],
                        "response_types": ["code"],
                    }
                ],
                "users": {k: v for k, v in idp.USERS.items() if k != "steward"},
            }
        )
    )
    config.chmod(0o600)
    print(f"Demo provider at {issuer}; sign in as alice / {idp.PASSWORD}. Ctrl-C stops it.")
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(["node", str(idp.HERE / "provider.js"), str(config)], check=False)  # noqa: S603, S607


if __name__ == "__main__":
    main()
