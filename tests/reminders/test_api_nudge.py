"""The requester's view through the API: who the request waits on, and the one polite nudge
per service-level period (409 for a second, 403 for anyone else)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from tests.agreements.builders import Datasets
from tests.compliance.test_api import token_of
from tests.outputs.test_notifications import Inbox
from tests.reminders.test_schedule import SECRET_PURPOSE, ask
from tests.support import People


def test_the_api_says_who_it_waits_on_and_nudges_once_per_period(
    client: FlaskClient,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    mail: Inbox,
) -> None:
    request = ask(db, people, agreement, datasets)
    mine = token_of(db, people.analyst)
    url = f"/api/v1/access-requests/{request.id}"
    shown = client.get(url, headers=mine)
    assert shown.status_code == 200
    waiting = shown.json["waiting_on"]
    assert waiting["role"] == "Data steward"
    assert waiting["people"] == [{"id": people.steward.id, "name": people.steward.name}]
    assert waiting["period_days"] == 5
    assert waiting["next_nudge"] is None
    mail.clear()

    # Someone else's request is answered as a missing one (docs/decisions/api.md).
    other = client.post(f"{url}/nudge", headers=token_of(db, people.analyst2))
    assert other.status_code == 404
    assert mail.messages == []

    sent = client.post(f"{url}/nudge", headers=mine)
    assert sent.status_code == 200
    assert sent.json["waiting_on"]["next_nudge"] is not None
    [(to, subject, body)] = mail.messages
    assert to == people.steward.email
    assert f"access request #{request.id}" in subject
    assert SECRET_PURPOSE not in body

    again = client.post(f"{url}/nudge", headers=mine)
    assert again.status_code == 409
    assert "already sent" in again.get_data(as_text=True)
    assert len(mail.messages) == 1
