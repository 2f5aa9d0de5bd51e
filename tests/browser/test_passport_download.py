"""The GA4GH passport in a real browser, with the keyboard: an analyst downloads their
passport from the grants page, and a relying party checks the visa in it with PyJWT against
the key set it fetches over real HTTP from the running server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy.orm import Session

from governance.access import requests
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.browser.keyboard import log_in, tab_to
from tests.browser.test_journeys import world  # noqa: F401  (the fixture)
from tests.live import LiveServer, free_port
from tests.support import PASSWORD, People


@pytest.fixture
def own_address_server(
    app: Any, database_url: str, instance_path: Path, tmp_path: Path
) -> Iterator[LiveServer]:
    """A server whose BASE_URL is its own address, so the visas' `iss` and `jku` name it."""
    port = free_port()
    server = LiveServer(
        database_url,
        instance_path,
        tmp_path / "server.log",
        port=port,
        env={"GOVERNANCE_BASE_URL": f"http://127.0.0.1:{port}"},
    )
    yield server
    server.stop()


def test_an_analyst_downloads_a_passport_another_environment_can_verify(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811  (the fixture imported above)
    own_address_server: LiveServer,
    new_page: Any,
    tmp_path: Path,
) -> None:
    agreement = approved(db, people, world)
    request = ask(db, people, agreement, world)
    requests.steward_approve(
        db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()
    base = own_address_server.url

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(f"{base}/access/grants")
    tab_to(analyst, "form[action='/passport/download'] button")
    with analyst.expect_download() as download:
        analyst.keyboard.press("Enter")
    saved = tmp_path / "passport.json"
    download.value.save_as(saved)
    [visa] = json.loads(saved.read_text())["ga4gh_passport_v1"]

    header = jwt.get_unverified_header(visa)
    assert header["jku"] == f"{base}/api/v1/passport/jwks.json"
    # The relying party's own configured URL, not the token's word for it.
    keys = jwt.PyJWKClient(f"{base}/api/v1/passport/jwks.json", cache_keys=False)
    key = keys.get_signing_key(header["kid"])
    claims = jwt.decode(
        visa,
        key.key,
        algorithms=[key.algorithm_name],
        issuer=base,
        options={"require": ["iss", "sub", "iat", "exp", "jti"]},
    )
    assert claims["sub"] == str(people.analyst.id)
    assert claims["ga4gh_visa_v1"]["type"] == "ControlledAccessGrants"
    assert claims["ga4gh_visa_v1"]["value"] == f"{base}/datasets/{request.dataset_id}"
