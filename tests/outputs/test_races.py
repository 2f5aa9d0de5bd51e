"""Two people publishing the same output at the same moment: it is published once; the second
waits for the first and is refused (409) rather than passing the same state check."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.kernel.errors import InvalidTransition
from governance.outputs import service as outputs
from tests.access.test_request_races import _race
from tests.outputs.builders import DAY, T0, event_types, released
from tests.support import People


def test_publishing_at_once_publishes_once(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = released(db, people, agreement)

    def publish(session: Session) -> object:
        return outputs.publish_output(
            session, output_id=output.id, by=people.privacy, now=T0 + 41 * DAY
        )

    raised = _race(app, publish, publish)
    assert [type(e) for e in raised] == [InvalidTransition]
    db.expire_all()
    assert event_types(db, output.id).count("output:publish") == 1
