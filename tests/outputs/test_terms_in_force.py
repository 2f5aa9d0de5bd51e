"""An output answers to the terms in force as well as to those it was produced under: an
amendment that takes effect while an output is on its way out (a larger minimum cell size,
two checkers, a longer partner preview, no publication) governs its checks, its corrections,
its preview and its publication, whichever version is stricter. The agreement's terms here
differ from every default (minimum cell size 13, a 21-day window, one checker)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.kernel.errors import ValidationFailed
from governance.outputs import service as outputs
from governance.outputs.lifecycle import State, state_of
from governance.outputs.queries import abilities
from governance.outputs.tasks import privacy_officer_output_tasks
from tests.agreements.builders import Datasets, amendment, countersign
from tests.outputs.builders import (
    DAY,
    SOON,
    T0,
    active_agreement,
    correct,
    produce,
    released,
)
from tests.support import People

FIRST = {"min_cell_size": 13, "two_checkers_required": False, "preview_window_days": 21}


def amended(db: Session, people: People, datasets: Datasets, agreement: Agreement, **terms: object):
    """The amendment in force: drafted, approved and countersigned by the provider."""
    amendment(db, people, datasets, agreement, **{**FIRST, **terms})
    countersign(db, people, agreement)
    db.commit()
    assert agreement.current_version_number == 2


def test_an_amendment_requiring_two_checkers_and_a_longer_preview_governs_an_output_in_checking(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = active_agreement(db, people, datasets, **FIRST)
    output = produce(db, people, agreement)
    amended(db, people, datasets, agreement, two_checkers_required=True, preview_window_days=45)

    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.checker, now=T0 + SOON
    )
    db.commit()
    assert state_of(output) == State.SECOND_CHECK
    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.privacy, now=T0 + SOON
    )
    db.commit()
    assert state_of(output) == State.IN_PREVIEW
    assert output.preview_closes_at == T0 + SOON + 45 * DAY


def test_a_correction_is_checked_against_the_minimum_cell_size_in_force(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = active_agreement(db, people, datasets, **FIRST)
    output = produce(db, people, agreement)
    outputs.check_output(
        db, output_id=output.id, approve=False, reasons="Say 38 of 120.", by=people.checker,
        now=T0 + SOON,
    )  # fmt: skip
    db.commit()
    # The treatment group (120 people) is below the amended minimum of 130.
    amended(db, people, datasets, agreement, min_cell_size=130)
    with pytest.raises(ValidationFailed, match="minimum cell size"):
        correct(db, people, output, T0 + DAY)
    db.rollback()
    assert output.revision == 1


def test_an_amendment_forbidding_publication_leaves_no_task_to_publish(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = active_agreement(db, people, datasets, **{**FIRST, "two_checkers_required": True})
    output = released(db, people, agreement)
    assert privacy_officer_output_tasks(db, people.privacy) != []
    amended(db, people, datasets, agreement, publication_allowed=False)
    assert not abilities(output, people.privacy, T0 + 41 * DAY).can_publish
    assert privacy_officer_output_tasks(db, people.privacy) == []
