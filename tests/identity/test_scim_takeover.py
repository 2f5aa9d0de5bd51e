"""An administrator cannot take over another person's account through SCIM and a reset link.

The attack: an administrator issues a SCIM token on the page, sets a privacy officer's e-mail
to a mailbox of their own through it, and e-mails that account a password-reset link: the link
arrives in their mailbox, they choose the password and sign in as the privacy officer (the
second approval for identifiers and amendments), round every two-person rule. An account's
address is where its reset links go, so SCIM sets the address only of accounts without a
local password, and those get no reset link.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.audit.models import AuditType
from governance.identity.models import User
from tests.conftest import Browser, fresh
from tests.identity.conftest import Inbox, login_from, mail_settings
from tests.identity.test_local_passwords import last
from tests.identity.test_scim import USER_SCHEMA, Scim, issue, new_user
from tests.support import PASSWORD, People

MALLORY = "mallory@elsewhere.example"


@pytest.fixture
def app_config(database_url: str, smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {"TESTING": True, "DATABASE_URL": database_url, **mail_settings(smtp)}


def move_to_mallory(scim: Scim, user_id: int) -> Any:
    return scim.call(
        "PUT",
        f"/Users/{user_id}",
        {
            "schemas": [USER_SCHEMA],
            "userName": MALLORY,
            "emails": [{"value": MALLORY, "primary": True}],
        },
    )


def ask_for_reset_link(app: Flask, people: People, user_id: int) -> Any:
    admin = Browser(app.test_client())
    assert login_from(admin.client, "192.0.2.10", people.admin.email, PASSWORD).status_code == 302
    return admin.post(f"/admin/users/{user_id}/reset-link")


def test_scim_cannot_move_the_address_of_an_account_with_a_password(
    app: Flask, db: Session, people: People, inbox: Inbox
) -> None:
    scim = Scim(app.test_client(), issue(db, people)[1])
    moved = move_to_mallory(scim, people.privacy.id)
    assert moved.status_code == 403, moved.get_json()
    assert "password-reset links" in moved.get_json()["detail"]
    privacy = fresh(db).get(User, people.privacy.id)
    assert privacy is not None
    assert privacy.email == people.privacy.email
    refusal = last(db, AuditType.SCIM_REFUSED)
    assert (refusal.outcome, refusal.rule) == ("denied", "reset-link-address")
    assert refusal.target_id == str(people.privacy.id)
    assert refusal.detail["attributes"] == ["emails"]
    # The reset link still goes to the privacy officer, never to Mallory.
    assert ask_for_reset_link(app, people, people.privacy.id).status_code == 302
    assert inbox.link(people.privacy.email, "reset")
    assert inbox.to(MALLORY) == []


def test_an_account_without_a_local_password_gets_no_reset_link(
    app: Flask, db: Session, people: People, inbox: Inbox
) -> None:
    """A provisioned account signs in through its institution: SCIM may change its address,
    so no reset link (which would give it a password) is ever sent there."""
    scim = Scim(app.test_client(), issue(db, people)[1])
    user_id = int(new_user(scim)["id"])
    assert move_to_mallory(scim, user_id).status_code == 200
    refused = ask_for_reset_link(app, people, user_id)
    assert refused.status_code == 409
    assert "no password here to reset" in refused.get_data(as_text=True)
    refusal = last(db, AuditType.PASSWORD_RESET_LINK)
    assert (refusal.outcome, refusal.rule) == ("denied", "reset-link-address")
    assert refusal.target_id == str(user_id)
    assert inbox.to(MALLORY) == []
