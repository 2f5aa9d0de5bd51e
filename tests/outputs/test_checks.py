"""Output checking: never by the analyst who produced it (403, recorded), never the same
checker twice on one revision, two independent approvals when the agreement requires them,
a return needs reasons, and the permission comes before the state (403 before 409)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.authz import Role
from governance.identity.actors import System
from governance.kernel.errors import (
    DomainError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from governance.outputs import service as outputs
from governance.outputs.models import OutputStatus
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.outputs.builders import (
    SOON,
    T0,
    active_agreement,
    denied,
    event_types,
    produce,
    released,
)
from tests.support import People, add_person


def test_the_analyst_who_produced_an_output_cannot_check_it(
    db: Session, app: Flask, people: People, datasets: Datasets
) -> None:
    # An analyst who also holds the output checker role, named on the agreement.
    both = add_person(
        db,
        app,
        email="both@test.example",
        name="Both",
        org=people.lab,
        roles=(Role.ANALYST, Role.OUTPUT_CHECKER),
    )
    agreement = active_agreement(
        db,
        people,
        datasets,
        personnel={people.analyst.id: "principal_investigator", both.id: "analyst"},
    )
    output = produce(db, people, agreement, by=both)
    with pytest.raises(PermissionDenied, match="separation of duties") as refused:
        outputs.check_output(db, output_id=output.id, approve=True, reasons="", by=both, now=T0)
    assert refused.value.audit is not None
    assert refused.value.audit["rule"] == "checker-not-analyst"
    # The web layer records refusals; record it as it does and check the trail.
    from governance.audit import service as audit

    db.rollback()
    audit.record_refusal(db, refused.value.audit, by=both)
    db.commit()
    [event] = denied(db, "output:check_approve")
    assert (event.actor_id, event.target_id, event.rule) == (
        both.id,
        str(output.id),
        "checker-not-analyst",
    )
    assert fresh(db).get(type(output), output.id).checks == []  # type: ignore[union-attr]


def test_the_same_checker_cannot_approve_twice(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.checker, now=T0
    )
    db.commit()
    with pytest.raises(PermissionDenied, match="independent") as refused:
        outputs.check_output(
            db, output_id=output.id, approve=True, reasons="again", by=people.checker, now=T0 + SOON
        )
    assert refused.value.audit
    assert refused.value.audit["rule"] == "independent-checkers"
    db.rollback()
    assert fresh(db).get(type(output), output.id).status == OutputStatus.PRODUCED  # type: ignore[union-attr]
    assert len(output.approvals) == 1


def test_a_return_needs_reasons_and_goes_back_to_the_analyst(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    with pytest.raises(ValidationFailed) as missing:
        outputs.check_output(
            db, output_id=output.id, approve=False, reasons="  ", by=people.checker, now=T0
        )
    assert "reasons" in missing.value.fields
    db.rollback()
    outputs.check_output(
        db,
        output_id=output.id,
        approve=False,
        reasons="Table by_sex: the total lets the suppressed cells be "
        "recovered from the headline table.",
        by=people.checker,
        now=T0,
    )
    db.commit()
    assert output.status == OutputStatus.RETURNED
    with pytest.raises(InvalidTransition):
        outputs.check_output(
            db, output_id=output.id, approve=True, reasons="", by=people.privacy, now=T0
        )
    db.rollback()
    assert event_types(db, output.id) == ["output:produce", "output:check_return"]


@pytest.mark.parametrize(
    ("who", "refusal", "rule"),
    [
        ("analyst2", PermissionDenied, "role-permission:output:check"),
        # Who may not even see the output is answered as for a missing one (404).
        ("partner", NotFound, "output-visibility"),
        ("steward", NotFound, "output-visibility"),
        ("compliance", NotFound, "output-visibility"),
    ],
)
def test_people_without_output_check_are_refused_and_recorded(
    db: Session,
    people: People,
    agreement: Agreement,
    who: str,
    refusal: type[DomainError],
    rule: str,
) -> None:
    output = produce(db, people, agreement)
    with pytest.raises(refusal) as refused:
        outputs.check_output(
            db, output_id=output.id, approve=True, reasons="", by=getattr(people, who), now=T0
        )
    assert refused.value.audit
    assert refused.value.audit["rule"] == rule
    assert refused.value.audit["event_type"] == "output:check_approve"


def test_permission_is_refused_before_the_state(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = released(db, people, agreement)
    with pytest.raises(PermissionDenied):  # 403, although the state would also refuse
        outputs.check_output(
            db, output_id=output.id, approve=True, reasons="", by=people.partner, now=T0
        )
    db.rollback()
    with pytest.raises(InvalidTransition) as conflict:  # 409 for a checker
        outputs.check_output(
            db, output_id=output.id, approve=True, reasons="", by=people.privacy2, now=T0
        )
    assert "publish" in conflict.value.allowed
    assert "correct" in conflict.value.allowed


def test_only_the_agreement_personnel_produce_its_outputs(
    db: Session, app: Flask, people: People, agreement: Agreement
) -> None:
    with pytest.raises(PermissionDenied, match="analysis:run"):
        produce(db, people, agreement, by=people.checker, commit=False)
    db.rollback()
    outsider = add_person(
        db,
        app,
        email="outsider@test.example",
        name="Outsider",
        org=people.lab,
        roles=(Role.ANALYST,),
    )
    db.commit()
    with pytest.raises(PermissionDenied, match="personnel") as refused:
        produce(db, people, agreement, by=outsider, commit=False)
    assert refused.value.audit
    assert refused.value.audit["rule"] == "agreement-personnel"
    db.rollback()
    # The host operator (a System actor) may store an output, e.g. re-importing one.
    assert produce(db, people, agreement, by=System("operator")).produced_by_id is None


def test_the_kind_must_be_permitted_by_the_agreement(
    db: Session, people: People, agreement: Agreement
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        produce(db, people, agreement, kind="rate_comparison", commit=False)
    assert refused.value.clause == "scope.permitted_uses"
