"""A download is not one read frozen at its first byte: it goes on only while the grant holds.

An attacker's view: the analyst starts a row-level CSV download and reads it slowly (a stream
has no time limit: the server's heartbeat keeps any answer alive while its client reads). The
steward revokes the grant, the grant's end passes, or the analyst's account is deactivated
while the rows are still on their way. Before, the door decided once, loaded every row and
streamed them all, however long that took; now it decides again before each further batch of
rows (`data_door.DOWNLOAD_BATCH`, as a paged read decides each page), and a refusal stops the
download, recorded as a denied `dataset:download` naming its clause and how many rows had been
released, with a last line saying it stopped instead of the "end of export" line. The rows are
read once, at the start, under the agreement then in force: an amendment that withholds an
offence category since, or the version's destruction, stops the rest as well.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import data_door
from governance.access import grants as grant_service
from governance.access.models import AccessRequest
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import datastore
from governance.datasets.ingestion import ingest_frame
from governance.identity import users
from governance.kernel.reports.tabular import ExportStopped
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets, amendment, approved, countersign
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

#: Enough rows for several of the CSV writer's 64 KiB chunks, so a client can stop reading
#: with most of the download still to come.
MANY = 40_000


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(db, people, datasets, row_level_download=True)


def grant_download(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, rows: int
) -> int:
    """`rows` stored arrests and the analyst's grant to download sex and age (60 days)."""
    frame = pd.concat([ROWS] * (-(-rows // len(ROWS))), ignore_index=True).head(rows)
    frame["person_id"] = [f"P{i:06d}" for i in range(rows)]
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=frame, source_filename="many.csv", by=SETUP
    )
    db.commit()
    request = ask_and_grant(
        db, people, agreement, datasets, columns=("sex", "age_at_arrest"), download=True
    )
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.grant_id is not None
    return found.grant_id


def stopped_download(db: Session) -> AuditEvent:
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.DATASET_DOWNLOAD)
            .order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    return event


def test_a_grant_revoked_while_its_download_is_read_stops_the_download(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    grant_id = grant_download(db, people, agreement, datasets, MANY)
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    scope = f"agreement={agreement.id}&dataset={datasets.arrests.id}&purpose=descriptive"
    response = client.get(f"/data/download?{scope}", buffered=False)
    assert response.status_code == 200
    chunks = iter(response.response)
    first = next(chunks)
    # The steward revokes the grant (in another process: its own session) while the analyst
    # has read one chunk.
    grant_service.revoke_grant(
        fresh(db), grant_id=grant_id, reason="Breach reported.", by=people.steward, now=utcnow()
    )
    db.commit()
    text = (first + b"".join(chunks)).decode()
    response.close()
    lines = text.splitlines()
    rows = [line for line in lines if line and not line.startswith("#")][1:]
    assert len(rows) < MANY
    assert not any(line.startswith("# end of export") for line in lines)
    assert lines[-1].startswith("# export stopped: ")
    assert "revoked" in lines[-1]
    event = stopped_download(db)
    assert event.outcome == "denied"
    assert event.clause == "access.grant"
    assert event.detail["rows_released"] == len(rows)
    assert event.detail["rows_released"] % data_door.DOWNLOAD_BATCH == 0


def started(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    now: dt.datetime,
    clock: Callable[[], dt.datetime],
) -> Iterator[tuple[object, ...]]:
    """The analyst's download of sex and age, begun (decided and recorded) at `now`."""
    _header, rows, _decision = data_door.download_rows(
        db,
        by=people.analyst,
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=["sex", "age_at_arrest"],
        purpose="descriptive",
        now=now,
        clock=clock,
    )
    db.commit()
    return rows


def read_all(rows: Iterator[tuple[object, ...]]) -> tuple[list[tuple[object, ...]], str]:
    """Every row the door releases, and the reason it stopped ("" when it ran to the end)."""
    released: list[tuple[object, ...]] = []
    try:
        for row in rows:
            released.append(row)
    except ExportStopped as stopped:
        return released, stopped.message
    return released, ""


def test_a_download_still_running_when_the_grant_ends_stops_without_any_write(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """Time passes and nothing is written: the grant's end (60 days) comes while the rows are
    still being sent, and the next batch is refused."""
    grant_download(db, people, agreement, datasets, 3 * data_door.DOWNLOAD_BATCH)
    start = utcnow()
    moments = iter([start, start + dt.timedelta(days=61)])
    rows = started(db, people, agreement, datasets, start, lambda: next(moments, start))
    released, reason = read_all(rows)
    assert len(released) == 2 * data_door.DOWNLOAD_BATCH
    assert "expired" in reason
    event = stopped_download(db)
    assert event.outcome == "denied"
    assert event.clause == "access.valid_until"
    assert event.detail["rows_released"] == 2 * data_door.DOWNLOAD_BATCH


def cut_after_one_batch(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    meanwhile: Callable[[Session], object],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], str]:
    """The analyst's download of two batches, with `meanwhile` done (and committed) once the
    first batch was read: the rows before, the rows after and why it stopped."""
    grant_download(db, people, agreement, datasets, 2 * data_door.DOWNLOAD_BATCH)
    rows = started(db, people, agreement, datasets, utcnow(), utcnow)
    first = [next(rows) for _ in range(data_door.DOWNLOAD_BATCH)]
    meanwhile(fresh(db))
    db.commit()
    rest, reason = read_all(rows)
    assert len(first) == data_door.DOWNLOAD_BATCH
    return first, rest, reason


def test_a_download_stops_when_its_reader_is_deactivated(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """An administrator deactivates the analyst (sessions and tokens end) while a download
    is on its way: their grants stay, so the door checks the account itself."""
    _first, rest, reason = cut_after_one_batch(
        db,
        people,
        agreement,
        datasets,
        lambda s: users.set_active(s, user_id=people.analyst.id, active=False, by=people.admin),
    )
    assert rest == []
    assert "deactivated" in reason
    event = stopped_download(db)
    assert event.outcome == "denied"
    assert event.rule == data_door.ACTIVE_ACCOUNT_RULE


def test_a_download_that_holds_runs_to_its_end_line(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    grant_download(db, people, agreement, datasets, 3 * data_door.DOWNLOAD_BATCH + 7)
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    scope = f"agreement={agreement.id}&dataset={datasets.arrests.id}&purpose=descriptive"
    text = browser.get(f"/data/download?{scope}").get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[-1] == [f"# end of export: rows={3 * data_door.DOWNLOAD_BATCH + 7}"]
    downloads = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_DOWNLOAD))
        .all()
    )
    assert [e.outcome for e in downloads] == ["allowed"]


def withheld_secret(db: Session, people: People, datasets: Datasets, agreement: Agreement) -> None:
    """An amendment that withholds the SECRET-OFFENCE records from every reader, approved and
    countersigned: in force from now."""
    amendment(
        db,
        people,
        datasets,
        agreement,
        row_level_download=True,
        withheld_offence_categories=["secret-offence"],
    )
    countersign(db, people, agreement)
    db.commit()


def secret(row: tuple[object, ...]) -> bool:
    """Whether a downloaded (sex, age) row is a SECRET-OFFENCE record: in `ROWS` the category
    follows the age (every third of 18, 19, 20, ...)."""
    return (int(str(row[1])) - 18) % 3 == 2


def test_an_amendment_withholding_a_category_mid_download_lets_no_such_record_out(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The attack: the analyst starts a download of every record; the agreement is amended to
    withhold an offence category from every reader (a new finding about the provider's
    duty) while the rows are still on their way. Before, the rest of the download still
    carried that category's records, read under the terms of its start; now no batch leaves
    after the amendment came into force with such a record: the download stops, recorded
    under the clause, and the file says it stopped."""
    first, rest, reason = cut_after_one_batch(
        db, people, agreement, datasets, lambda s: withheld_secret(s, people, datasets, agreement)
    )
    assert any(secret(row) for row in first)  # not withheld yet
    assert not any(secret(row) for row in rest)
    assert rest == []
    assert "secret-offence" in reason
    event = stopped_download(db)
    assert event.outcome == "denied"
    assert event.clause == "access.withheld_offence_categories"
    assert event.detail["rows_released"] == data_door.DOWNLOAD_BATCH
    assert event.detail["withheld_categories"] == ["secret-offence"]


def test_a_download_cut_by_an_amendment_ends_with_the_stopped_line(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    grant_download(db, people, agreement, datasets, MANY)
    browser = Browser(client)
    browser.login(people.analyst.email, PASSWORD)
    scope = f"agreement={agreement.id}&dataset={datasets.arrests.id}&purpose=descriptive"
    response = client.get(f"/data/download?{scope}", buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    withheld_secret(fresh(db), people, datasets, agreement)
    lines = (first + b"".join(chunks)).decode().splitlines()
    response.close()
    rows = [line for line in lines if line and not line.startswith("#")][1:]
    assert len(rows) < MANY
    assert not any(line.startswith("# end of export") for line in lines)
    assert lines[-1].startswith("# export stopped: ")
    assert "secret-offence" in lines[-1]
    assert lines[-1].endswith(f"(rows written: {len(rows)})")


def test_a_download_stops_when_its_version_is_destroyed(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The rows are read once, at the start: once their version is crypto-shredded (its
    certificate says no copy is left), the rows still in memory do not leave either."""

    def destroy(session: Session) -> None:
        version = data_door.current_version(session, datasets.arrests.id)
        datastore.destroy_version(version, now=utcnow())

    _first, rest, reason = cut_after_one_batch(db, people, agreement, datasets, destroy)
    assert rest == []
    assert "destroyed" in reason
    event = stopped_download(db)
    assert (event.outcome, event.clause) == ("denied", data_door.DESTRUCTION_CLAUSE)
