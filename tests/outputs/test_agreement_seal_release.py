"""No output leaves under an agreement whose terms were changed with the database alone (a
minimum cell size lowered): none is stored, none released when its preview ends, none
published (tests/access/test_agreement_seals.py has the attacker's other moves)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.kernel.errors import PermissionDenied
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.models import Output, OutputStatus
from tests.access.test_grant_seals import as_the_dba
from tests.conftest import fresh
from tests.outputs.builders import DAY, T0, check_twice, outputs_system, produce, released
from tests.support import People

AGREEMENT_SEAL = "agreement-seal"


def lower_the_minimum(app: Flask, db: Session, agreement: Agreement) -> None:
    as_the_dba(
        app,
        (
            "UPDATE agreement_version SET min_cell_size = 1 WHERE agreement_id = :agreement",
            {"agreement": agreement.id},
        ),
    )
    fresh(db)


def assert_refused(refused: pytest.ExceptionInfo[PermissionDenied]) -> None:
    assert "integrity check" in refused.value.message
    assert refused.value.audit is not None
    assert refused.value.audit["rule"] == AGREEMENT_SEAL


def test_no_output_is_stored_under_a_minimum_lowered_with_the_database_alone(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    lower_the_minimum(app, db, agreement)
    with pytest.raises(PermissionDenied) as refused:
        produce(db, people, agreement)
    assert_refused(refused)


def test_an_output_in_preview_is_not_released_once_the_minimum_was_lowered(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output_id = check_twice(db, people, produce(db, people, agreement)).id
    lower_the_minimum(app, db, agreement)
    output_preview.close_due_previews(db, outputs_system(), T0 + 40 * DAY)
    db.commit()
    output = fresh(db).get(Output, output_id)
    assert output is not None
    assert output.status == OutputStatus.IN_PREVIEW
    assert output.released_at is None


def test_a_released_output_is_not_published_once_the_minimum_was_lowered(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output_id = released(db, people, agreement).id
    lower_the_minimum(app, db, agreement)
    with pytest.raises(PermissionDenied) as refused:
        outputs.publish_output(db, output_id=output_id, by=people.privacy, now=T0 + 41 * DAY)
    assert_refused(refused)
