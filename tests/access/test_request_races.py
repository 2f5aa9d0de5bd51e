"""Two stewards deciding the same access request at the same moment (found by the load test).

The second decision must wait for the first and then be refused as no longer possible; it must
never approve a request that was approved meanwhile (two grants for one request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.authz import Role
from governance.datasets.models import DatasetSteward
from governance.kernel.errors import InvalidTransition
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import People, add_person


def _race(
    app: Flask, first: Callable[[Session], object], second: Callable[[Session], object]
) -> list[BaseException]:
    """`first` acts in one session and holds its transaction open while `second` starts in
    another; then `first` commits. Returns what `second` raised."""
    raised: list[BaseException] = []
    with database(app).session() as one, database(app).session() as two:
        first(one)

        def other() -> None:
            try:
                second(two)
                two.commit()
            except BaseException as error:
                raised.append(error)
                two.rollback()

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.5)  # `second` is now waiting for `first`'s locks
        one.commit()
        thread.join(timeout=60)
        assert not thread.is_alive()
    return raised


def test_two_stewards_approving_at_once_make_one_grant(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    steward2 = add_person(
        db,
        app,
        email="steward2@test.example",
        name="Steward Two",
        org=people.lab,
        roles=(Role.DATA_STEWARD,),
    )
    db.add(DatasetSteward(dataset_id=datasets.arrests.id, user_id=steward2.id))
    db.commit()
    request = ask(db, people, agreement, datasets, columns=("sex",))
    stewards = {1: people.steward, 2: steward2}

    def approve(by: int) -> Callable[[Session], object]:
        return lambda session: requests.steward_approve(
            session,
            request_id=request.id,
            columns=["sex"],
            comment="",
            by=stewards[by],
            now=utcnow(),
        )

    raised = _race(app, approve(1), approve(2))
    assert [type(e) for e in raised] == [InvalidTransition]
    assert fresh(db).scalar(select(func.count()).select_from(Grant)) == 1


def test_withdrawal_racing_an_approval_is_refused(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets, columns=("sex",))
    raised = _race(
        app,
        lambda session: requests.steward_approve(
            session,
            request_id=request.id,
            columns=["sex"],
            comment="",
            by=people.steward,
            now=utcnow(),
        ),
        lambda session: requests.withdraw_request(
            session, request_id=request.id, by=people.analyst, now=utcnow()
        ),
    )
    assert [type(e) for e in raised] == [InvalidTransition]
    assert fresh(db).scalar(select(func.count()).select_from(Grant)) == 1
