"""The provider's preview: flags of exactly two kinds, pointing at a part, only by the
partner reviewers of THIS agreement's provider, only while the window is open; answers by
the analyst; acceptance by the partner; and no way for a partner to edit or block an output."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.authz import Permission
from governance.identity.models import User
from governance.kernel.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.lifecycle import RULES, TRANSITIONS, Action, State
from governance.outputs.models import Output, OutputStatus
from tests.outputs.builders import (
    DAY,
    T0,
    check_twice,
    event_types,
    headline_result,
    outputs_system,
    produce,
    report_pdf,
)
from tests.support import People


@pytest.fixture
def in_preview(db: Session, people: People, agreement: Agreement) -> Output:
    return check_twice(db, people, produce(db, people, agreement))


def flag(
    db: Session,
    output: Output,
    by: User,
    *,
    kind: str = "factual_error",
    part: str = "headline/comparison",
    days: int = 2,
) -> int:
    raised = output_preview.raise_flag(
        db,
        output_id=output.id,
        kind=kind,
        part=part,
        comment="The comparison group size is wrong.",
        by=by,
        now=T0 + days * DAY,
    )
    db.commit()
    return raised.id


@pytest.mark.parametrize(
    "kind",
    ["disagree_with_findings", "do_not_publish", "reject", "block", "other", "", "Factual_Error"],
)
def test_only_the_two_kinds_of_flag_are_accepted(
    db: Session, people: People, in_preview: Output, kind: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        flag(db, in_preview, people.partner, kind=kind)
    assert "kind" in refused.value.fields
    db.rollback()
    assert in_preview.flags == [] or all(f.id is None for f in in_preview.flags)


@pytest.mark.parametrize("kind", ["identifiable_information", "factual_error"])
def test_the_two_kinds_are_accepted(
    db: Session, people: People, in_preview: Output, kind: str
) -> None:
    flag(db, in_preview, people.partner, kind=kind, part="by_sex/total")
    assert [f.kind for f in in_preview.flags] == [kind]
    assert in_preview.flags[0].part_label == "Treatment group by sex: sex Total"


def test_a_flag_points_at_an_existing_part(db: Session, people: People, in_preview: Output) -> None:
    with pytest.raises(ValidationFailed) as refused:
        flag(db, in_preview, people.partner, part="row/3412")
    assert "part" in refused.value.fields


def test_a_partner_of_another_agency_cannot_flag(
    db: Session, people: People, in_preview: Output, other_partner: User
) -> None:
    """Another agency's partner does not see the output: answered as for a missing one."""
    with pytest.raises(NotFound) as refused:
        flag(db, in_preview, other_partner)
    assert refused.value.audit
    assert refused.value.audit["rule"] == "output-visibility"
    assert refused.value.audit["event_type"] == "output:flag"


def test_people_who_are_not_partner_reviewers_cannot_flag(
    db: Session, people: People, in_preview: Output
) -> None:
    for person in (people.analyst, people.privacy, people.checker):
        with pytest.raises(PermissionDenied):
            flag(db, in_preview, person)
        db.rollback()


def test_flags_only_while_the_window_is_open(
    db: Session, people: People, agreement: Agreement
) -> None:
    produced = produce(db, people, agreement)
    with pytest.raises(NotFound):  # not yet in preview: the partner does not see it yet
        flag(db, produced, people.partner)
    db.rollback()
    check_twice(db, people, produced)
    with pytest.raises(Conflict, match="ended"):  # window passed, job not yet run
        flag(db, produced, people.partner, days=31)


def test_partners_hold_no_action_that_edits_or_blocks() -> None:
    partner_actions = {
        a for a, rule in RULES.items() if rule.permission == Permission.OUTPUT_PREVIEW
    }
    assert partner_actions == {Action.FLAG, Action.ACCEPT, Action.NO_CONCERNS}
    # Neither leads anywhere but on towards clearing.
    for (state, action), steps in TRANSITIONS.items():
        if action in partner_actions:
            assert {s.target for s in steps} <= {state, State.CLEARED}
    assert not any(
        name in {a.value for a in Action}
        for name in ("edit", "reject", "block", "withdraw", "veto")
    )


def test_partners_cannot_correct_publish_check_or_resolve(
    db: Session, people: People, in_preview: Output
) -> None:
    calls = [
        lambda: outputs.correct_output(
            db,
            output_id=in_preview.id,
            result=headline_result(),
            pdf=report_pdf(),
            csv=in_preview.csv,
            summary="Softer wording.",
            by=people.partner,
            now=T0 + DAY,
        ),
        lambda: outputs.publish_output(
            db, output_id=in_preview.id, by=people.partner, now=T0 + DAY
        ),
        lambda: outputs.check_output(
            db,
            output_id=in_preview.id,
            approve=False,
            reasons="Do not publish.",
            by=people.partner,
            now=T0 + DAY,
        ),
        lambda: output_preview.resolve_flag(
            db, output_id=in_preview.id, flag_id=1, note="x", by=people.partner, now=T0 + DAY
        ),
        lambda: outputs.release_output(
            db, output_id=in_preview.id, by=people.partner, now=T0 + DAY
        ),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
        db.rollback()
    assert in_preview.status == OutputStatus.IN_PREVIEW
    assert in_preview.revision == 1


def test_an_unanswered_flag_keeps_the_output_until_answered_and_resolved(
    db: Session, people: People, in_preview: Output
) -> None:
    flag_id = flag(db, in_preview, people.partner)
    output_preview.close_due_previews(db, outputs_system(), T0 + 31 * DAY)
    db.commit()
    assert in_preview.status == OutputStatus.PREVIEW_ENDED
    with pytest.raises(Conflict, match="not been answered"):
        output_preview.resolve_flag(
            db,
            output_id=in_preview.id,
            flag_id=flag_id,
            note="Fine.",
            by=people.privacy,
            now=T0 + 32 * DAY,
        )
    db.rollback()
    output_preview.answer_flag(
        db,
        output_id=in_preview.id,
        flag_id=flag_id,
        answer="explained",
        text="The size is after matching.",
        by=people.analyst2,
        now=T0 + 32 * DAY,
    )
    db.commit()
    # The partner does not respond: a privacy officer resolves, and the output clears.
    with pytest.raises(PermissionDenied):
        output_preview.resolve_flag(
            db,
            output_id=in_preview.id,
            flag_id=flag_id,
            note="Fine.",
            by=people.checker,
            now=T0 + 40 * DAY,
        )
    db.rollback()
    output_preview.resolve_flag(
        db,
        output_id=in_preview.id,
        flag_id=flag_id,
        note="The explanation is correct: 120 after matching.",
        by=people.privacy,
        now=T0 + 40 * DAY,
    )
    db.commit()
    assert in_preview.status == OutputStatus.RELEASED
    assert in_preview.flags[0].resolution == "resolved_by_privacy_officer"
    assert event_types(db, in_preview.id)[-6:] == [
        "output:flag",
        "output:preview_close",
        "output:flag_answer",
        "output:flag_resolve",
        "output:clear",
        "output:release",
    ]


def test_a_privacy_officer_cannot_resolve_while_the_window_is_open(
    db: Session, people: People, in_preview: Output
) -> None:
    flag_id = flag(db, in_preview, people.partner)
    output_preview.answer_flag(
        db,
        output_id=in_preview.id,
        flag_id=flag_id,
        answer="explained",
        text="Correct as stated.",
        by=people.analyst,
        now=T0 + 3 * DAY,
    )
    db.commit()
    with pytest.raises(InvalidTransition):
        output_preview.resolve_flag(
            db,
            output_id=in_preview.id,
            flag_id=flag_id,
            note="Fine.",
            by=people.privacy,
            now=T0 + 4 * DAY,
        )


def test_answers_come_from_the_team_once(db: Session, people: People, in_preview: Output) -> None:
    flag_id = flag(db, in_preview, people.partner)
    with pytest.raises(PermissionDenied):
        output_preview.answer_flag(
            db,
            output_id=in_preview.id,
            flag_id=flag_id,
            answer="explained",
            text="x",
            by=people.partner,
            now=T0 + 3 * DAY,
        )
    db.rollback()
    with pytest.raises(ValidationFailed) as not_corrected:
        output_preview.answer_flag(
            db,
            output_id=in_preview.id,
            flag_id=flag_id,
            answer="corrected",
            text="Fixed.",
            by=people.analyst,
            now=T0 + 3 * DAY,
        )
    assert "answer" in not_corrected.value.fields
    db.rollback()
    output_preview.answer_flag(
        db,
        output_id=in_preview.id,
        flag_id=flag_id,
        answer="explained",
        text="As stated.",
        by=people.analyst,
        now=T0 + 3 * DAY,
    )
    db.commit()
    with pytest.raises(Conflict):
        output_preview.answer_flag(
            db,
            output_id=in_preview.id,
            flag_id=flag_id,
            answer="explained",
            text="Again.",
            by=people.analyst,
            now=T0 + 3 * DAY,
        )


def test_a_partner_of_another_agency_cannot_accept(
    db: Session, people: People, in_preview: Output, other_partner: User
) -> None:
    flag_id = flag(db, in_preview, people.partner)
    output_preview.answer_flag(
        db,
        output_id=in_preview.id,
        flag_id=flag_id,
        answer="explained",
        text="As stated.",
        by=people.analyst,
        now=T0 + 3 * DAY,
    )
    db.commit()
    with pytest.raises(NotFound):  # another agency's partner does not see the output
        output_preview.accept_answer(
            db, output_id=in_preview.id, flag_id=flag_id, by=other_partner, now=T0 + 4 * DAY
        )
    db.rollback()
    assert in_preview.status == OutputStatus.IN_PREVIEW


def test_accepting_one_of_two_flags_does_not_clear(
    db: Session, people: People, in_preview: Output
) -> None:
    first = flag(db, in_preview, people.partner)
    flag(db, in_preview, people.partner, kind="identifiable_information", part="by_sex/total")
    output_preview.answer_flag(
        db,
        output_id=in_preview.id,
        flag_id=first,
        answer="explained",
        text="As stated.",
        by=people.analyst,
        now=T0 + 3 * DAY,
    )
    output_preview.accept_answer(
        db, output_id=in_preview.id, flag_id=first, by=people.partner, now=T0 + 4 * DAY
    )
    db.commit()
    assert in_preview.status == OutputStatus.IN_PREVIEW
    assert len(in_preview.open_flags) == 1
