"""The check a change only a dataset's own stewards may make starts with: the permission, the
dataset, and being one of its stewards, each refusal recorded under the change's event type."""

from __future__ import annotations

from sqlalchemy.orm import Session

from governance import authz
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.datasets.models import Dataset
from governance.identity.actors import Actor
from governance.kernel.errors import NotFound


def dataset_for_steward(
    session: Session,
    dataset_id: int,
    *,
    by: Actor,
    permission: Permission,
    event: AuditType,
    message: str,
) -> Dataset:
    """The dataset, once `by` holds `permission` and is one of its stewards (403, recorded as a
    refused `event`, otherwise; 404 if there is no such dataset)."""
    refusal = {
        "event_type": event,
        "target_type": "dataset",
        "target_id": dataset_id,
        "dataset_id": dataset_id,
    }
    authz.require(by, permission, audit=refusal)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"There is no dataset {dataset_id}.")
    rules.require(rules.steward_of_dataset, by, dataset, message=message, audit=refusal)
    return dataset
