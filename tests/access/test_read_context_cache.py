"""The per-process memo of what a read looks up (authz/read_memo.py), attacked from another
process: a server process that has served a granted read from memory must refuse, and record
as denied, its very next read after a revocation made anywhere else on the same database, and
must not decrypt once the key wraps are gone. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from governance import create_app
from governance.access import grants
from governance.access.models import Grant, GrantColumn, GrantStatus
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.authz import read_memo
from governance.authz.read_memo import ReadMemo
from governance.datasets.datastore import DataIntegrityError
from governance.datasets.models import (
    Classification,
    ColumnType,
    DatasetColumn,
    DatasetVersion,
    VersionKeyWrap,
)
from governance.identity import tokens
from governance.identity.models import User
from governance.identity.token_model import ApiToken
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.access.test_data_door import stored  # noqa: F401  (the fixture)
from tests.agreements.builders import Datasets
from tests.support import People


class MemoClock:
    """The memo's clock (what `read_memo` reads as `time.monotonic()`), still unless moved."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def memo_clock(monkeypatch: pytest.MonkeyPatch) -> MemoClock:
    """The memo's clock stands still unless a test moves it: a read these tests see refused is
    the epoch's doing, never the age backstop's, and the warm-up's read from memory does not
    find its entries aged out (past MAX_AGE_S, two seconds) because the machine was slow."""
    clock = MemoClock()
    monkeypatch.setattr(read_memo, "time", clock)
    return clock


@pytest.fixture
def other(app_config: dict[str, Any]) -> Iterator[Flask]:
    """A second server process on the same database: its own connections, grant index and
    memo, as another gunicorn worker has."""
    application = create_app({"ADMIN_SECOND_FACTOR_REQUIRED": False, **app_config})
    yield application
    database(application).dispose()


@pytest.fixture
def secret(db: Session, people: People) -> str:
    created = tokens.create_token(
        db, user_id=people.analyst.id, name="script", days=None, by=people.analyst, now=utcnow()
    )
    db.commit()
    return created.secret


def _rows_url(agreement: Agreement, datasets: Datasets) -> str:
    return (
        f"/api/v1/datasets/{datasets.arrests.id}/rows?agreement={agreement.id}"
        "&purpose=descriptive&columns=sex&columns=age_at_arrest&per_page=5"
    )


def _get(client: FlaskClient, url: str, secret: str) -> Any:
    return client.get(url, headers={"Authorization": f"Bearer {secret}"})


def _warm(other: Flask, url: str, secret: str) -> FlaskClient:
    """Reads until the other process serves a read from memory: no SELECT but the epoch's."""
    client = other.test_client()
    # The first read also notes when the token was last used, a change to it: the second
    # reloads, the third is served from memory.
    for _ in range(2):
        assert _get(client, url, secret).status_code == 200
    statements: list[str] = []

    def log(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        statements.append(sql)

    engine = database(other).engine
    event.listen(engine, "before_cursor_execute", log)
    try:
        assert _get(client, url, secret).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", log)
    # The audit head may be read under lock before the append (audit/head.py: after another
    # process wrote, this one reads it first for a while); nothing else is looked up.
    lookups = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert [s for s in lookups if "FROM audit_head" not in s] == []
    return client


@pytest.fixture
def warm_read(
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    other: Flask,
    secret: str,
) -> tuple[FlaskClient, str]:
    """The other process, warm for the analyst's token, and the read's URL."""
    url = _rows_url(agreement, stored)
    return _warm(other, url, secret), url


def _reads(db: Session, outcome: Outcome) -> int:
    db.expire_all()
    return int(
        db.scalar(
            select(func.count()).where(
                AuditEvent.event_type == AuditType.DATASET_READ, AuditEvent.outcome == outcome
            )
        )
        or 0
    )


def test_a_grant_revoked_in_one_process_refuses_and_records_the_next_read_in_another(
    db: Session,
    people: People,
    stored: Datasets,  # noqa: F811
    warm_read: tuple[FlaskClient, str],
    secret: str,
) -> None:
    client, url = warm_read
    denied = _reads(db, Outcome.DENIED)
    grant_id = db.scalar(select(Grant.id).where(Grant.dataset_id == stored.arrests.id))
    assert grant_id is not None
    grants.revoke_grant(
        db, grant_id=grant_id, reason="Left the project.", by=people.steward, now=utcnow()
    )
    db.commit()
    refused = _get(client, url, secret)
    assert refused.status_code == 403
    assert "items" not in refused.get_json()
    assert _reads(db, Outcome.DENIED) == denied + 1


def test_a_token_revoked_or_a_holder_deactivated_elsewhere_is_refused_at_the_next_read(
    db: Session, people: People, other: Flask, warm_read: tuple[FlaskClient, str], secret: str
) -> None:
    client, url = warm_read
    token = db.scalars(select(ApiToken)).one()
    tokens.revoke_token(db, token_id=token.id, by=people.analyst, now=utcnow())
    db.commit()
    assert _get(client, url, secret).status_code == 401

    second = tokens.create_token(
        db, user_id=people.analyst.id, name="again", days=None, by=people.analyst, now=utcnow()
    ).secret
    db.commit()
    client = _warm(other, url, second)
    # Whatever code deactivates the holder (here a plain ORM write, no service), the memo
    # in the other process does not outlive it.
    db.get(User, people.analyst.id).active = False  # type: ignore[union-attr]
    db.commit()
    assert _get(client, url, second).status_code == 401


def test_a_bulk_statement_through_a_session_also_reaches_the_warm_process(
    db: Session, warm_read: tuple[FlaskClient, str], secret: str
) -> None:
    client, url = warm_read
    db.execute(update(ApiToken).values(revoked_at=utcnow()))
    db.commit()
    assert _get(client, url, secret).status_code == 401


@pytest.mark.parametrize("how", ["flush", "statement", "column"])
def test_a_grant_changed_by_any_session_write_reaches_the_warm_processs_grant_index(
    db: Session,
    stored: Datasets,  # noqa: F811
    warm_read: tuple[FlaskClient, str],
    secret: str,
    how: str,
) -> None:
    """No service: a plain ORM write of the grant's status, a bulk UPDATE through a session, or
    a granted column taken away. Each bumps the epoch (the memo's listener), but the grant
    index reloads only grants whose `changed_epoch` moved: before, the warm process kept
    allowing the read as long as it lived."""
    client, url = warm_read
    grant = db.scalars(select(Grant).where(Grant.dataset_id == stored.arrests.id)).one()
    if how == "flush":
        grant.status = GrantStatus.REVOKED
    elif how == "statement":
        db.execute(update(Grant).where(Grant.id == grant.id).values(status=GrantStatus.REVOKED))
    else:
        db.execute(
            delete(GrantColumn).where(
                GrantColumn.grant_id == grant.id, GrantColumn.column_name == "sex"
            )
        )
    db.commit()
    assert _get(client, url, secret).status_code == 403


def test_a_token_revoked_by_hand_at_the_database_prompt_is_refused_within_the_memos_age(
    warm_read: tuple[FlaskClient, str], other: Flask, secret: str, memo_clock: MemoClock
) -> None:
    """An insider's raw SQL on the driver's own connection bumps no epoch; the warm process
    still stops serving the revoked token once its entry is older than MAX_AGE_S."""
    client, url = warm_read
    raw = database(other).engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            str(
                update(ApiToken)
                .values(revoked_at=utcnow())
                .compile(
                    dialect=database(other).engine.dialect, compile_kwargs={"literal_binds": True}
                )
            )
        )
        raw.commit()
    finally:
        raw.close()
    memo_clock.now += read_memo.MAX_AGE_S + 0.1
    assert _get(client, url, secret).status_code == 401


def test_key_wraps_deleted_elsewhere_leave_the_warm_process_unable_to_decrypt(
    db: Session,
    stored: Datasets,  # noqa: F811
    warm_read: tuple[FlaskClient, str],
    secret: str,
) -> None:
    client, url = warm_read
    version_ids = select(DatasetVersion.id).where(DatasetVersion.dataset_id == stored.arrests.id)
    db.execute(delete(VersionKeyWrap).where(VersionKeyWrap.version_id.in_(version_ids)))
    db.commit()
    # The memo's wraps are gone with the rows, so the columns kept in memory (signed with the
    # wraps) are not served, and the file's key cannot be unwrapped.
    with pytest.raises(DataIntegrityError, match="no key left"):
        _get(client, url, secret)


def test_a_column_declared_a_direct_identifier_elsewhere_is_recorded_so_at_the_next_read(
    db: Session,
    stored: Datasets,  # noqa: F811
    warm_read: tuple[FlaskClient, str],
    secret: str,
) -> None:
    """The door keeps a dataset's declared columns as plain values (`DoorDataset`), shared by
    the reads of one epoch: a column reclassified in another process is recorded as a direct
    identifier from the warm process's very next read, and a filter on a column whose type
    changed is checked against its new type."""
    client, url = warm_read
    column = db.scalars(
        select(DatasetColumn).where(
            DatasetColumn.dataset_id == stored.arrests.id, DatasetColumn.name == "age_at_arrest"
        )
    ).one()
    assert column.classification != Classification.DIRECT_IDENTIFIER
    column.classification = Classification.DIRECT_IDENTIFIER
    db.commit()
    assert _get(client, url, secret).status_code == 200
    db.expire_all()
    last = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.event_type == AuditType.DATASET_READ)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one()
    assert last.detail["direct_identifier_columns"] == ["age_at_arrest"]

    column.type = ColumnType.STRING
    db.commit()
    filtered = _get(client, f"{url}&filter=age_at_arrest:lt:30", secret)
    assert filtered.status_code == 422
    assert "age_at_arrest is a string column" in filtered.get_json()["message"]


def test_the_memo_is_bounded_and_serves_only_the_epoch_it_was_loaded_under(
    app: Flask,
) -> None:
    memo = ReadMemo(size=2)
    loads: list[str] = []

    def load(name: str) -> Any:
        def loaded() -> str:
            loads.append(name)
            return name

        return loaded

    with database(app).session() as session:
        for name in ("a", "b", "c", "a"):
            assert memo.get(session, name, load(name)) == name
        assert len(memo) == 2
        assert loads == ["a", "b", "c", "a"]  # "a" was dropped when "c" came
        assert memo.get(session, "c", load("c")) == "c"
        assert loads == ["a", "b", "c", "a"]
        session.execute(update(ApiToken).values(name="x"))  # bumps the epoch
        assert memo.get(session, "c", load("c")) == "c"
        assert loads == ["a", "b", "c", "a", "c"]  # loaded again under the new epoch
        session.rollback()
