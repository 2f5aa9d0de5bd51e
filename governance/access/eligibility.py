"""Who may be granted what: the agreement's terms, checked at submission and at approval.

The requester must be authorised personnel on an active agreement that covers the columns for
the stated permitted use, with current training, including the training the agreement's laws
require (the CJIS Security Policy requires security awareness training of every authorised
person). Each refusal names the clause it comes from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from governance.access import agreement_seals
from governance.agreements.models import AgreementVersion
from governance.agreements.queries import in_force_version
from governance.audit.models import AuditType
from governance.datasets import seals as dataset_seals
from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.kernel.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed


def check_eligibility(
    session: Session,
    *,
    user: User,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    end_date: dt.date,
    download: bool,
    now: dt.datetime,
) -> AgreementVersion:
    """The in-force agreement version that allows this access, or a refusal naming why."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"There is no dataset {dataset_id}.")
    version = in_force_version(session, agreement_id)
    if version is None:
        raise InvalidTransition(
            "The agreement is not active, so nobody can be given access under it."
        )
    refusal = {
        "event_type": AuditType.ACCESS_REQUEST_SUBMIT,
        "target_type": "user",
        "target_id": user.id,
        "agreement_id": agreement_id,
        "agreement_version": version.number,
        "dataset_id": dataset_id,
    }
    if not agreement_seals.holds(session, agreement_id):
        # Its scope and personnel may not be the ones approved: nobody is granted under it.
        raise PermissionDenied(
            agreement_seals.refusal(agreement_id),
            clause=agreement_seals.AGREEMENT_SEAL_CLAUSE,
            audit={
                **refusal,
                "clause": agreement_seals.AGREEMENT_SEAL_CLAUSE,
                "rule": agreement_seals.AGREEMENT_SEAL_RULE,
            },
        )
    # A column's class may have been lowered by SQL (a direct identifier a single steward
    # would then grant): nobody is granted any of the dataset until it is restored.
    dataset_seals.require(session, dataset_id, refusal, fresh=True)
    if not version.is_personnel(user.id):
        raise PermissionDenied(
            f"{user.name} is not authorised personnel on this agreement.",
            clause="personnel",
            audit={**refusal, "clause": "personnel"},
        )
    missing = version.required_courses() - user.current_courses(now.date())
    if missing:
        raise PermissionDenied(
            _training_sentence(missing),
            clause="privacy.laws",
            audit={
                **refusal,
                "clause": "privacy.laws",
                "detail": {"missing_training": sorted(missing)},
            },
        )
    if not columns:
        raise ValidationFailed("Ask for at least one column.", {"columns": "Choose one."})
    unknown = [c for c in columns if dataset.column(c) is None]
    if unknown:
        raise ValidationFailed(
            "Some columns are not in this dataset.", {"columns": ", ".join(unknown)}
        )
    uncovered = sorted(set(columns) - version.covered_columns(dataset_id))
    if uncovered:
        raise ValidationFailed(
            "The agreement does not cover some of these columns (clause scope.datasets).",
            {"columns": ", ".join(uncovered)},
        )
    if purpose not in version.permitted_uses:
        raise ValidationFailed(
            f"{purpose!r} is not one of the agreement's permitted uses "
            "(clause scope.permitted_uses).",
            {"purpose": "Choose a permitted use."},
        )
    if end_date < now.date():
        raise ValidationFailed("The end date is in the past.", {"end_date": "In the past."})
    if end_date > version.expiry_date:
        raise ValidationFailed(
            f"Access cannot outlast the agreement, which expires on "
            f"{version.expiry_date.isoformat()} (clause term.expiry_date).",
            {"end_date": f"On or before {version.expiry_date}."},
        )
    if download and not version.allows_row_level_download:
        raise ValidationFailed(
            "The agreement does not allow row-level data to be downloaded "
            "(clause access.row_level_download).",
            {"download": "Not allowed by the agreement."},
        )
    return version


def _training_sentence(missing: Iterable[Any]) -> str:
    return f"Training is not current: {', '.join(sorted(c.label for c in missing))}."


def person_blockers(version: AgreementVersion, user: User, today: dt.date) -> list[str]:
    """Why this person cannot be granted anything under the version, whatever they ask: shown
    before the request form is filled in (the same checks refuse the request)."""
    if not version.is_personnel(user.id):
        return [
            f"{user.name} is not authorised personnel on this agreement (clause "
            "personnel): ask its privacy officer to add you in an amendment."
        ]
    missing = version.required_courses() - user.current_courses(today)
    if missing:
        return [
            f"{_training_sentence(missing)} The agreement requires it (clause "
            "privacy.laws): record the renewed training first, then ask."
        ]
    return []


def end_of_day(day: dt.date) -> dt.datetime:
    """The first moment after `day` (UTC): a date-only end is inclusive of the whole day."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def agreement_end(version: AgreementVersion) -> dt.datetime:
    """The expiry date is the agreement's last day in force."""
    return end_of_day(version.expiry_date)


def grant_end(session: Session, agreement_id: int, end_date: dt.date) -> dt.datetime:
    """A grant lasts to the end of its end date (UTC), and never beyond the agreement."""
    version = in_force_version(session, agreement_id)
    if version is None:
        return end_of_day(end_date)
    return min(end_of_day(end_date), agreement_end(version))
