"""The register's entries, read from the agreements, datasets and outputs themselves.

An agreement is listed when the version in force says its parties allow it
(`transparency.register`, with a lay summary) and it has been approved: a draft or an
amendment under review changes nothing here until it is approved. Nothing is typed twice: the
title, organisations, datasets, laws and legal bases, dates and released outputs are those the
agreement and its outputs hold. The register names datasets, never columns, people or rows,
and it lists only outputs that are published and not withdrawn under an incident (the public
outputs page decides that, here reused). The fields follow the HDR UK data use register's
model where this service holds the fact (docs/transparency.md maps them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.outputs.queries import published_outputs, withdrawn_outputs

LISTED = (
    AgreementStatus.APPROVED,
    AgreementStatus.EXECUTED,
    AgreementStatus.ACTIVE,
    AgreementStatus.EXPIRED,
    AgreementStatus.TERMINATED,
    AgreementStatus.CLOSED,
)

# The columns of the CSV download, in order (and the JSON keys).
FIELDS = (
    "reference",
    "project_title",
    "lay_summary",
    "data_provider",
    "recipient_organisation",
    "datasets",
    "laws",
    "legal_basis",
    "status",
    "approved_on",
    "effective_date",
    "end_date",
    "released_outputs",
)


@dataclass(frozen=True)
class ReleasedOutput:
    reference: str
    title: str
    published_on: dt.date | None
    output_id: int


@dataclass(frozen=True)
class Entry:
    agreement_id: int
    reference: str
    project_title: str
    lay_summary: str
    data_provider: str
    recipient_organisation: str
    datasets: tuple[str, ...]
    laws: tuple[str, ...]
    legal_basis: tuple[str, ...]
    status: str
    approved_on: dt.date | None
    effective_date: dt.date
    end_date: dt.date
    outputs: tuple[ReleasedOutput, ...]

    def as_row(self) -> dict[str, str]:
        """The entry as text, one value per FIELDS name (lists joined with '; ')."""
        values = self.as_json()
        values["released_outputs"] = "; ".join(f"{o.reference} {o.title}" for o in self.outputs)
        return {
            name: "; ".join(value) if isinstance(value, list) else str(value or "")
            for name, value in values.items()
        }

    def as_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "project_title": self.project_title,
            "lay_summary": self.lay_summary,
            "data_provider": self.data_provider,
            "recipient_organisation": self.recipient_organisation,
            "datasets": list(self.datasets),
            "laws": list(self.laws),
            "legal_basis": list(self.legal_basis),
            "status": self.status,
            "approved_on": self.approved_on.isoformat() if self.approved_on else None,
            "effective_date": self.effective_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "released_outputs": [
                {
                    "reference": o.reference,
                    "title": o.title,
                    "published_on": o.published_on.isoformat() if o.published_on else None,
                }
                for o in self.outputs
            ],
        }


def listed_versions(session: Session) -> list[tuple[Agreement, AgreementVersion]]:
    """The agreements on the register, each with the version in force that allows it."""
    listed = []
    for agreement in session.scalars(
        select(Agreement).where(Agreement.status.in_(LISTED)).order_by(Agreement.reference)
    ):
        version = agreement.current_version
        if version is not None and version.public_register:
            listed.append((agreement, version))
    return listed


def entries(session: Session) -> list[Entry]:
    withdrawn = withdrawn_outputs(session)
    released: dict[int, list[ReleasedOutput]] = {}
    for output in published_outputs(session):
        if output.id in withdrawn:
            continue
        released.setdefault(output.agreement_id, []).append(
            ReleasedOutput(
                reference=output.reference,
                title=output.title,
                published_on=output.published_at.date() if output.published_at else None,
                output_id=output.id,
            )
        )
    listed: list[Entry] = []
    for agreement, version in listed_versions(session):
        laws = {str(law["code"]): str(law["label"]) for law in version.laws}
        ended = agreement.ended_at.date() if agreement.ended_at else None
        listed.append(
            Entry(
                agreement_id=agreement.id,
                reference=agreement.reference,
                project_title=version.title,
                lay_summary=version.lay_summary,
                data_provider=agreement.provider.name,
                recipient_organisation=agreement.recipient.name,
                datasets=tuple(sorted({c.dataset.name for c in version.covered})),
                laws=tuple(laws.values()),
                legal_basis=tuple(
                    f"{laws.get(code, code)}: {basis}"
                    for code, basis in sorted(version.legal_bases.items())
                    if basis
                ),
                status=AgreementStatus(agreement.status).label,
                approved_on=version.approved_at.date() if version.approved_at else None,
                effective_date=version.effective_date,
                end_date=min(ended, version.expiry_date) if ended else version.expiry_date,
                outputs=tuple(released.get(agreement.id, ())),
            )
        )
    return listed
