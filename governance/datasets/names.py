"""Datasets as people name them, for the audit trail's sentences and filters (installed into
`audit.directory` by the registry)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from governance.datasets.models import Dataset
from governance.kernel.one_of import one_of

# Built once with one parameter for the list (see identity.names): asked at every audit search.
NAMES_BY_ID = select(Dataset.id, Dataset.name).where(one_of(Dataset.id, "dataset_ids"))


def datasets_by_id(session: Session | Connection, dataset_ids: Sequence[int]) -> dict[int, str]:
    """Also on a bare connection: the audit report names its datasets on its snapshot."""
    rows = session.execute(NAMES_BY_ID, {"dataset_ids": list(dataset_ids)})
    return {row[0]: row[1] for row in rows}


def datasets_matching(session: Session, text: str) -> list[tuple[int, str]]:
    """(id, name) of the dataset named exactly `text` (any case), else of those whose name
    contains it."""
    needle = " ".join(text.split()).lower()
    if not needle:
        return []
    exact = session.execute(
        select(Dataset.id, Dataset.name).where(func.lower(Dataset.name) == needle)
    ).all()
    if exact:
        return [(row[0], row[1]) for row in exact]
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(
        select(Dataset.id, Dataset.name)
        .where(func.lower(Dataset.name).like(pattern, escape="\\"))
        .order_by(Dataset.name)
        .limit(20)
    )
    return [(row[0], row[1]) for row in rows]
