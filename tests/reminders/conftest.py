"""Reminder tests: a real local SMTP server (aiosmtpd), the access world (a dataset with a
steward, an active agreement), and a helper that runs a periodic job at a simulated moment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance import periodic
from governance.agreements.models import Agreement
from governance.datasets.models import DatasetSteward
from governance.kernel.extensions import database
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.mailqueue import smtp_server, work_mail
from tests.outputs.test_notifications import Inbox
from tests.support import People


@pytest.fixture
def datasets(db: Session, people: People) -> Datasets:
    made = make_datasets(db, people)
    db.add(DatasetSteward(dataset_id=made.arrests.id, user_id=people.steward.id))
    db.commit()
    return made


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(db, people, datasets)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    with smtp_server(handler) as port:
        yield handler, port


@pytest.fixture
def app_config(database_url: str, inbox: tuple[Inbox, int]) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": inbox[1],
        "MAIL_SENDER": "governance@lab.example",
        "BASE_URL": "https://governance.lab.example",
        "MAIL_MAX_ATTEMPTS": 3,
        "SERVICE_LEVELS": {"Request to review": 5},
    }


@pytest.fixture
def mail(inbox: tuple[Inbox, int], app: Flask) -> Inbox:
    inbox[0].worker = lambda: work_mail(app)
    return inbox[0]


@pytest.fixture
def run(app: Flask) -> Any:
    """Run one periodic job, in its own transaction, as if it were `now`."""

    def run_at(job: periodic.PeriodicJob, now: dt.datetime) -> int:
        return periodic.run_job(database(app).sessions, job, now=now)

    return run_at
