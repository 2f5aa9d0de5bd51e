"""The verifier's short path over a batch of events reaches the same verdict, with the same
fault named, as checking every event on its own (`Walk.step`), for every kind of tampering.

Batches of four events, so that faults, checkpoints and the first event of a stretch fall at
every position within a batch. The intruder has database access and dropped the triggers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit import walk
from governance.audit.format import format_time, sqlite_time_text, sqlite_time_texts
from governance.audit.verify import Verification, verify_chain
from governance.kernel.db import make_engine
from governance.kernel.extensions import database

Intruder = Callable[..., None]


def _one_by_one(self: walk.Walk, batch: list[tuple[Any, ...]], at: Any) -> None:
    for row in batch:
        self.step(row, at)


def _tamper(name: str, intruder: Intruder, chain: int, dialect: str) -> None:
    """One intruder's edit (`name`); each leaves a trail the verifier must refuse."""
    sqlite = dialect == "sqlite"
    statements = {
        "an edited field": ["UPDATE audit_event SET outcome = 'allowed' WHERE seq = 10"],
        "an edited detail": ["UPDATE audit_event SET detail = :page99 WHERE seq = :near_end"],
        "a detail with a space": ["UPDATE audit_event SET detail = :spaced WHERE seq = 12"],
        "a deleted event": ["DELETE FROM audit_event WHERE seq = 10"],
        "swapped events": [
            "UPDATE audit_event SET seq = -1 WHERE seq = 10",
            "UPDATE audit_event SET seq = 10 WHERE seq = 11",
            "UPDATE audit_event SET seq = 11 WHERE seq = -1",
        ],
        "an edited link": ["UPDATE audit_event SET prev_hash = hash WHERE seq = 15"],
        "an edited hash": ["UPDATE audit_event SET hash = prev_hash WHERE seq = 14"],
        "a deleted checkpoint": [
            "DELETE FROM audit_checkpoint WHERE seq = "
            "(SELECT min(seq) FROM audit_checkpoint WHERE seq > 8)"
        ],
        "a forged checkpoint signature": [
            "UPDATE audit_checkpoint SET signature = :forged WHERE seq = "
            "(SELECT max(seq) FROM audit_checkpoint)"
        ],
        "an edited head": [
            "UPDATE audit_head SET hash = (SELECT hash FROM audit_event WHERE seq = 3)"
        ],
        "an edited time": [
            "UPDATE audit_event SET occurred_at = replace(occurred_at, ' ', 'T') WHERE seq = 13"
            if sqlite
            else "UPDATE audit_event SET occurred_at = ((occurred_at AT TIME ZONE 'UTC')::text "
            "|| ' BC')::timestamp AT TIME ZONE 'UTC' WHERE seq = 13"
        ],
        "a time moved later": [
            "UPDATE audit_event SET occurred_at = '2999-01-01 00:00:00.000000' WHERE seq = 17"
        ],
        "a number stored as text": ["UPDATE audit_event SET agreement_id = 'null' WHERE seq = 11"],
    }
    values = {
        "page99": '{"page":99}',
        "spaced": '{"page": 1}',
        "near_end": chain - 2,
        "forged": "0" * 64,
    }
    for statement in statements.get(name, []):
        intruder(
            statement, **{key: value for key, value in values.items() if f":{key}" in statement}
        )


# Edits written as SQLite text: PostgreSQL refuses text in an integer column itself, and its
# typed time is covered by "an edited time".
SQLITE_ONLY = {"a time moved later", "a number stored as text"}
TAMPERING = [
    "an edited field",
    "an edited detail",
    "a detail with a space",
    "a deleted event",
    "swapped events",
    "an edited link",
    "an edited hash",
    "a deleted checkpoint",
    "a forged checkpoint signature",
    "an edited head",
    "an edited time",
    "a time moved later",
    "a number stored as text",
]


def _verify(app: Flask, db: Session, workers: int) -> Verification:
    return verify_chain(
        database(app).read_engine(), audit.settings_of(db), workers=workers, min_events_per_worker=5
    )


@pytest.mark.parametrize("tampering", ["nothing", *TAMPERING])
def test_the_short_path_names_what_checking_each_event_names(
    app: Flask,
    chain: int,
    intruder: Intruder,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
    tampering: str,
) -> None:
    dialect = db.get_bind().dialect.name
    if dialect != "sqlite" and tampering in SQLITE_ONLY:
        pytest.skip("an edit only SQLite accepts")
    _tamper(tampering, intruder, chain, dialect)
    monkeypatch.setattr(walk, "FETCH_BATCH", 4)
    batched = _verify(app, db, workers=0)
    monkeypatch.setattr(walk.Walk, "walk_batch", _one_by_one)
    one_by_one = _verify(app, db, workers=0)
    assert batched == one_by_one
    if tampering == "nothing":
        assert batched.intact, batched.summary()
    else:
        assert batched.fault is not None, f"{tampering} was not found"


days = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)).map(str)
stored_times = st.one_of(
    st.builds(
        lambda day, hour, rest: f"{day} {hour:02d}:{rest}",
        days,
        st.integers(0, 24),
        st.sampled_from(
            ["00:00.000000", "59:59.999999", "07:03.5", "60:00.000000", "30:00.000001"]
        ),
    ),
    st.sampled_from(
        [
            "2025-02-29 00:00:00.000000",  # no such day
            "2025-01-01T00:00:00.000000",
            "2025-01-01 00:00:00.000000\n",
            "2025-01-01 00:00:00.000000\n2025-01-01 00:00:00.000000",
            "2025-01-01 00:00:00.000000+00:00",
            "\uff12\uff10\uff12\uff15-01-01 00:00:00.000000",  # fullwidth digits
            "",
        ]
    ),
    st.text(max_size=30),
    st.none(),
    st.integers(),
)


@given(st.lists(stored_times, min_size=1, max_size=6))
def test_times_checked_in_bulk_are_each_times_canonical_text(stored: list[Any]) -> None:
    one_by_one = [sqlite_time_text(value) for value in stored]
    expected = None if None in one_by_one else one_by_one
    assert sqlite_time_texts(stored) == expected


# -- PostgreSQL: the canonical time is the server's text of the stored time -----------------

earliest, latest = dt.datetime(1970, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
moments = st.datetimes(min_value=earliest, max_value=latest, timezones=st.timezones()).filter(
    lambda moment: earliest <= moment.astimezone(dt.UTC).replace(tzinfo=None) <= latest
)
zones = st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "+14"])


@pytest.fixture(scope="module")
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def _walk_texts(engine: Engine, values: list[Any], zone: str) -> list[str | None]:
    """The walk's own expression for the time (`walk._PG_OCCURRED`) over `values` stored as
    `timestamptz`, in a session whose time zone is `zone`."""
    with engine.begin() as connection:
        connection.exec_driver_sql(f"SET LOCAL TimeZone = '{zone}'")
        rows = connection.exec_driver_sql(
            f"SELECT {walk._PG_OCCURRED} FROM unnest(%(values)s::timestamptz[]) "  # noqa: S608
            "WITH ORDINALITY AS t(occurred_at, n) ORDER BY n",
            {"values": values},
        ).all()
    return [row[0] for row in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(moments, min_size=1, max_size=25), zones)
def test_the_walks_text_of_a_stored_time_is_what_the_writer_hashed(
    pg_engine: Engine, stored: list[dt.datetime], zone: str
) -> None:
    """Any time the writer can store (microseconds or none, leap days, year ends, any zone it
    came in), read in any session time zone: byte for byte `format_time`'s text."""
    assert _walk_texts(pg_engine, stored, zone) == [format_time(moment) for moment in stored]


@pytest.mark.parametrize(
    "stored",
    [
        "0044-03-15 12:00:00+00 BC",
        "2025-01-01 00:00:00+00 BC",
        "infinity",
        "-infinity",
        "10000-01-01 00:00:00+00",
        "1969-12-31 23:59:59.999999+00",
        "1970-01-01 05:29:59.999999+05:30",
    ],
)
def test_a_time_outside_the_years_1970_to_9999_reads_as_none(
    pg_engine: Engine, stored: str
) -> None:
    assert _walk_texts(pg_engine, [stored], "Asia/Kolkata") == [None]


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        ("1970-01-01 00:00:00+00", "1970-01-01T00:00:00.000000Z"),
        ("9999-12-31 23:59:59.999999+00", "9999-12-31T23:59:59.999999Z"),
        ("2024-02-29 23:30:00-01", "2024-03-01T00:30:00.000000Z"),
    ],
)
def test_the_first_and_last_times_are_kept(pg_engine: Engine, stored: str, text: str) -> None:
    assert _walk_texts(pg_engine, [stored], "Pacific/Chatham") == [text]
