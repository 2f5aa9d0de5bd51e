"""The released outputs a stricter minimum cell size would no longer allow, for an amendment's
impact page (committees/impact.py): each released or published output of the agreement is
checked again, by the same content check that released it, against the amended threshold."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementVersion
from governance.committees.impact import ImpactSection
from governance.kernel.errors import ValidationFailed
from governance.outputs.content import check_result
from governance.outputs.models import Output, OutputStatus


def outputs_below_new_threshold(
    session: Session, agreement: Agreement, version: AgreementVersion
) -> ImpactSection:
    title = f"Released outputs a minimum cell size of {version.min_cell_size} would not allow"
    previous = agreement.current_version
    if previous is not None and version.min_cell_size <= previous.min_cell_size:
        return ImpactSection(title, [])
    lines = []
    released = session.scalars(
        select(Output)
        .where(
            Output.agreement_id == agreement.id,
            Output.status.in_([OutputStatus.RELEASED, OutputStatus.PUBLISHED]),
        )
        .order_by(Output.id)
    )
    for output in released:
        try:
            check_result(output.result, min_cell_size=version.min_cell_size)
        except ValidationFailed as refused:
            reason = next(iter(refused.fields.values()), refused.message)
            lines.append(f"Output #{output.id} “{output.title}”: {reason}")
    return ImpactSection(title, lines)
