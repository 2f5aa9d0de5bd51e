"""SCIM 2.0 provisioning: users and groups, filters, PATCH, ETags, pagination, tokens, and a
leaver's deactivation that stops a live session and an API token on the very next request."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.authz import Role
from governance.authz.decision import decide
from governance.identity import groups, scim_tokens, tokens, users
from governance.identity.actors import System
from governance.identity.models import User
from governance.identity.scim_model import ScimToken
from governance.kernel.types import utcnow
from tests.access.conftest import datasets  # noqa: F401  (the fixture)
from tests.access.test_conditions_at_every_read import reading
from tests.access.test_obligations_at_every_read import with_grant
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.identity.conftest import login_from
from tests.support import PASSWORD, People

OPERATOR = System("test")
SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Scim:
    """A SCIM client holding a bearer token."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}", "Content-Type": SCIM}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.open(
            f"/scim/v2{path}", method=method, json=body, headers={**self.headers, **headers}
        )


def issue(db: Session, people: People) -> tuple[ScimToken, str]:
    token, secret = scim_tokens.issue_token(
        db, name="Entra ID", days=30, by=people.admin, now=utcnow()
    )
    db.commit()
    return token, secret


@pytest.fixture
def scim(app: Flask, db: Session, people: People) -> Scim:
    return Scim(app.test_client(), issue(db, people)[1])


def new_user(scim: Scim, name: str = "jdoe", **extra: Any) -> dict[str, Any]:
    made = scim.call(
        "POST",
        "/Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": name,
            "displayName": "Jane Doe",
            "emails": [{"value": f"{name}@univ.example", "primary": True}],
            "externalId": f"ext-{name}",
            **extra,
        },
    )
    assert made.status_code == 201, made.get_json()
    body: dict[str, Any] = made.get_json()
    return body


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


def test_a_user_is_provisioned_without_roles_or_password_and_found_by_filters(
    db: Session, scim: Scim, people: People
) -> None:
    created = new_user(scim)
    assert created["userName"] == "jdoe"
    assert created["emails"][0]["value"] == "jdoe@univ.example"
    user = fresh(db).get(User, int(created["id"]))
    assert user is not None
    assert user.role_set == frozenset()
    assert user.organization_id == people.lab.id
    assert events(db, AuditType.SCIM_USER_CREATE)[-1].actor_email == "system:scim"
    new_user(scim, "jsmith")
    for query, expected in (
        ('userName eq "JDOE"', ["jdoe"]),
        ('userName sw "js"', ["jsmith"]),
        ('emails co "smith@univ"', ["jsmith"]),
        ('emails.value eq "jdoe@univ.example"', ["jdoe"]),
        ('externalId eq "ext-jsmith"', ["jsmith"]),
        ('displayName eq "Jane Doe" and userName co "doe"', ["jdoe"]),
        ('userName eq "jdoe" or userName eq "jsmith"', ["jdoe", "jsmith"]),
    ):
        found = scim.call("GET", f"/Users?filter={query}").get_json()
        assert sorted(r["userName"] for r in found["Resources"]) == expected, query
    refused = scim.call("GET", '/Users?filter=title eq "x"')
    assert refused.status_code == 400
    assert refused.get_json()["scimType"] == "invalidFilter"


def test_pagination_counts_everyone_and_pages_through(scim: Scim, people: People) -> None:
    everyone = scim.call("GET", "/Users").get_json()["totalResults"]
    page = scim.call("GET", "/Users?startIndex=2&count=3").get_json()
    assert page["totalResults"] == everyone
    assert page["startIndex"] == 2
    assert page["itemsPerPage"] == 3
    first = scim.call("GET", "/Users?count=1").get_json()["Resources"][0]
    assert first["id"] not in {r["id"] for r in page["Resources"]}


def test_etags_refuse_a_stale_write(db: Session, scim: Scim) -> None:
    created = new_user(scim)
    etag = created["meta"]["version"]
    path = f"/Users/{created['id']}"
    assert scim.call("GET", path).headers["ETag"] == etag
    assert scim.call("GET", path, **{"If-None-Match": etag}).status_code == 304
    patch = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Jane Q. Doe"}],
    }
    changed = scim.call("PATCH", path, patch, **{"If-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["displayName"] == "Jane Q. Doe"
    stale = scim.call("PATCH", path, patch, **{"If-Match": etag})
    assert stale.status_code == 412
    user = fresh(db).get(User, int(created["id"]))
    assert user is not None
    assert user.name == "Jane Q. Doe"


def test_a_revoked_or_unknown_token_is_refused_and_recorded(
    app: Flask, db: Session, people: People
) -> None:
    """Attack: the provider's old token, revoked by an administrator, is replayed."""
    token, secret = issue(db, people)
    client = Scim(app.test_client(), secret)
    assert client.call("GET", "/Users").status_code == 200
    scim_tokens.revoke_token(db, token_id=token.id, by=people.admin, now=utcnow())
    db.commit()
    refused = client.call("GET", "/Users")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert Scim(app.test_client(), "guessed").call("GET", "/Users").status_code == 401
    assert app.test_client().get("/scim/v2/Users").status_code == 401
    assert len(events(db, AuditType.SCIM_REFUSED)) == 3
    stored = fresh(db).get(ScimToken, token.id)
    assert stored is not None
    assert secret not in stored.secret_sha256
    assert [e.detail["prefix"] for e in events(db, AuditType.SCIM_TOKEN_REVOKE)] == [token.prefix]


def test_a_personal_api_token_does_not_open_scim(app: Flask, db: Session, people: People) -> None:
    """Attack: an administrator's personal API token used as a SCIM token."""
    secret = tokens.create_token(
        db, user_id=people.admin.id, name="t", days=1, by=people.admin, now=utcnow()
    ).secret
    db.commit()
    assert Scim(app.test_client(), secret).call("GET", "/Users").status_code == 401


def test_a_patch_cannot_set_roles_directly(db: Session, scim: Scim) -> None:
    """Attack: the SCIM client (or whoever holds its token) gives itself the administrator's
    role by a PATCH of `roles`, or sets a local password."""
    created = new_user(scim)
    for operation in (
        {"op": "add", "path": "roles", "value": [{"value": "admin"}]},
        {"op": "add", "value": {"roles": [{"value": "privacy_officer"}]}},
        {"op": "replace", "path": "password", "value": "Sup3r-secret-passw0rd"},
    ):
        refused = scim.call(
            "PATCH",
            f"/Users/{created['id']}",
            {"schemas": [PATCH_SCHEMA], "Operations": [operation]},
        )
        assert refused.status_code == 403, refused.get_json()
    user = fresh(db).get(User, int(created["id"]))
    assert user is not None
    assert user.role_set == frozenset()
    assert len(events(db, AuditType.SCIM_REFUSED)) == 3


def test_group_membership_changes_roles_through_the_mapping(
    db: Session, scim: Scim, people: People
) -> None:
    groups.create_mapping(
        db,
        source="scim",
        external_group="Analysts",
        role=Role.ANALYST,
        organization_id=None,
        by=OPERATOR,
    )
    db.commit()
    created = new_user(scim)
    group = scim.call(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Analysts",
            "members": [{"value": created["id"]}],
        },
    )
    assert group.status_code == 201, group.get_json()
    user_id = int(created["id"])
    assert fresh(db).get(User, user_id).role_set == {Role.ANALYST}  # type: ignore[union-attr]
    assert scim.call("GET", f"/Users/{user_id}").get_json()["groups"][0]["display"] == "Analysts"
    removed = scim.call(
        "PATCH",
        f"/Groups/{group.get_json()['id']}",
        {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "remove", "path": f'members[value eq "{user_id}"]'}],
        },
    )
    assert removed.status_code == 200, removed.get_json()
    assert fresh(db).get(User, user_id).role_set == frozenset()  # type: ignore[union-attr]
    granted = events(db, AuditType.GROUP_ROLE_GRANT)
    assert granted[-1].detail == {
        "email": "jdoe@univ.example",
        "role": "analyst",
        "source": "scim",
        "groups": ["Analysts"],
    }
    assert events(db, AuditType.GROUP_ROLE_REMOVE)[-1].detail["source"] == "scim"


@pytest.mark.parametrize("how", ["patch", "delete"])
def test_deactivation_stops_a_live_session_a_token_and_grants_at_the_next_request(
    app: Flask,
    db: Session,
    people: People,
    datasets: Datasets,  # noqa: F811  (the fixture imported above)
    scim: Scim,
    how: str,
) -> None:
    agreement = with_grant(db, people, datasets)
    assert decide(db, reading(people, agreement, datasets, utcnow())).allowed
    db.rollback()
    secret = tokens.create_token(
        db, user_id=people.analyst.id, name="t", days=5, by=people.analyst, now=utcnow()
    ).secret
    db.commit()
    browser = Browser(app.test_client())
    assert (
        login_from(browser.client, "192.0.2.30", people.analyst.email, PASSWORD).status_code == 302
    )
    assert browser.get("/account/").status_code == 200
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/me", headers=bearer).status_code == 200

    path = f"/Users/{people.analyst.id}"
    if how == "patch":
        done = scim.call(
            "PATCH",
            path,
            {
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "value": {"active": False}}],
            },
        )
        assert done.status_code == 200, done.get_json()
        assert done.get_json()["active"] is False
    else:
        assert scim.call("DELETE", path).status_code == 204
        assert scim.call("GET", path).status_code == 404

    assert browser.get("/account/").status_code == 302
    assert api.get("/api/v1/me", headers=bearer).status_code == 401
    refused = decide(fresh(db), reading(people, agreement, datasets, utcnow()))
    assert not refused.allowed
    db.rollback()
    removed = events(db, AuditType.AGREEMENT_PERSONNEL_REMOVE)
    assert [(e.agreement_id, e.detail["source"], e.target_id) for e in removed] == [
        (agreement.id, "scim", str(people.analyst.id))
    ]
    deactivated = events(db, AuditType.USER_DEACTIVATE)[-1]
    assert deactivated.actor_email == "system:scim"
    assert deactivated.detail["sessions_ended"] == 1


def activate(scim: Scim, user_id: int, active: bool) -> Any:
    return scim.call(
        "PATCH",
        f"/Users/{user_id}",
        {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {"active": active}}]},
    )


def test_scim_cannot_reactivate_an_account_an_administrator_deactivated(
    db: Session, scim: Scim, people: People
) -> None:
    """Attack: the provider still lists a person an administrator deactivated after an
    incident; its next sync must not bring the account back."""
    users.set_active(db, user_id=people.analyst2.id, active=False, by=people.admin)
    db.commit()
    assert activate(scim, people.analyst2.id, True).status_code == 403
    user = fresh(db).get(User, people.analyst2.id)
    assert user is not None
    assert not user.active
    # One that SCIM itself deactivated (a leaver who came back) it may reactivate.
    assert activate(scim, people.analyst.id, False).status_code == 200
    assert activate(scim, people.analyst.id, True).status_code == 200
    user = fresh(db).get(User, people.analyst.id)
    assert user is not None
    assert user.active


def test_an_account_made_by_hand_is_claimed_by_its_email(
    db: Session, scim: Scim, people: People
) -> None:
    created = scim.call(
        "POST",
        "/Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": people.analyst.email,
            "displayName": "Analyst",
            "emails": [{"value": people.analyst.email, "primary": True}],
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["id"] == str(people.analyst.id)
    assert events(db, AuditType.SCIM_USER_CREATE)[-1].detail["claimed_existing_account"] is True
