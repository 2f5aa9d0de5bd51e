"""A partner reviewer's "no concerns" ends the preview early: recorded and audited, and the
output is released without waiting for the window to end. Only the provider's partner
reviewers may say it, only while the window is open and no flag is open."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.identity.models import User
from governance.kernel.errors import Conflict, DomainError, NotFound, PermissionDenied
from governance.outputs import preview
from governance.outputs.models import Output, OutputStatus
from tests.conftest import Browser, fresh
from tests.outputs.builders import DAY, T0, check_twice, event_types, produce
from tests.support import PASSWORD, People


@pytest.fixture
def in_preview(db: Session, people: People, agreement: Agreement) -> Output:
    return check_twice(db, people, produce(db, people, agreement))


def say_no_concerns(db: Session, output: Output, by: User, *, days: int = 2) -> Output:
    done = preview.no_concerns(
        db, output_id=output.id, note="Checked every cell.", by=by, now=T0 + days * DAY
    )
    db.commit()
    return done


def test_no_concerns_releases_at_once_and_is_audited(
    db: Session, people: People, in_preview: Output
) -> None:
    closes = in_preview.preview_closes_at
    say_no_concerns(db, in_preview, people.partner)
    assert in_preview.status == OutputStatus.RELEASED
    assert in_preview.released_at is not None
    assert closes is not None
    assert in_preview.released_at < closes, "released before the window would have ended"
    kinds = event_types(db, in_preview.id)
    assert kinds[-3:] == ["output:no_concerns", "output:clear", "output:release"]
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "output:no_concerns")
    ).one()
    assert event.actor_id == people.partner.id
    assert event.detail["note"] == "Checked every cell."


def test_only_the_providers_partner_may_say_it(
    db: Session, people: People, in_preview: Output, other_partner: User
) -> None:
    # Another agency's partner does not see the output: answered as for a missing one (404).
    refusals: list[tuple[User, type[DomainError]]] = [
        (other_partner, NotFound),
        (people.analyst, PermissionDenied),
        (people.checker, PermissionDenied),
        (people.privacy, PermissionDenied),
    ]
    for person, refusal in refusals:
        with pytest.raises(refusal) as refused:
            say_no_concerns(db, in_preview, person)
        db.rollback()
        # The refusal carries the event that records it (written by whoever handles it).
        assert refused.value.audit
        assert refused.value.audit["event_type"] == "output:no_concerns"
    assert fresh(db).get(Output, in_preview.id).status == OutputStatus.IN_PREVIEW  # type: ignore[union-attr]


def test_not_with_an_open_flag_nor_after_the_window(
    db: Session, people: People, in_preview: Output
) -> None:
    preview.raise_flag(
        db,
        output_id=in_preview.id,
        kind="factual_error",
        part="headline/comparison",
        comment="Wrong group size.",
        by=people.partner,
        now=T0 + 2 * DAY,
    )
    db.commit()
    with pytest.raises(Conflict, match="open flag"):
        say_no_concerns(db, in_preview, people.partner, days=3)
    db.rollback()
    assert fresh(db).get(Output, in_preview.id).status == OutputStatus.IN_PREVIEW  # type: ignore[union-attr]


def test_not_before_the_preview_or_after_it_ended(
    db: Session, people: People, agreement: Agreement
) -> None:
    produced = produce(db, people, agreement)
    with pytest.raises(NotFound):  # the provider's partner sees it from the preview on
        say_no_concerns(db, produced, people.partner)
    db.rollback()
    check_twice(db, people, produced)
    with pytest.raises(Conflict, match="ended"):
        say_no_concerns(db, produced, people.partner, days=60)


def test_the_page_offers_it_to_the_partner_only(
    app: Flask, db: Session, people: People, in_preview: Output
) -> None:
    partner = Browser(app.test_client())
    partner.login(people.partner.email, PASSWORD)
    page = partner.get(f"/outputs/{in_preview.id}").get_data(as_text=True)
    assert "No concerns: end the preview" in page
    analyst = Browser(app.test_client())
    analyst.login(people.analyst.email, PASSWORD)
    assert "No concerns" not in analyst.get(f"/outputs/{in_preview.id}").get_data(as_text=True)
    refused = analyst.post(f"/outputs/{in_preview.id}/no-concerns", {"no_concerns-note": ""})
    assert refused.status_code == 403
    denied = fresh(db).scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == "output:no_concerns", AuditEvent.outcome == "denied"
        )
    )
    assert len(denied.all()) == 1, "the refused attempt is recorded"
    assert fresh(db).get(Output, in_preview.id).status == OutputStatus.IN_PREVIEW  # type: ignore[union-attr]


def test_the_api_says_no_concerns_for_the_partner_only(
    app: Flask, db: Session, people: People, in_preview: Output
) -> None:
    from governance.identity import tokens
    from governance.kernel.types import utcnow

    def token_of(person: User) -> str:
        created = tokens.create_token(
            db, user_id=person.id, name="api", days=1, by=person, now=utcnow()
        )
        db.commit()
        return created.secret

    client = app.test_client()
    path = f"/api/v1/outputs/{in_preview.id}/no-concerns"
    refused = client.post(
        path, json={}, headers={"Authorization": f"Bearer {token_of(people.analyst)}"}
    )
    assert refused.status_code == 403
    done = client.post(
        path,
        json={"note": "Nothing identifies anyone."},
        headers={"Authorization": f"Bearer {token_of(people.partner)}"},
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["status"] == "released"
    assert fresh(db).get(Output, in_preview.id).status == OutputStatus.RELEASED  # type: ignore[union-attr]
