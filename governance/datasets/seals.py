"""The keyed seal of each declared dataset column, so that someone with the database but not
the key files cannot change what enforcement reads of a column (kernel/row_seals.py says how a
seal is made; kernel/sealed_kinds.py seals the rows at every write of the application).

What a column's seal covers: its id, dataset, name, type, classification and declared lowest
value. What a DBA would gain by changing them, and where the seal stops it:

* the classification: a direct identifier (`ssn`, `name`) reclassified as a quasi-identifier
  is filed and granted by a single steward, recorded at reads as an ordinary column, and may
  group an output (analysis/scope.py `protected_columns`); a free-text column likewise;
* the declared lowest value: the origin of every rounded mean of the column
  (datasets/lowest_values.py); moved between two releases, the two means give the exact
  count (tests/analysis/test_origin_across_versions.py);
* the name or type: another column's seal copied onto it, or a number read as text.

A steward's assignment to a dataset (`dataset_steward`: dataset, person) is sealed too: one
inserted by SQL would let a steward of another dataset (or the DBA's own steward account)
approve this one's requests alone. An assignment whose seal fails makes nobody a steward
(`Dataset.steward_ids`, checked as the row is loaded, as a person's roles are; rule
`steward-seal`).

A dataset with a column whose seal does not hold is refused as a whole, under rule
`column-seal`: every read through the door (access/ended_grants.py, memoised per policy epoch
as agreement seals are), every access request and decision on it (access/eligibility.py), and
every analysis run reading it (analysis/scope.py, checked afresh per run). Rows from before
seals were kept are sealed once by `governance init` (access/seals.py `seal_unsealed_once`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from governance.authz.read_memo import remembered
from governance.datasets.models import DatasetColumn, DatasetSteward
from governance.kernel import sealed_kinds
from governance.kernel.errors import PermissionDenied
from governance.kernel.sealed_kinds import SealedKind

log = logging.getLogger(__name__)

COLUMN_SEAL_RULE = "column-seal"
COLUMN_SEAL_CLAUSE = "dataset.integrity"
STEWARD_SEAL_RULE = "steward-seal"

COLUMN = SealedKind(
    "dataset_column",
    DatasetColumn,
    (
        DatasetColumn.id,
        DatasetColumn.dataset_id,
        DatasetColumn.name,
        DatasetColumn.type,
        DatasetColumn.classification,
        DatasetColumn.lowest_value,
    ),
    COLUMN_SEAL_RULE,
    "Dataset column",
    null(),  # a column is about no one person
    # Put back to what the trail's `dataset:*` events last record, its old seal holds again
    # (a lowest value through the service's own declaration); any other value stays refused.
    remedy="set its class and lowest value back to what the audit trail last records, or "
    "restore its row, with its seal, from a trusted copy",
)

STEWARD = SealedKind(
    "dataset_steward",
    DatasetSteward,
    (DatasetSteward.dataset_id, DatasetSteward.user_id),
    STEWARD_SEAL_RULE,
    "Steward assignment",
    DatasetSteward.user_id,
    remedy="remove it, and assign the steward again through the service if it was meant",
)

#: The dataset kinds (registered with kernel/sealed_kinds.py by registry.py).
KINDS = (COLUMN, STEWARD)


# A steward assignment whose seal fails makes nobody a steward (`Dataset.steward_ids`).
sealed_kinds.flag_broken_on_load(STEWARD)


def broken_columns(session: Session, dataset_id: int) -> list[str]:
    """The names of the dataset's columns whose seal does not hold, checked now."""
    rows = session.execute(
        select(*COLUMN.fields, DatasetColumn.seal)
        .where(DatasetColumn.dataset_id == dataset_id)
        .order_by(DatasetColumn.position)
    )
    broken = [r.name for r in rows if not sealed_kinds.holds(session, COLUMN, r)]
    if broken:
        log.critical(
            "dataset %s column(s) %s fail their seal check (rule %s)",
            dataset_id,
            ", ".join(broken),
            COLUMN_SEAL_RULE,
        )
    return broken


def check(session: Session, dataset_id: int) -> bool:
    """Whether every declared column of the dataset holds its seal, checked now."""
    return not broken_columns(session, dataset_id)


def holds(session: Session, dataset_id: int) -> bool:
    """`check`, remembered per process behind the policy epoch (every change the service
    makes to a column bumps it; one made outside it is seen at the next bump, or within the
    memo's few seconds), so the door's per-read cost stays one memo look-up."""
    return remembered(session, ("column_seal", dataset_id), lambda: check(session, dataset_id))


def refusal(dataset: str | int) -> str:
    """What a refusal on a dataset with a tampered column says."""
    return (
        f"Dataset {dataset} fails its integrity check: a column's classification, type or "
        "declared lowest value was written or changed in the database outside the service, "
        "so nothing is allowed on it. The compliance team has the record."
    )


def require(
    session: Session, dataset_id: int, audit: dict[str, Any], *, fresh: bool = False
) -> None:
    """Refuse (403, recorded with `audit` and the rule) unless every column's seal holds;
    `fresh` checks now rather than under the memo."""
    if (check if fresh else holds)(session, dataset_id):
        return
    raise PermissionDenied(
        refusal(dataset_id),
        clause=COLUMN_SEAL_CLAUSE,
        audit={**audit, "clause": COLUMN_SEAL_CLAUSE, "rule": COLUMN_SEAL_RULE},
    )
