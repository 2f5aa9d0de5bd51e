"""Opening the correction form checks what the correction will check (404, 403, 409) without
the audit writer lock: a page view does not wait for, nor hold up, the writers. The correction
itself checks again under the lock (`outputs.service.correctable`), so two changes of one
output still run one after the other (tests/outputs/test_races.py). The form's refusals are
tested in tests/outputs/test_correction_after_end.py and tests/outputs/test_pages.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.kernel.extensions import database
from governance.outputs import service as outputs
from governance.outputs.models import Output
from tests.conftest import Browser
from tests.outputs.builders import DAY, T0, released
from tests.support import PASSWORD, People


@contextmanager
def writer_busy(app: Flask, database_url: str) -> Iterator[None]:
    """Another transaction holds the audit head's lock, and the app's connections give up
    waiting for a lock after a second (an error rather than a hung test)."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs every transaction as the one writer (BEGIN IMMEDIATE)")
    engine = database(app).engine

    def short_lock_timeout(connection: Any, _record: object) -> None:
        connection.autocommit = True
        connection.execute("SET lock_timeout = '1s'")
        connection.autocommit = False

    engine.dispose()  # connections made from here on have the timeout
    event.listen(engine, "connect", short_lock_timeout)
    try:
        with database(app).session() as holder:
            audit.take_writer_lock(holder)
            yield
    finally:
        event.remove(engine, "connect", short_lock_timeout)
        engine.dispose()


@pytest.fixture
def output(db: Session, people: People, agreement: Agreement) -> Output:
    return released(db, people, agreement)


def test_the_correction_form_opens_while_a_writer_holds_the_lock(
    app: Flask, people: People, output: Output, database_url: str
) -> None:
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)  # signing in is recorded: before the lock
    with writer_busy(app, database_url):
        page = browser.get(f"/outputs/{output.id}/correct")
    assert page.status_code == 200, page.get_data(as_text=True)
    assert 'name="summary"' in page.get_data(as_text=True)


def test_the_correction_itself_still_checks_under_the_lock(
    app: Flask, people: People, output: Output, database_url: str
) -> None:
    now = T0 + 41 * DAY
    with writer_busy(app, database_url), database(app).session() as session:
        checked = outputs.check_correction(session, output_id=output.id, by=people.analyst, now=now)
        assert checked.id == output.id
        with pytest.raises(OperationalError, match="lock timeout"):
            outputs.correctable(session, output_id=output.id, by=people.analyst, now=now)
