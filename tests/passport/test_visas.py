"""GA4GH Passport visas, checked the way another research environment checks them: PyJWT (not
joserfc, which signs them) with the key set fetched over HTTP from our JWKS URL."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from governance.access import conditions
from governance.access.models import AccessRequest, Grant
from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.actors import System
from governance.identity.models import User
from governance.kernel.errors import PermissionDenied
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.passport import key_rotation, signing_keys
from governance.passport.models import IssuedVisa
from tests.api.scenario import Api, World
from tests.conftest import Browser, fresh
from tests.passport.conftest import BASE_URL, JWKS_URL, fetch_jwks, verify
from tests.support import PASSWORD

OPERATOR = System("test-operator")


def issue(api: Callable[[str], Api], who: str) -> list[str]:
    answer = api(who).post("/api/v1/passport")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    tokens: list[str] = answer.get_json()["ga4gh_passport_v1"]
    return tokens


def status_of(client: Any, claims: dict[str, Any]) -> Any:
    return client.get(f"/api/v1/passport/visas/{claims['jti']}")


def rotate(app: Flask, now: dt.datetime | None = None) -> signing_keys.Rotation:
    with database(app).session() as session:
        rotation = key_rotation.rotate_key(session, by=OPERATOR, now=now or utcnow())
        session.commit()
    return rotation


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_visa_verifies_with_an_independent_library_and_says_what_the_grant_is(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    before = utcnow().replace(microsecond=0)
    [token] = issue(api, "analyst")
    client = app.test_client()
    claims = verify(token, fetch_jwks(client))
    grant = world.my_grant
    assert jwt.get_unverified_header(token) == {
        "typ": "JWT",
        "alg": "ES256",
        "kid": signing_keys.public_keys(app.config)[0].kid,
        "jku": BASE_URL + JWKS_URL,
    }
    assert claims["iss"] == BASE_URL
    assert claims["sub"] == str(world.people.analyst.id)
    assert claims["exp"] - claims["iat"] == 3600  # PASSPORT_VISA_MINUTES, 60 by default
    assert claims["iat"] >= int(before.timestamp())
    assert "scope" not in claims  # a visa document token, not an access token
    assert claims["ga4gh_visa_v1"] == {
        "type": "ControlledAccessGrants",
        "asserted": int(grant.valid_from.timestamp()),
        "value": f"{BASE_URL}/datasets/{grant.dataset_id}",
        "source": f"{BASE_URL}/agreements/{grant.agreement_id}",
        "by": "so",  # the data steward approved the request
    }
    answer = status_of(client, claims)
    assert answer.status_code == 200
    assert answer.get_json()["state"] == "active"
    # Issued with its audit record: who, which grant, which jti.
    fresh(db)
    [event] = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.PASSPORT_VISA_ISSUE)
    ).all()
    assert event.actor_id == world.people.analyst.id
    assert event.target_id == str(grant.id)
    assert event.detail["jti"] == claims["jti"]
    visa = db.get(IssuedVisa, claims["jti"])
    assert visa is not None
    assert visa.grant_id == grant.id
    assert int(visa.expires_at.timestamp()) == claims["exp"]


def test_the_key_set_is_public_cacheable_and_holds_no_private_key(
    app: Flask, world: World, api: Callable[[str], Api]
) -> None:
    issue(api, "analyst")
    answer = app.test_client().get(JWKS_URL)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert answer.headers["ETag"]
    again = app.test_client().get(JWKS_URL, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304
    [key] = answer.get_json()["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")
    assert key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    assert b"PRIVATE" not in answer.data
    folder = signing_keys.key_dir(app.config)
    assert folder.stat().st_mode & 0o777 == 0o700
    for private in folder.glob("*.private.pem"):
        assert private.stat().st_mode & 0o777 == 0o600
    # Nothing else under the API serves the key folder.
    for path in ("/api/v1/passport/current", f"/api/v1/passport/{key['kid']}.private.pem"):
        assert app.test_client().get(path).status_code in {401, 404, 405}


def test_only_my_own_live_grants_become_visas(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    client = app.test_client()
    jwks = fetch_jwks(client)
    for who in ("analyst", "analyst2", "steward", "admin", "privacy", "compliance"):
        holder = getattr(world.people, who)
        for token in issue(api, who):
            claims = verify(token, jwks)
            assert claims["sub"] == str(holder.id)
            visa = fresh(db).get(IssuedVisa, claims["jti"])
            assert visa is not None
            grant = db.get(Grant, visa.grant_id)
            assert grant is not None
            assert grant.user_id == holder.id
    # The outsider's grant, which the steward's and the privacy officer's lists show, is in
    # nobody's passport but the outsider's.
    fresh(db)
    granted = {v.grant_id for v in db.scalars(select(IssuedVisa))}
    assert world.their_grant.id not in granted
    assert granted == {world.my_grant.id}


def test_a_steward_cannot_mint_a_visa_for_someone_else(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    steward = api("steward")
    analyst_id = world.people.analyst.id
    assert steward.post(f"/api/v1/passport?user_id={analyst_id}").status_code == 422
    assert steward.post("/api/v1/passport", json={"user_id": analyst_id}).status_code in {
        415,
        422,
    }
    assert steward.post("/api/v1/passport").get_json() == {"ga4gh_passport_v1": []}
    assert api("admin").post("/api/v1/passport").get_json() == {"ga4gh_passport_v1": []}
    assert fresh(db).scalars(select(IssuedVisa)).all() == []
    assert app.test_client().post("/api/v1/passport").status_code == 401


def test_after_revocation_the_visa_is_refused_and_no_new_one_is_issued(
    app: Flask, world: World, api: Callable[[str], Api]
) -> None:
    client = app.test_client()
    [token] = issue(api, "analyst")
    claims = verify(token, fetch_jwks(client))
    assert status_of(client, claims).status_code == 200
    revoked = api("steward").post(
        f"/api/v1/grants/{world.my_grant.id}/revoke", json={"reason": "Left the project."}
    )
    assert revoked.status_code == 200
    answer = status_of(client, claims)
    assert answer.status_code == 410
    assert answer.get_json()["state"] == "grant_revoked"
    assert answer.get_json()["active"] is False
    assert issue(api, "analyst") == []


def test_a_revoked_grant_brought_back_with_the_database_alone_does_not_revive_its_visa(
    app: Flask, world: World, api: Callable[[str], Api]
) -> None:
    """A DBA un-revokes the grant by SQL: the status endpoint reads the grant's row, whose
    stored state is now the DBA's; the seal says it was not the service's, so the visa stays
    refused (and no new one is signed)."""
    client = app.test_client()
    [token] = issue(api, "analyst")
    claims = verify(token, fetch_jwks(client))
    revoked = api("steward").post(
        f"/api/v1/grants/{world.my_grant.id}/revoke", json={"reason": "Left the project."}
    )
    assert revoked.status_code == 200
    with database(app).engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE access_grant SET status = 'active', ended_at = NULL, ended_by_id = NULL,"
                " end_reason = '' WHERE id = :id"
            ),
            {"id": world.my_grant.id},
        )
    answer = status_of(client, claims)
    assert answer.status_code == 410
    assert answer.get_json()["state"] == "grant_seal_broken"
    assert issue(api, "analyst") == []


def test_a_visa_never_outlives_its_grant_and_is_refused_once_expired(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    soon = utcnow().replace(microsecond=0) + dt.timedelta(minutes=10)
    grant = fresh(db).get(Grant, world.my_grant.id)
    assert grant is not None
    grant.effective_until = soon
    db.commit()
    client = app.test_client()
    [token] = issue(api, "analyst")
    claims = verify(token, fetch_jwks(client))
    assert claims["exp"] == int(soon.timestamp())
    visa = fresh(db).get(IssuedVisa, claims["jti"])
    assert visa is not None
    visa.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.commit()
    answer = status_of(client, claims)
    assert answer.status_code == 410
    assert answer.get_json()["state"] == "expired"
    # A grant whose end has passed (the expiry job not yet run) gives no visa at all.
    grant = fresh(db).get(Grant, world.my_grant.id)
    assert grant is not None
    grant.effective_until = utcnow() - dt.timedelta(seconds=1)
    db.commit()
    assert issue(api, "analyst") == []


def test_a_paused_grant_gives_no_visa_even_while_its_end_is_ahead(
    db: Session, world: World, api: Callable[[str], Api]
) -> None:
    """A read asks `Grant.works_at`, which admits a paused grant whose effective end is
    ahead; a visa is made only of an active grant."""
    grant = fresh(db).get(Grant, world.my_grant.id)
    assert grant is not None
    grant.effective_until = utcnow() + dt.timedelta(days=1)
    conditions.pause(db, grant, by=OPERATOR, now=utcnow())
    db.commit()
    assert grant.works_at(utcnow())
    assert issue(api, "analyst") == []


def test_a_visa_past_its_exp_is_rejected_by_the_verifier(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    grant = fresh(db).get(Grant, world.my_grant.id)
    assert grant is not None
    ends = utcnow() + dt.timedelta(seconds=2)  # the grant ends in a moment
    grant.effective_until = ends
    db.commit()
    [token] = issue(api, "analyst")
    jwks = fetch_jwks(app.test_client())
    # Signature, issuer and claims checked, expiry not yet: on a loaded machine the two seconds
    # may already have passed here, and the point is what a verifier does after them.
    exp = verify(token, jwks, check_exp=False)["exp"]
    assert exp <= ends.timestamp() + 1  # the visa ends with the grant
    time.sleep(max(0.0, exp - time.time()) + 0.1)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, jwks)


def test_a_committee_decision_is_asserted_by_the_dac(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    request = fresh(db).get(AccessRequest, world.my_request.id)
    assert request is not None
    request.committee_id = 1
    db.commit()
    [token] = issue(api, "analyst")
    assert verify(token, fetch_jwks(app.test_client()))["ga4gh_visa_v1"]["by"] == "dac"


def test_rotation_keeps_old_visas_verifiable_until_they_expire(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    client = app.test_client()
    [old_token] = issue(api, "analyst")
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    rotation = rotate(app)
    assert rotation.old_kid == old_kid
    folder = signing_keys.key_dir(app.config)
    assert not (folder / f"{old_kid}.private.pem").exists()  # it can never sign again
    jwks = fetch_jwks(client)
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, rotation.new_kid}
    verify(old_token, jwks)
    [new_token] = issue(api, "analyst")
    assert jwt.get_unverified_header(new_token)["kid"] == rotation.new_kid
    verify(new_token, jwks)
    # While the old visa may still be presented, the old key is not dropped...
    with database(app).session() as session:
        assert key_rotation.drop_retired_keys(session, OPERATOR, utcnow()) == 0
        session.commit()
    # ...and once every visa it signed has expired it leaves the set, and is deleted.
    later = utcnow() + dt.timedelta(days=2)
    with database(app).session() as session:
        assert signing_keys.droppable_keys(session, app.config, later) == [old_kid]
        assert key_rotation.drop_retired_keys(session, OPERATOR, later) == 1
        session.commit()
    jwks = fetch_jwks(client)
    assert [k["kid"] for k in jwks["keys"]] == [rotation.new_kid]
    with pytest.raises(jwt.InvalidKeyError):
        verify(old_token, jwks)
    fresh(db)
    dropped = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.KEY_DISCARD)
    ).one()
    assert dropped.target_id == old_kid


def test_rotation_can_move_to_rs256_and_only_the_operator_rotates(
    app: Flask, db: Session, world: World, api: Callable[[str], Api]
) -> None:
    database(app).info["settings"]["PASSPORT_KEY_ALGORITHM"] = "RS256"
    rotation = rotate(app)
    assert rotation.algorithm == "RS256"
    [token] = issue(api, "analyst")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert verify(token, fetch_jwks(app.test_client()))["sub"] == str(world.people.analyst.id)
    with database(app).session() as session, pytest.raises(PermissionDenied):
        key_rotation.rotate_key(session, by=world.people.admin, now=utcnow())


def test_forged_visas_are_rejected_by_the_verifier(
    app: Flask, world: World, api: Callable[[str], Api]
) -> None:
    [token] = issue(api, "analyst")
    jwks = fetch_jwks(app.test_client())
    claims = verify(token, jwks)
    header = jwt.get_unverified_header(token)
    signed_part, _, signature = token.rpartition(".")
    # alg "none": no signature at all.
    unsigned = f"{b64({**header, 'alg': 'none'})}.{b64({**claims, 'sub': 'attacker'})}."
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(unsigned, jwks)
    # HS256 with our public key as the HMAC secret (the classic key-confusion attack).
    public_pem = (
        jwt.PyJWK(jwks["keys"][0])
        .key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    confused_head = f"{b64({**header, 'alg': 'HS256'})}.{b64({**claims, 'sub': 'attacker'})}"
    mac = hmac.new(public_pem.encode(), confused_head.encode(), hashlib.sha256).digest()
    confused = f"{confused_head}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(confused, jwks)
    # A tampered payload under the real signature.
    payload = json.loads(base64.urlsafe_b64decode(signed_part.split(".")[1] + "=="))
    payload["ga4gh_visa_v1"]["value"] = f"{BASE_URL}/datasets/999"
    tampered = f"{signed_part.split('.')[0]}.{b64(payload)}.{signature}"
    with pytest.raises(jwt.InvalidSignatureError):
        verify(tampered, jwks)
    # A visa of ours with its kid swapped for a key we never published.
    stranger = f"{b64({**header, 'kid': 'x' * 43})}.{signed_part.split('.')[1]}.{signature}"
    with pytest.raises(jwt.InvalidKeyError):
        verify(stranger, jwks)


def test_an_unknown_visa_is_not_found(app: Flask, world: World) -> None:
    answer = app.test_client().get("/api/v1/passport/visas/9b2f7c7e-3a3e-4b8e-9a53-0c0ffee00000")
    assert answer.status_code == 404
    assert app.test_client().get("/api/v1/passport/visas/not-a-jti").status_code == 404


def test_the_grants_page_downloads_my_passport(
    app: Flask, db: Session, world: World, browser: Browser
) -> None:
    browser.login(world.people.analyst.email, PASSWORD)
    page = browser.get("/access/grants").get_data(as_text=True)
    assert "Download my GA4GH passport" in page
    answer = browser.post("/passport/download")
    assert answer.status_code == 200
    assert "ga4gh-passport.json" in answer.headers["Content-Disposition"]
    [token] = json.loads(answer.data)["ga4gh_passport_v1"]
    claims = verify(token, fetch_jwks(app.test_client()))
    assert claims["sub"] == str(world.people.analyst.id)
    # Without the form's CSRF token nothing is issued.
    assert browser.client.post("/passport/download").status_code == 400


def test_nothing_is_issued_when_the_audit_record_fails(
    app: Flask, db: Session, world: World, api: Callable[[str], Api], monkeypatch: Any
) -> None:
    from governance.audit import service as audit_service

    def failing(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("the audit trail is unavailable")

    monkeypatch.setattr(audit_service, "record", failing)
    with pytest.raises(RuntimeError):
        api("analyst").post("/api/v1/passport")
    assert fresh(db).scalars(select(IssuedVisa)).all() == []


def test_the_operator_rotates_lists_and_drops_keys_from_the_command_line(
    app: Flask, world: World, api: Callable[[str], Api], monkeypatch: Any
) -> None:
    from click.testing import CliRunner

    from governance.cli import main
    from governance.passport import cli as passport_cli

    monkeypatch.setattr(passport_cli, "build_app", lambda: app)
    [token] = issue(api, "analyst")
    old_kid = jwt.get_unverified_header(token)["kid"]
    runner = CliRunner()
    rotated = runner.invoke(main, ["passport", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    assert f"{old_kid} is retired" in rotated.output
    listed = runner.invoke(main, ["passport", "keys"])
    assert listed.exit_code == 0, listed.output
    assert old_kid in listed.output
    assert "PRIVATE" not in listed.output
    dropped = runner.invoke(main, ["passport", "drop-keys"])
    assert dropped.exit_code == 0, dropped.output
    assert "0 retired" in dropped.output  # the analyst's visa still needs the old key


def test_a_deactivated_holders_visa_is_refused_at_once(
    app: Flask, world: World, api: Callable[[str], Api]
) -> None:
    """An administrator deactivates an analyst after an incident: their grants are kept (for
    a reactivation), but a relying party that asks about a visa they took earlier is told at
    once that it no longer holds, as for their API tokens."""
    client = app.test_client()
    [token] = issue(api, "analyst")
    claims = verify(token, fetch_jwks(client))
    assert status_of(client, claims).status_code == 200
    with database(app).session() as session:
        admin = session.get(User, world.people.admin.id)
        assert admin is not None
        users.set_active(session, user_id=world.people.analyst.id, active=False, by=admin)
        session.commit()
    answer = status_of(client, claims)
    assert answer.status_code == 410
    assert answer.get_json()["state"] == "holder_deactivated"
    assert answer.get_json()["active"] is False
