"""Passport tests: the API tests' world (tests/api/scenario.py), a client per person's token,
and the verifier a relying party would write with an independent JOSE library (PyJWT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.api.scenario import Api, World, build_world
from tests.support import People

BASE_URL = "https://governance.example"
JWKS_URL = "/api/v1/passport/jwks.json"
# The only algorithms a relying party accepts from us: pinned, never read from the token.
ALGORITHMS = ["ES256", "RS256"]


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    return {"TESTING": True, "DATABASE_URL": database_url, "BASE_URL": BASE_URL}


@pytest.fixture
def world(app: Flask, db: Session, people: People) -> World:
    return build_world(db, app, people)


@pytest.fixture
def api(app: Flask, world: World) -> Callable[[str], Api]:
    return lambda key: Api(app.test_client(), world.token(key))


def fetch_jwks(client: FlaskClient) -> dict[str, Any]:
    """The key set over HTTP, as a relying party fetches it (no token)."""
    answer = client.get(JWKS_URL)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body: dict[str, Any] = answer.get_json()
    return body


def verify(token: str, jwks: dict[str, Any], *, check_exp: bool = True) -> dict[str, Any]:
    """How a relying party checks one of our visas (docs/standards.md): the key is the JWKS
    entry named by `kid`, the algorithm must be the one that key is published for (and among
    ALGORITHMS), and the issuer, expiry and issue time are required and checked."""
    header = jwt.get_unverified_header(token)
    keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}
    key = keys.get(header.get("kid"))
    if key is None:
        raise jwt.InvalidKeyError(f"no published key {header.get('kid')!r}")
    if header.get("alg") != key.algorithm_name or key.algorithm_name not in ALGORITHMS:
        raise jwt.InvalidAlgorithmError(f"{header.get('alg')!r} is not the key's algorithm")
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[key.algorithm_name],
        issuer=BASE_URL,
        options={"require": ["iss", "sub", "iat", "exp", "jti"], "verify_exp": check_exp},
    )
    return claims
