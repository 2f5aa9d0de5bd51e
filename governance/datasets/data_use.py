"""A dataset's data-use conditions as GA4GH DUO terms, stated by its stewards.

Only a steward of the dataset states them (`dataset:set_data_use` and being assigned to it).
Every change is audited with the conditions before and after. A change that loosens them (a
broader permission, a modifier dropped or its parameter changed) needs a reason, which the
audit event keeps: the conditions come from the data subjects' consent, so widening them is
something a steward answers for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.duo.matching import Conditions
from governance.datasets.duo.ontology import Ontology, duo
from governance.datasets.duo.statements import (
    conditions_from_record,
    conditions_record,
    describe_conditions,
    read_conditions,
)
from governance.datasets.models import Dataset
from governance.datasets.stewardship import dataset_for_steward
from governance.identity.actors import Actor
from governance.kernel.errors import ValidationFailed

MAX_REASON = 2000


def conditions_of(dataset: Dataset) -> Conditions | None:
    return conditions_from_record(dataset.data_use) if dataset.data_use else None


def described(dataset: Dataset) -> dict[str, Any] | None:
    """The conditions with ids and labels (pages, API), or None when none are stated."""
    conditions = conditions_of(dataset)
    return describe_conditions(duo(), conditions) if conditions else None


def at_least_as_strict(ontology: Ontology, new: Conditions, old: Conditions) -> bool:
    """Every purpose `new` allows, `old` allowed: the permission is the same or narrower, the
    disease the same, and every old modifier kept with its parameter."""
    if not ontology.is_a(new.permission, old.permission):
        return False
    if old.disease and new.disease != old.disease:
        return False
    return all(new.modifiers.get(term) == value for term, value in old.modifiers.items())


def set_data_use(
    session: Session,
    *,
    dataset_id: int,
    permission: str,
    disease: str,
    modifiers: Mapping[str, str],
    reason: str,
    by: Actor,
    now: dt.datetime,
) -> Dataset:
    dataset = dataset_for_steward(
        session,
        dataset_id,
        by=by,
        permission=Permission.DATASET_SET_DATA_USE,
        event=AuditType.DATASET_SET_DATA_USE,
        message="Only a steward of this dataset states its data-use conditions.",
    )
    ontology = duo()
    new = read_conditions(ontology, permission=permission, disease=disease, modifiers=modifiers)
    old = conditions_of(dataset)
    loosened = old is not None and not at_least_as_strict(ontology, new, old)
    why = " ".join(reason.split())
    if loosened and not why:
        raise ValidationFailed(
            "These conditions allow uses the current ones do not: say why they are loosened.",
            {"reason": "Required when the conditions are loosened."},
        )
    if len(why) > MAX_REASON:
        raise ValidationFailed("The reason is too long.", {"reason": "At most 2000 characters."})
    dataset.data_use = conditions_record(new)
    session.flush()
    audit.record(
        session,
        AuditType.DATASET_SET_DATA_USE,
        by=by,
        dataset_id=dataset.id,
        target_type="dataset",
        target_id=dataset.id,
        clause="data_use",
        detail={
            "ontology": f"DUO {ontology.version}",
            "before": conditions_record(old) if old else None,
            "after": conditions_record(new),
            "loosened": loosened,
            **({"reason": why} if why else {}),
        },
        now=now,
    )
    return dataset
