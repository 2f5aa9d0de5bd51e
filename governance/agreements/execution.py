"""Execution: the provider's countersignature of an approved version.

Internal approval says the service's privacy officers accept the terms; the terms bind the
provider only once its signatory has signed them. A privacy officer records that signature (who
signed, their title and organisation, the date and the reference of the signed copy) as the
`execute` transition. Only an executed agreement becomes active (at once if its effective date
has come, else on that date by the scheduler); an approved amendment takes effect only when its
countersignature is recorded, replacing the version in force, which governs until then: the
minimum cell size, the partner preview and the scope are the provider's protections, and the
recipient's officers alone must not be able to change them.

The date signed may be in the past (the copy reaches the officer after it was signed) but not
before the version's approval nor after today; an amendment takes effect when the signature is
recorded, not on the date signed, since what was read and released in between was decided
under the version then in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.agreements.clauses import clause_diff
from governance.agreements.common import move_agreement, start_transition
from governance.agreements.impact import confirmed
from governance.agreements.lifecycle import VERSION_LIFECYCLE, Action, VersionAction
from governance.agreements.models import AgreementVersion
from governance.identity.actors import Actor
from governance.kernel.errors import ValidationFailed
from governance.kernel.text import clean_line


@dataclass(frozen=True)
class Countersignature:
    """What the provider's signed copy states, as typed by the privacy officer."""

    name: str
    title: str
    organisation: str
    signed_on: dt.date | None
    signed_copy_reference: str


def _checked(signature: Countersignature, today: dt.date) -> Countersignature:
    errors: dict[str, str] = {}
    cleaned = Countersignature(
        name=clean_line(signature.name, "name", errors, max_length=200),
        title=clean_line(signature.title, "title", errors, max_length=200),
        organisation=clean_line(signature.organisation, "organisation", errors, max_length=200),
        signed_on=signature.signed_on,
        signed_copy_reference=clean_line(
            signature.signed_copy_reference, "signed_copy_reference", errors, max_length=200
        ),
    )
    if signature.signed_on is None:
        errors["signed_on"] = "Give the date the provider signed (YYYY-MM-DD)."
    elif signature.signed_on > today:
        errors["signed_on"] = f"{signature.signed_on} is in the future."
    if errors:
        raise ValidationFailed(
            "The provider's countersignature is not complete; nothing was recorded.", errors
        )
    return cleaned


def _same(a: str, b: str) -> bool:
    """Equal as a person reads them: case and runs of space aside."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _check_parties(
    signature: Countersignature, *, provider: str, signatories: list[dict[str, str]]
) -> None:
    """The countersignature binds the provider only if it is the provider's, by a signatory the
    approved terms name for it: a signature typed for another organisation or by someone the
    terms do not name would make an agreement active that the provider never signed."""
    errors: dict[str, str] = {}
    if not _same(signature.organisation, provider):
        errors["organisation"] = (
            f"The data provider is {provider}: only its signature makes the agreement binding."
        )
    named = [s["name"] for s in signatories if s.get("party") == "provider"]
    if named and not any(_same(signature.name, name) for name in named):
        errors["name"] = (
            f"The terms name {' or '.join(named)} to sign for the provider. If someone else "
            f"signed, amend the agreement's signatories first."
        )
    if errors:
        raise ValidationFailed(
            "The countersignature is not the provider's signatory's; nothing was recorded.",
            errors,
        )


@dataclass(frozen=True)
class Execution:
    """The version countersigned, the version it replaced when it is an amendment, and what
    the event recorded of the amendment's impact (empty for a first version)."""

    version: AgreementVersion
    superseded: AgreementVersion | None
    impact: dict[str, Any]


def record_execution(
    session: Session,
    *,
    agreement_id: int,
    signature: Countersignature,
    impact_digest: str | None,
    by: Actor,
    now: dt.datetime,
) -> Execution:
    """Record the provider's countersignature of the approved version (a first version or an
    amendment): 403 without `agreement:execute`, 409 unless a version awaits it, 422 for an
    incomplete signature, one not the provider's named signatory's, or a version whose expiry
    date has passed, then 409 (with the impact now) for an amendment whose impact is not the
    one shown (`impact_digest`). A countersigned amendment replaces the version in force
    here; `service.execute` then activates a first version if its date has come."""
    agreement = start_transition(session, Action.EXECUTE, agreement_id, by)
    version = agreement.version_to_countersign
    assert version is not None  # the lifecycle table allows execute only when one awaits it
    today = now.astimezone(dt.UTC).date()
    signed = _checked(signature, today)
    assert signed.signed_on is not None
    _check_parties(signed, provider=agreement.provider.name, signatories=version.signatories)
    approved_on = version.approved_at.astimezone(dt.UTC).date() if version.approved_at else today
    if signed.signed_on < approved_on:
        raise ValidationFailed(
            "The provider cannot countersign before the internal approval; nothing was recorded.",
            {"signed_on": f"The version was approved on {approved_on}."},
        )
    if version.expiry_date < today:
        raise ValidationFailed(
            "The version's expiry date has passed: it can no longer come into force. Nothing "
            "was recorded.",
            {"expiry_date": f"{version.expiry_date} is in the past."},
        )
    previous = agreement.current_version if version is agreement.working_version else None
    detail: dict[str, Any] = {
        "signatory": signed.name,
        "title": signed.title,
        "organisation": signed.organisation,
        "signed_on": signed.signed_on.isoformat(),
        "signed_copy_reference": signed.signed_copy_reference,
        "amendment": previous is not None,
    }
    impact: dict[str, Any] = {}
    if previous is not None:
        detail.update(supersedes=previous.number, changes=clause_diff(previous, version))
        impact = confirmed(
            session,
            agreement,
            version,
            shown_digest=impact_digest,
            allowed=[Action.DISCARD_AMENDMENT, Action.EXECUTE],
        )
        detail.update(impact)
    # The agreement moves first: its state is read from the working version changed below.
    move_agreement(session, agreement, Action.EXECUTE, by=by, version=version, detail=detail)
    if previous is not None:
        VERSION_LIFECYCLE.apply(session, version, VersionAction.COUNTERSIGN, by=by)
        VERSION_LIFECYCLE.apply(session, previous, VersionAction.SUPERSEDE, by=by)
        agreement.current_version_number = version.number
        agreement.working_version_number = None
    version.executed_on = signed.signed_on
    version.provider_signatory_name = signed.name
    version.provider_signatory_title = signed.title
    version.provider_signatory_organisation = signed.organisation
    version.signed_copy_reference = signed.signed_copy_reference
    version.execution_recorded_at = now
    version.execution_recorded_by_label = by.email
    session.flush()
    return Execution(version=version, superseded=previous, impact=impact)
