"""Declaring datasets: their provider, schema (column types and classifications) and stewards.

Declaring and changing a dataset needs `dataset:manage`. Once a version is stored, its schema
is fixed except for what cannot invalidate stored data: adding optional columns at the end,
editing descriptions, and reclassifying columns (recorded as its own audit event, because
classification decides who must approve access). Lowering a stored column's protection waits
for a privacy officer's approval (reclassification.py). Uploading data is in `ingestion.py`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, Role
from governance.datasets import lowest_values, reclassification
from governance.datasets.ingest import IngestLimits
from governance.datasets.models import (
    Classification,
    ColumnType,
    Dataset,
    DatasetColumn,
    DatasetSteward,
    DatasetVersion,
    SubjectArea,
)
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.identity.organization_model import Organization, OrganizationKind
from governance.kernel.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from governance.kernel.text import whole_number
from governance.kernel.types import utcnow

MAX_NAME = 120
SCHEMA_CHANGES_AFTER_DATA = (
    "add optional columns at the end",
    "change descriptions",
    "change classifications",
    "change value labels",
)
MAX_VALUE_LABELS = 1000
MAX_LABEL = 200


@dataclass(frozen=True)
class ColumnSpec:
    """A declared column as typed into a form or a schema file."""

    name: str
    type: ColumnType
    classification: Classification
    required: bool = True
    description: str = ""
    value_labels: dict[str, str] | None = None
    # The rounding origin of a number column (datasets/lowest_values.py); taken from a schema
    # file when a column is first declared, changed afterwards only with a reason.
    lowest_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": str(self.type),
            "classification": str(self.classification),
            "required": self.required,
            "description": self.description,
            "value_labels": self.value_labels,
            "lowest_value": self.lowest_value,
        }


def parse_columns(raw: Iterable[object]) -> list[ColumnSpec]:
    """Column specs from dicts (a schema file, a form); 422 naming each bad entry."""
    specs: list[ColumnSpec] = []
    problems: dict[str, str] = {}
    for number, item in enumerate(raw, start=1):
        where = f"column {number}"
        if not isinstance(item, Mapping):
            problems[where] = "must be an object with name, type and classification"
            continue
        try:
            spec = ColumnSpec(
                name=_column_name(item.get("name")),
                type=ColumnType(str(item.get("type", "")).strip().lower()),
                classification=Classification(str(item.get("classification", "")).strip().lower()),
                required=_flag(item.get("required", True)),
                description=" ".join(str(item.get("description") or "").split()),
                value_labels=parse_value_labels(item.get("value_labels")),
                lowest_value=_lowest(item.get("lowest_value")),
            )
            if spec.lowest_value is not None and spec.type not in lowest_values.NUMBER_TYPES:
                raise ValueError("lowest_value is declared only for integer and float columns")
            specs.append(spec)
        except ValueError as exc:
            problems[where] = _spec_problem(item, exc)
    if problems:
        raise ValidationFailed("Some columns need correcting; nothing was saved.", problems)
    return specs


def parse_schema_json(text: str) -> tuple[str, list[ColumnSpec]]:
    """A schema file (docs/datasets.md): {"description": ..., "columns": [{...}, ...]}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"The schema file is not valid JSON: {exc}.", {"schema": "Must be JSON."}
        ) from exc
    if isinstance(data, list):
        data = {"columns": data}
    if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
        raise ValidationFailed(
            'The schema file needs a "columns" list.',
            {"schema": "See docs/datasets.md for the format."},
        )
    return " ".join(str(data.get("description") or "").split()), parse_columns(data["columns"])


def _lowest(raw: object) -> float | None:
    try:
        return lowest_values.read_lowest(raw)
    except ValueError as exc:
        raise ValueError(f"lowest_value {exc}") from None


def _column_name(raw: object) -> str:
    name = str(raw or "").strip()
    if not name:
        raise ValueError("a name is required")
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is longer than {MAX_NAME} characters")
    if not name.isprintable():
        raise ValueError("the name contains control characters")
    return name


def parse_value_labels(raw: object) -> dict[str, str] | None:
    """What each stored code means: a mapping {"1": "with financial aid", ...} (schema file) or
    text "1=with financial aid; 0=without" (the declare page). Empty means none."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        pairs = [part.split("=", 1) for part in raw.split(";") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("value labels are code=label pairs separated by semicolons")
    elif isinstance(raw, Mapping):
        pairs = [[code, label] for code, label in raw.items()]
    else:
        raise ValueError("value labels must map each code to its label")
    labels: dict[str, str] = {}
    for code, label in pairs:
        key, text = str(code).strip(), " ".join(str(label).split())
        if not key or not text:
            raise ValueError("every value label needs a code and a label")
        if len(key) > MAX_LABEL or len(text) > MAX_LABEL or not text.isprintable():
            raise ValueError(f"value labels are printable and at most {MAX_LABEL} characters")
        if key in labels:
            raise ValueError(f"the code {key!r} is labelled twice")
        labels[key] = text
    if len(labels) > MAX_VALUE_LABELS:
        raise ValueError(f"at most {MAX_VALUE_LABELS} value labels per column")
    return labels or None


def value_labels_text(labels: Mapping[str, str] | None) -> str:
    """Value labels as the declare page writes them (``parse_value_labels`` reads it back)."""
    return "; ".join(f"{code}={label}" for code, label in (labels or {}).items())


def _flag(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "yes", "1", "y", "on", "required"}:
        return True
    if text in {"false", "no", "0", "n", "off", "optional", ""}:
        return False
    raise ValueError(f"required must be true or false, not {raw!r}")


def _spec_problem(item: Mapping[str, Any], exc: ValueError) -> str:
    text = str(exc)
    if "ColumnType" in text:
        return f"unknown type {item.get('type')!r}; use one of {', '.join(ColumnType)}"
    if "Classification" in text:
        return (
            f"unknown classification {item.get('classification')!r}; use one of "
            f"{', '.join(Classification)}"
        )
    return text


def _check_columns(specs: Sequence[ColumnSpec]) -> None:
    if not specs:
        raise ValidationFailed("A dataset needs at least one column.", {"columns": "Add one."})
    limit = IngestLimits().max_columns
    if len(specs) > limit:
        raise ValidationFailed(f"A dataset may have at most {limit:,} columns.")
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValidationFailed(
                f"Column {spec.name!r} is declared twice.", {spec.name: "Names must be unique."}
            )
        seen.add(spec.name)


def get_dataset(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"There is no dataset {dataset_id}.")
    return dataset


def find_dataset(session: Session, reference: str) -> Dataset:
    """A dataset by id, or by name when only one provider has a dataset of that name."""
    reference = reference.strip()
    if reference.isdigit():
        number = whole_number(reference)
        if number is None:
            raise NotFound(f"There is no dataset {reference[:40]!r}.")
        return get_dataset(session, number)
    found = session.scalars(select(Dataset).where(Dataset.name == reference)).all()
    if not found:
        raise NotFound(f"There is no dataset named {reference!r}.")
    if len(found) > 1:
        choices = "; ".join(f"{d.provider.name}: id {d.id}" for d in found)
        raise Conflict(
            f"Several providers have a dataset named {reference!r} ({choices}); "
            "give its id instead."
        )
    return found[0]


def visible_datasets(user: Actor) -> Select[Dataset]:
    """Datasets whose metadata (never rows) the person may see.

    Staff of the research organisation see every dataset's description and schema, so they
    know what they could ask for; a provider agency's people see their own agency's datasets.
    """
    statement = select(Dataset)
    if isinstance(user, User) and user.organization.kind == OrganizationKind.PROVIDER:
        statement = statement.where(Dataset.provider_id == user.organization_id)
    return statement


def can_view(user: Actor, dataset: Dataset) -> bool:
    return not (
        isinstance(user, User)
        and user.organization.kind == OrganizationKind.PROVIDER
        and dataset.provider_id != user.organization_id
    )


# Who sees a dataset's description: everyone but another provider agency's people (`can_view`).
VISIBILITY_RULE = "own-agency-or-research-staff"


def get_visible_dataset(
    session: Session,
    dataset_id: int,
    *,
    user: Actor,
    event: AuditType = AuditType.DATASET_VIEW,
) -> Dataset:
    """The dataset if `user` may see it, for `event` (looking at it, or an action on it).

    Another agency's dataset is a 404 worded as for an id that names nothing, so that the
    answer does not tell which datasets exist; both are recorded as a denied `event`, the trail
    telling them apart (`audit.unseen`)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is not None and can_view(user, dataset):
        return dataset
    raise audit.unseen(
        "dataset",
        dataset_id,
        event,
        hidden={"dataset_id": dataset.id} if dataset is not None else None,
        rule=VISIBILITY_RULE,
        who_sees="A provider agency's people see only their own agency's datasets.",
    )


def latest_versions(session: Session, dataset_ids: Iterable[int]) -> dict[int, int]:
    """The number of each dataset's newest version not destroyed (pages and the API)."""
    ids = list(dataset_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(DatasetVersion.dataset_id, func.max(DatasetVersion.number))
        .where(DatasetVersion.dataset_id.in_(ids), DatasetVersion.destroyed_at.is_(None))
        .group_by(DatasetVersion.dataset_id)
    )
    return {int(dataset_id): int(number) for dataset_id, number in rows}


def uploaders_of(session: Session, versions: Iterable[DatasetVersion]) -> dict[int, User]:
    """The people who uploaded the versions, by id."""
    ids = {v.uploaded_by_id for v in versions if v.uploaded_by_id}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def stewards_of(session: Session, dataset: Dataset) -> list[User]:
    return list(
        session.scalars(select(User).where(User.id.in_(dataset.steward_ids)).order_by(User.name))
    )


def list_versions(session: Session, *, dataset_id: int) -> list[DatasetVersion]:
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id)
            .order_by(DatasetVersion.number.desc())
        )
    )


def steward_candidates(session: Session) -> list[User]:
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
    return [u for u in users if Role.DATA_STEWARD in u.role_set]


def create_dataset(
    session: Session,
    *,
    name: str,
    description: str,
    provider_id: int,
    columns: Sequence[ColumnSpec],
    by: Actor,
    steward_ids: Iterable[int] = (),
    subject_area: str = SubjectArea.OTHER,
) -> Dataset:
    """Declare a dataset. A data steward who declares one becomes its steward."""
    authz.require(
        by,
        Permission.DATASET_MANAGE,
        audit={"event_type": AuditType.DATASET_CREATE, "target_type": "dataset"},
    )
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ValidationFailed(
            "The dataset needs a name of at most 200 characters.",
            {"name": "Required, at most 200 characters."},
        )
    provider = session.get(Organization, provider_id)
    if provider is None or provider.kind != OrganizationKind.PROVIDER:
        raise ValidationFailed(
            "A dataset's provider must be a data-provider agency.",
            {"provider_id": "Choose the agency that provides the data."},
        )
    _check_columns(columns)
    area = subject_area_of(subject_area)
    if session.scalars(
        select(Dataset).where(Dataset.provider_id == provider.id, Dataset.name == name)
    ).first():
        raise Conflict(f"{provider.name} already has a dataset named {name!r}.")
    stewards = set(steward_ids)
    if not stewards and isinstance(by, User) and Role.DATA_STEWARD in by.role_set:
        stewards = {by.id}
    dataset = Dataset(
        name=name,
        description=" ".join(description.split()),
        provider_id=provider.id,
        subject_area=area,
    )
    dataset.columns = [
        DatasetColumn(position=i, **spec.as_dict()) for i, spec in enumerate(columns, start=1)
    ]
    dataset.stewards = [
        DatasetSteward(user_id=_steward(session, uid).id) for uid in sorted(stewards)
    ]
    session.add(dataset)
    session.flush()
    audit.record(
        session,
        AuditType.DATASET_CREATE,
        by=by,
        dataset_id=dataset.id,
        target_type="dataset",
        target_id=dataset.id,
        detail={
            "name": name,
            "provider": provider.name,
            "subject_area": area.value,
            "columns": [spec.as_dict() for spec in columns],
            "stewards": sorted(stewards),
        },
    )
    return dataset


def subject_area_of(raw: str) -> SubjectArea:
    """The subject area named, or 422 listing the ones there are."""
    try:
        return SubjectArea(raw)
    except ValueError:
        raise ValidationFailed(
            "Choose what the data is about; nothing was saved.",
            {"subject_area": "One of: " + ", ".join(a.label for a in SubjectArea) + "."},
        ) from None


def _steward(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active or Role.DATA_STEWARD not in user.role_set:
        raise ValidationFailed(
            "Only active people holding the data steward role can be a dataset's steward.",
            {"user_id": "Choose a data steward."},
        )
    return user


def add_steward(session: Session, *, dataset_id: int, user_id: int, by: Actor) -> Dataset:
    authz.require(
        by,
        Permission.DATASET_MANAGE,
        audit={
            "event_type": AuditType.DATASET_STEWARD_ADD,
            "target_type": "dataset",
            "target_id": dataset_id,
            "dataset_id": dataset_id,
        },
    )
    dataset = get_dataset(session, dataset_id)
    user = _steward(session, user_id)
    if user.id in dataset.steward_ids:
        raise Conflict(f"{user.name} is already a steward of {dataset.name}.")
    dataset.stewards.append(DatasetSteward(user_id=user.id))
    session.flush()
    audit.record(
        session,
        AuditType.DATASET_STEWARD_ADD,
        by=by,
        dataset_id=dataset.id,
        target_type="user",
        target_id=user.id,
        detail={"email": user.email},
    )
    return dataset


def remove_steward(session: Session, *, dataset_id: int, user_id: int, by: Actor) -> Dataset:
    authz.require(
        by,
        Permission.DATASET_MANAGE,
        audit={
            "event_type": AuditType.DATASET_STEWARD_REMOVE,
            "target_type": "dataset",
            "target_id": dataset_id,
            "dataset_id": dataset_id,
        },
    )
    dataset = get_dataset(session, dataset_id)
    link = next((s for s in dataset.stewards if s.user_id == user_id), None)
    if link is None:
        raise NotFound(f"User {user_id} is not a steward of {dataset.name}.")
    if len(dataset.stewards) == 1:
        raise InvalidTransition(
            f"{dataset.name} must keep at least one steward.", allowed=["add another steward first"]
        )
    dataset.stewards.remove(link)
    session.flush()
    audit.record(
        session,
        AuditType.DATASET_STEWARD_REMOVE,
        by=by,
        dataset_id=dataset.id,
        target_type="user",
        target_id=user_id,
    )
    return dataset


def update_schema(
    session: Session,
    *,
    dataset_id: int,
    description: str,
    columns: Sequence[ColumnSpec],
    by: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
    subject_area: str | None = None,
) -> Dataset:
    """Change the declared columns (and, if named, the subject area); limited to safe changes
    once data is stored. A stored
    column moved to a less protected class keeps its class, and the move waits for a privacy
    officer (`reason` is shown to them); everything else takes effect now."""
    authz.require(
        by,
        Permission.DATASET_MANAGE,
        audit={
            "event_type": AuditType.DATASET_UPDATE,
            "target_type": "dataset",
            "target_id": dataset_id,
            "dataset_id": dataset_id,
        },
    )
    dataset = get_dataset(session, dataset_id)
    _check_columns(columns)
    area = subject_area_of(subject_area) if subject_area is not None else None
    before = [spec_of(c).as_dict() for c in dataset.columns]
    area_before = str(dataset.subject_area)
    moment = now or utcnow()
    existing = {c.name: c for c in dataset.columns}
    columns = [_keep_declared_lowest(existing.get(spec.name), spec) for spec in columns]
    if dataset.versions:
        _check_change_after_data(dataset, columns)
        columns = [
            _lower_later(session, dataset, existing, spec, reason=reason, by=by, now=moment)
            for spec in columns
        ]
    reclassified = [
        {"column": c.name, "from": str(c.classification), "to": str(spec.classification)}
        for c in dataset.columns
        for spec in columns
        if c.name == spec.name and c.classification != spec.classification
    ]
    kept = {spec.name for spec in columns}
    for column in [c for c in dataset.columns if c.name not in kept]:
        dataset.columns.remove(column)
    for position, spec in enumerate(columns, start=1):
        current = existing.get(spec.name)
        if current is None:
            dataset.columns.append(DatasetColumn(position=position, **spec.as_dict()))
        else:
            current.position, current.type = position, spec.type
            current.classification, current.required = spec.classification, spec.required
            current.description = spec.description
            current.value_labels = spec.value_labels
            current.lowest_value = spec.lowest_value
    dataset.description = " ".join(description.split())
    if area is not None:
        dataset.subject_area = area
    session.flush()
    session.expire(dataset, ["columns"])
    if reclassified:
        audit.record(
            session,
            AuditType.DATASET_RECLASSIFY,
            by=by,
            dataset_id=dataset.id,
            target_type="dataset",
            target_id=dataset.id,
            detail={"changes": reclassified},
        )
    audit.record(
        session,
        AuditType.DATASET_UPDATE,
        by=by,
        dataset_id=dataset.id,
        target_type="dataset",
        target_id=dataset.id,
        detail={
            "before": before,
            "after": [spec.as_dict() for spec in columns],
            "description": dataset.description,
            **(
                {"subject_area": {"before": area_before, "after": area.value}}
                if area is not None and area.value != area_before
                else {}
            ),
        },
    )
    return dataset


def _lower_later(
    session: Session,
    dataset: Dataset,
    existing: Mapping[str, DatasetColumn],
    spec: ColumnSpec,
    *,
    reason: str,
    by: Actor,
    now: dt.datetime,
) -> ColumnSpec:
    """The spec to apply now: a lowered class is asked for and the current one kept."""
    column = existing.get(spec.name)
    if column is None or not spec.classification.is_less_protected_than(
        Classification(column.classification)
    ):
        return spec
    reclassification.ask_to_lower(
        session,
        dataset=dataset,
        column=column,
        to=spec.classification,
        reason=reason,
        by=by,
        now=now,
    )
    return replace(spec, classification=Classification(column.classification))


def _keep_declared_lowest(column: DatasetColumn | None, spec: ColumnSpec) -> ColumnSpec:
    """A schema edit declares the lowest value of a column that has none (the form leaves it
    out, so an existing declaration is kept); changing a declared one goes through
    `lowest_values.declare_lowest_values`, which asks why."""
    if column is None or column.lowest_value is None:
        return spec
    if spec.type not in lowest_values.NUMBER_TYPES:  # retyped before any data was stored
        return replace(spec, lowest_value=None)
    if spec.lowest_value is not None and spec.lowest_value != column.lowest_value:
        raise ValidationFailed(
            f"{column.name}'s lowest value is already declared ({column.lowest_value:g}); change "
            "it in the dataset's lowest values section, which asks why.",
            {column.name: "Declared lowest values change only with a reason."},
        )
    return replace(spec, lowest_value=column.lowest_value)


def spec_of(column: DatasetColumn) -> ColumnSpec:
    return ColumnSpec(
        column.name,
        ColumnType(column.type),
        Classification(column.classification),
        column.required,
        column.description,
        column.value_labels,
        column.lowest_value,
    )


def _check_change_after_data(dataset: Dataset, columns: Sequence[ColumnSpec]) -> None:
    current = dataset.columns
    refusal = (
        f"{dataset.name} has stored versions, so its columns cannot be removed, "
        f"renamed, reordered, retyped or made required, and new columns must be "
        f"optional."
    )
    if len(columns) < len(current):
        raise InvalidTransition(refusal, allowed=SCHEMA_CHANGES_AFTER_DATA)
    for column, spec in zip(current, columns, strict=False):
        retyped = (column.name, ColumnType(column.type)) != (spec.name, spec.type)
        if retyped or (spec.required and not column.required):
            raise InvalidTransition(refusal, allowed=SCHEMA_CHANGES_AFTER_DATA)
    if any(spec.required for spec in columns[len(current) :]):
        raise InvalidTransition(refusal, allowed=SCHEMA_CHANGES_AFTER_DATA)
