"""The one door to dataset rows: decide, record, then read only the allowed columns.

Pages, the API, exports and the analysis engine all read rows through `read_rows`,
`download_rows` or `load_columns` (and a matched comparison reads its
partner cohort file through `load_cohort`). Each asks the decision function (Casbin over the stored
grants) about every column it will touch — shown, filtered on or sorted by — records the
decision in the audit trail in the same transaction, and only then asks the datastore, the
only code that can decrypt the files, for exactly those columns. A refusal reads nothing and
says nothing about columns the person was not granted, not even how many rows match them.
An agreement may also withhold records of some offence categories from every reader: the door
leaves them out of every read here (`_read`), so the row viewer, exports and the engine agree.
A column the allowing grant gives coarsened or pseudonymised is produced in that form right
after the read, before filters, sorting or paging (column_forms.py): no read returns its fine
values, and a filter on it is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import column_forms
from governance.access.column_forms import GrantedForm
from governance.access.ended_grants import decide_explained
from governance.access.models import ColumnForm
from governance.access.row_filters import apply_filters, check_filters, parse_filters
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.authz.actions import DataAction
from governance.authz.decision import (
    RISK_ASSESSMENT_PURPOSE,
    DataRequest,
    Decision,
    decide_risk_assessment,
    grant_index,
)
from governance.authz.read_memo import remembered, remembered_row
from governance.datasets import datastore
from governance.datasets.cohort_model import CohortFile
from governance.datasets.models import (
    Classification,
    Dataset,
    DatasetColumn,
    DatasetVersion,
    is_direct_identifier,
)
from governance.identity.actors import Actor, System
from governance.identity.models import User
from governance.kernel.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from governance.kernel.reports.tabular import ExportStopped
from governance.kernel.types import utcnow

MAX_PAGE_SIZE = 500
#: Rows a download releases under one decision: before each further batch it is decided again,
#: as a paged read decides each page of at most `MAX_PAGE_SIZE` rows.
DOWNLOAD_BATCH = MAX_PAGE_SIZE
#: The rule a read by a deactivated account is refused under. Signing in and tokens already
#: stop with the account; a download or a run in progress meets it at the door.
ACTIVE_ACCOUNT_RULE = "active-account"
#: The decision for a deactivated account, whatever grants it still holds (an administrator's
#: deactivation leaves them to a steward): the agreement's personnel may read, no one else.
DEACTIVATED = Decision(False, "This account is deactivated: it reads no data.", "personnel")
#: Rows of a column by position: a slice, or the positions themselves.
Rows = slice | npt.NDArray[np.intp]
ALL_ROWS = slice(None)
CATEGORY_COLUMN = "offence_category"
#: The clause of the offence categories an agreement withholds from every reader.
WITHHELD_CLAUSE = "access.withheld_offence_categories"
#: The clause a destroyed version's rows are refused under.
DESTRUCTION_CLAUSE = "retention.destruction_days"
T = TypeVar("T")
R = TypeVar("R")
#: Who the audit trail names for a risk assessment's read: the service, for nobody's eyes.
RISK_ASSESSOR = System("risk assessment")
ASSESSABLE_CLASSES = frozenset({Classification.QUASI_IDENTIFIER, Classification.SENSITIVE})


@dataclass(frozen=True)
class RowPage:
    columns: list[str]
    #: A new list, but its rows may be shared with other reads of the same page: never
    #: change a row.
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    version: int
    decision: Decision
    #: Where a reader keeps what it makes of exactly these rows (the API, its JSON), so the
    #: next read of the same page need not make it again. Kept with the rows (`CutPage`) when
    #: the door keeps them, otherwise this read's own.
    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class Loaded:
    """Columns loaded for an analysis (`load_columns`), with the provenance its report must
    carry: an Arrow table when asked for and the read allowed it, otherwise a frame."""

    data: pd.DataFrame | pa.Table
    dataset_id: int
    version: int
    sha256: str
    decision: Decision
    audit_seq: int
    #: The offence categories left out of the read (the agreement's, when it was read).
    withheld: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return int(self.data.num_rows if isinstance(self.data, pa.Table) else len(self.data))

    @property
    def frame(self) -> pd.DataFrame:
        """The columns as a frame, as every read not asked for Arrow gives them."""
        if isinstance(self.data, pa.Table):
            raise TypeError("these columns were read as Arrow (load_columns with arrow=True)")
        return self.data


def current_version(session: Session, dataset_id: int) -> DatasetVersion:
    def load() -> DatasetVersion | None:
        return session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.destroyed_at.is_(None))
            .order_by(DatasetVersion.number.desc())
        ).first()

    version = remembered_row(session, ("current_version", dataset_id), load)
    if version is None:
        raise NotFound("This dataset has no stored data yet.")
    return version


def known_purpose(purpose: str) -> str:
    """`purpose` if it is one of the analysis kinds a grant can be made for; else 422 naming the
    parameter and the choices (as the API's declared `purpose` does)."""
    if not purpose:
        raise ValidationFailed("Say for which purpose you read.", {"purpose": "Required."})
    if purpose not in set(AnalysisKind):
        choices = ", ".join(AnalysisKind)
        raise ValidationFailed(
            f"purpose {purpose[:40]!r} is not a purpose a grant is made for: use one of "
            f"{choices} (the purpose your grant names, on its page).",
            {"purpose": f"one of {choices}"},
        )
    return purpose


def granted_columns(
    session: Session,
    *,
    user_id: int,
    agreement_id: int,
    dataset_id: int,
    purpose: str,
    now: dt.datetime,
) -> list[str]:
    """A person's own granted columns for this scope and purpose: what a view shows when no
    columns are named. Says nothing about columns they were not granted."""
    index = grant_index(session)
    index.ensure_fresh(session)
    columns: set[str] = set()
    # The grant's own end, not its effective end: while a condition has lapsed the view still
    # asks for these columns, and the decision says which condition failed and what to do.
    for entry in index.grants_for(user_id, agreement_id, dataset_id):
        if entry.purpose == purpose and entry.valid_until > now:
            columns |= entry.columns
    return sorted(columns)


@dataclass(frozen=True)
class DoorColumn:
    """What the door reads of a declared column: its stored values, as the ORM gives them."""

    name: str
    type: str
    classification: str

    @property
    def is_direct_identifier(self) -> bool:
        return is_direct_identifier(self.classification)


@dataclass(frozen=True)
class DoorDataset:
    """What the door reads of a dataset: its id and its declared columns in order, as plain
    values. Remembered per process behind the policy epoch (authz/read_memo.py: a change to
    `dataset` or `dataset_column` anywhere bumps it) and shared by the reads that see that
    epoch, so never changed: each read used to rebuild the dataset and its columns as ORM
    instances from the memo (nine for the bench's dataset), which cost more than the
    decision's own Python."""

    id: int
    columns: tuple[DoorColumn, ...]
    column_names: tuple[str, ...] = field(init=False, compare=False)
    _by_name: Mapping[str, DoorColumn] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The first column of a name, as `Dataset.column` finds it.
        by_name = MappingProxyType({c.name: c for c in reversed(self.columns)})
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        object.__setattr__(self, "_by_name", by_name)

    def column(self, name: str) -> DoorColumn | None:
        return self._by_name.get(name)


def _dataset(session: Session, dataset_id: int, event: AuditType) -> DoorDataset:
    """The dataset read for `event`; an id that names no dataset is a 404 recorded as a denied
    `event`, as every look-up of an id that names nothing is (`audit.unseen`).
    Datasets are not hidden from those who read rows: one that exists is decided, and a
    refusal says which grant is missing."""

    # The dataset's columns, read as values (one statement), in the order the dataset's
    # `columns` gives them.
    def load() -> DoorDataset | None:
        rows = session.execute(
            select(DatasetColumn.name, DatasetColumn.type, DatasetColumn.classification)
            .where(DatasetColumn.dataset_id == dataset_id)
            .order_by(DatasetColumn.position)
        ).all()
        if not rows and session.get(Dataset, dataset_id) is None:
            return None
        columns = (DoorColumn(*row) for row in rows)
        return DoorDataset(dataset_id, tuple(columns))

    dataset = remembered(session, ("door_dataset", dataset_id), load)
    if dataset is None:
        # Worded and recorded as the dataset pages' 404 for an id that names nothing; the
        # door hides no dataset, so no rule hid one.
        raise audit.unseen(
            "dataset", dataset_id, event, hidden=None, rule=audit.NO_SUCH_ID, who_sees=""
        )
    return dataset


def _decide_and_record(
    session: Session,
    *,
    by: User,
    agreement_id: int,
    dataset: DoorDataset,
    columns: Sequence[str],
    action: DataAction,
    purpose: str,
    now: dt.datetime,
    event: AuditType,
    detail: dict[str, Any],
) -> tuple[Decision, dict[str, Any]]:
    """Decide; on refusal raise with the refusal's audit record, which the error handler
    commits after rolling the request back. A deactivated account reads nothing
    (`DEACTIVATED`)."""
    decision = (
        decide_explained(
            session,
            DataRequest(
                user_id=by.id,
                agreement_id=agreement_id,
                dataset_id=dataset.id,
                columns=tuple(columns),
                action=action,
                purpose=purpose,
                now=now,
            ),
        )
        if by.is_active
        else DEACTIVATED
    )
    # A column is recorded as a direct identifier if it is one now or was granted as one.
    index = grant_index(session)
    granted_as = {name for rule in decision.rules for name in index.granted_by(rule).identifiers}
    identifiers = sorted(
        c
        for c in columns
        if c in granted_as or ((col := dataset.column(c)) is not None and col.is_direct_identifier)
    )
    fields: dict[str, Any] = {
        "agreement_id": agreement_id,
        "agreement_version": decision.agreement_version,
        "dataset_id": dataset.id,
        "target_type": "dataset",
        "target_id": dataset.id,
        "rule": decision.rule if by.is_active else ACTIVE_ACCOUNT_RULE,
        "clause": decision.clause,
        "detail": {
            **detail,
            "columns": list(columns),
            "direct_identifier_columns": identifiers,
            "purpose": purpose,
            "action": action.value,
            "reason": decision.reason,
            **({"grant_ids": list(decision.refusing_grants)} if decision.refusing_grants else {}),
        },
    }
    if not decision.allowed:
        raise PermissionDenied(
            decision.reason,
            clause=decision.clause,
            audit={"event_type": event, "outcome": Outcome.DENIED, "now": now, **fields},
        )
    return decision, fields


def _granted_forms(
    session: Session,
    decision: Decision,
    *,
    agreement_id: int,
    fields: dict[str, Any],
    now: dt.datetime,
    event: AuditType = AuditType.DATASET_READ,
) -> dict[str, GrantedForm]:
    """The columns the allowing grants give in another form than stored (the grant that
    allowed each column says which). A form the agreement in force no longer allows (an
    amendment narrowed `access.derived_forms` after the grant) is refused, and recorded: the
    column is served neither in that form nor as stored."""
    index = grant_index(session)
    forms: dict[str, GrantedForm] = {}
    for column, rule in decision.granted.items():
        for name, form, key_id in index.granted_by(rule).forms:
            if name == column:
                forms[column] = GrantedForm(ColumnForm(form), key_id or None)
    if not forms:
        return forms
    from governance.agreements.queries import derived_forms_in_force

    described = _described(forms)
    in_force = remembered(
        session,
        ("derived_forms", agreement_id),
        lambda: derived_forms_in_force(session, agreement_id),
    )
    reason = column_forms.not_allowed(described, in_force)
    if reason:
        raise _refused(
            reason, column_forms.DERIVED_FORMS_CLAUSE, fields, now, event, forms=described
        )
    return forms


def _refused(
    reason: str,
    clause: str,
    fields: dict[str, Any],
    now: dt.datetime,
    event: AuditType,
    **detail: Any,
) -> PermissionDenied:
    """A read its decision allowed but a term of the agreement refuses (`clause`), with the
    denied read to record: the decision's fields, the reason and `detail`."""
    return PermissionDenied(
        reason,
        clause=clause,
        audit={
            "event_type": event,
            "outcome": Outcome.DENIED,
            "now": now,
            **fields,
            "clause": clause,
            "detail": {**fields["detail"], "reason": reason, **detail},
        },
    )


def _refuse_filters_on_forms(
    forms: dict[str, GrantedForm], filtered: Sequence[str], fields: dict[str, Any], now: dt.datetime
) -> None:
    """A filter compares the stored value: on a column granted coarsened or pseudonymised it
    would reveal the fine value one question at a time, so it is refused (and recorded)."""
    formed = sorted({c for c in filtered if c in forms})
    if not formed:
        return
    reason = (
        f"{', '.join(formed)} {'is' if len(formed) == 1 else 'are'} granted "
        f"{' / '.join(sorted({str(forms[c].form) for c in formed}))}, not as stored: "
        "filtering on the stored values is not part of the grant."
    )
    raise _refused(
        reason, "access.columns", fields, now, AuditType.DATASET_READ, forms=_described(forms)
    )


def _described(forms: dict[str, GrantedForm]) -> dict[str, str]:
    return {column: str(granted.form) for column, granted in sorted(forms.items())}


def check_read(
    session: Session,
    *,
    by: User,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    now: dt.datetime,
    event: AuditType,
    context: dict[str, Any],
    action: DataAction = DataAction.READ,
    forms: bool = False,
    began: Began | None = None,
) -> Decision:
    """Decide a read without reading (an action that needs a grant of these columns, such as
    deciding a linkage pair, or a download going on): a refusal raises with its audit record
    like any other. With `forms`, also the forms the allowing grants give the columns in, as
    a read that produces them checks them (`_granted_forms`). With `began` (a download going
    on), also that what its rows were read under still holds (`_as_begun`)."""
    dataset = _dataset(session, dataset_id, event)
    decision, fields = _decide_and_record(
        session,
        by=by,
        agreement_id=agreement_id,
        dataset=dataset,
        columns=columns,
        action=action,
        purpose=purpose,
        now=now,
        event=event,
        detail=dict(context),
    )
    if forms:
        _granted_forms(
            session, decision, agreement_id=agreement_id, fields=fields, now=now, event=event
        )
    if began is not None:
        _as_begun(session, began, agreement_id, dataset, fields, now, event)
    return decision


@dataclass(frozen=True)
class Began:
    """What a download's rows were read under, once, at its start: the version and the
    offence categories then withheld."""

    version: int
    withheld: tuple[str, ...]


def _as_begun(
    session: Session,
    began: Began,
    agreement_id: int,
    dataset: DoorDataset,
    fields: dict[str, Any],
    now: dt.datetime,
    event: AuditType,
) -> None:
    """Refuse a download's further rows when what they were read under no longer holds: the
    version was destroyed (its rows may not leave any more), or the agreement in force now
    withholds a category it did not withhold at the start, whose records may be among the rows
    still to come. A category no longer withheld stops nothing: the rows still leave it out,
    as the download's record says."""
    stored = session.scalar(
        select(DatasetVersion.destroyed_at).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.number == began.version
        )
    )
    if stored is not None:
        reason = (
            f"Version {began.version} of this dataset was destroyed while it was downloaded: "
            "none of its rows leave any more."
        )
        raise _refused(reason, DESTRUCTION_CLAUSE, fields, now, event)
    withheld = _withheld(session, agreement_id, dataset)
    before = {category.casefold() for category in began.withheld}
    added = [category for category in withheld if category.casefold() not in before]
    if added:
        reason = (
            f"The agreement now withholds the records of {', '.join(added)} from every reader: "
            "the rows still to come were read without leaving them out. Download again for "
            "the records you may read."
        )
        raise _refused(reason, WITHHELD_CLAUSE, fields, now, event, withheld_categories=withheld)


def _withheld(session: Session, agreement_id: int, dataset: DoorDataset) -> list[str]:
    """The offence categories the agreement in force withholds from every reader, when the
    dataset records offence categories at all."""
    from governance.agreements.queries import withheld_categories

    if CATEGORY_COLUMN not in dataset.column_names:
        return []
    return list(
        remembered(
            session,
            ("withheld", agreement_id),
            lambda: tuple(withheld_categories(session, agreement_id)),
        )
    )


def _read(
    version: DatasetVersion,
    dataset: DoorDataset,
    columns: Sequence[str],
    withheld: list[str],
    *,
    keep: bool = True,
) -> pd.DataFrame:
    """The stored columns without the withheld records, decoded once per worker process
    (datastore/column_cache.py says what it keeps and for how long; `keep=False` for a
    one-off read). Called only after the read's decision allowed it. The category column is
    read to leave them out and returned only when it was asked for (and so decided)."""
    declared = dataset.column_names
    if not withheld:
        return datastore.read_columns(version, list(columns), keep=keep, declared=declared)
    names = list(dict.fromkeys([*columns, CATEGORY_COLUMN]))
    frame = datastore.read_columns(version, names, keep=keep, declared=declared)
    kept = _kept(frame[CATEGORY_COLUMN], withheld)
    return frame.loc[kept, list(columns)].reset_index(drop=True)


def _kept(categories: pd.Series, withheld: list[str]) -> npt.NDArray[np.bool_]:
    """Which records are left in: those of no withheld category (compared case-blind)."""
    unwanted = {category.casefold() for category in withheld}
    labels = categories.astype("string").str.casefold()
    kept: npt.NDArray[np.bool_] = ~labels.isin(unwanted).fillna(False).to_numpy(dtype=bool)
    return kept


@dataclass(frozen=True)
class CutPage:
    """A plain page as cut from a file's kept columns: its rows, how many rows there are in
    all, and what readers made of these rows (`RowPage.derived`). Shared by the reads of the
    same page: never changed."""

    rows: tuple[dict[str, Any], ...]
    total: int
    derived: dict[str, Any] = field(default_factory=dict)


def _plain_page(
    version: DatasetVersion,
    dataset: DoorDataset,
    columns: Sequence[str],
    withheld: list[str],
    start: int,
    stop: int,
) -> CutPage:
    """Rows `start` to `stop` of the stored columns (without the withheld records) and how
    many there are, for a read with no filter, sort or granted form to apply: cut from the
    decoded columns themselves, as a frame of them would cost as much as the rest of a read.
    The rows are those `_records` makes of the frame `_read` returns, cut the same way.

    The cut page is kept with the columns it was cut from (`Columns.pages`: the datastore's
    cache drops both together), under what decides its content (the columns, the withheld
    categories, the rows' positions), so the next read of the same page, decided and recorded
    like any other before it gets here, takes it as it is: cutting and converting the cells
    cost more than the decision and the audit row together."""
    names = list(dict.fromkeys([*columns, CATEGORY_COLUMN] if withheld else columns))
    stored = datastore.read_series(version, names, declared=dataset.column_names)
    key = (tuple(columns), tuple(withheld), start, stop)
    cut: CutPage | None = stored.pages.get(key)
    if cut is not None:
        return cut
    wanted: Rows
    if withheld:
        kept = np.flatnonzero(_kept(stored.series[CATEGORY_COLUMN], withheld))
        total, wanted = len(kept), kept[start:stop]
    else:
        total, wanted = stored.rows, slice(start, stop)
    cells = [_cells(stored.series[name], wanted) for name in columns]
    cut = CutPage(tuple(_rows(columns, cells, max(0, min(stop, total) - start))), total)
    stored.pages.put(key, cut)
    return cut


def read_rows(
    session: Session,
    *,
    by: User,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    filters: Sequence[str] = (),
    sort: str | None = None,
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
    now: dt.datetime,
) -> RowPage:
    """A page of rows of the granted columns, for viewing inside the secure service.

    `filters` are written `column:op:value`. Every column shown, filtered on or sorted by is
    decided first (403); then each filter must suit its column's type (422); only then is
    anything read. Refusals of either kind are recorded as denied reads."""
    if per_page < 1 or per_page > MAX_PAGE_SIZE or page < 1:
        raise ValidationFailed(f"Pages hold 1 to {MAX_PAGE_SIZE} rows and start at 1.")
    dataset = _dataset(session, dataset_id, AuditType.DATASET_READ)
    attempt: dict[str, Any] = {
        "event_type": AuditType.DATASET_READ,
        "outcome": Outcome.DENIED,
        "now": now,
        "agreement_id": agreement_id,
        "dataset_id": dataset.id,
        "target_type": "dataset",
        "target_id": dataset.id,
        "detail": {
            "shown": list(columns),
            "filters": [text[:200] for text in filters],
            "sort": sort,
            "page": page,
            "purpose": purpose,
            "action": DataAction.READ.value,
        },
    }
    parsed = _recorded(lambda: parse_filters(filters), attempt)
    touched = list(
        dict.fromkeys([*columns, *(f.column for f in parsed), *([sort] if sort else [])])
    )
    decision, fields = _decide_and_record(
        session,
        by=by,
        agreement_id=agreement_id,
        dataset=dataset,
        columns=touched,
        action=DataAction.READ,
        purpose=purpose,
        now=now,
        event=AuditType.DATASET_READ,
        detail={
            "shown": list(columns),
            "filters": [f.describe() for f in parsed],
            "sort": sort,
            "page": page,
        },
    )
    forms = _granted_forms(session, decision, agreement_id=agreement_id, fields=fields, now=now)
    _refuse_filters_on_forms(forms, [f.column for f in parsed], fields, now)
    checked = _recorded(lambda: check_filters(parsed, dataset), _denied_read(fields, now))
    version = current_version(session, dataset_id)
    withheld = _withheld(session, agreement_id, dataset)
    start, stop = (page - 1) * per_page, page * per_page
    derived: dict[str, Any] = {}
    if not checked and not sort and not forms:
        cut = _recorded(
            lambda: _plain_page(version, dataset, columns, withheld, start, stop),
            _denied_read(fields, now),
        )
        rows, total, derived = list(cut.rows), cut.total, cut.derived
    else:
        stored = _recorded(
            lambda: column_forms.produce(
                session,
                _read(version, dataset, touched, withheld),
                forms,
                agreement_id=agreement_id,
            ),
            _denied_read(fields, now),
        )
        frame = apply_filters(stored, checked)
        total = len(frame)
        if sort:
            frame = frame.sort_values(
                sort, ascending=not descending, kind="stable", na_position="last"
            )
        rows = _records(frame.iloc[start:stop], columns)
    fields["detail"].update(
        row_count=len(rows),
        matching_rows=total,
        version=version.number,
        sha256=version.sha256,
        withheld_categories=withheld,
        **_forms_detail(forms),
    )
    audit.record(session, AuditType.DATASET_READ, by=by, outcome=Outcome.ALLOWED, now=now, **fields)
    return RowPage(
        columns=list(columns),
        rows=rows,
        total=total,
        page=page,
        per_page=per_page,
        version=version.number,
        decision=decision,
        derived=derived,
    )


def _denied_read(
    fields: dict[str, Any], now: dt.datetime, event: AuditType = AuditType.DATASET_READ
) -> dict[str, Any]:
    """The audit record of a read refused after its decision (a bad filter, a column with no
    coarser form in this version)."""
    return {
        "event_type": event,
        "outcome": Outcome.DENIED,
        "now": now,
        **fields,
        "clause": None,
        "detail": dict(fields["detail"]),
    }


def _forms_detail(forms: dict[str, GrantedForm]) -> dict[str, Any]:
    return {"forms": _described(forms)} if forms else {}


def _records(window: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """A page's rows as dicts of Python values, missing ones None: column by column, as
    pandas' own record conversion costs more than the rest of a 50-row page."""
    return _rows(columns, [_cells(window[c]) for c in columns], len(window))


def _cells(column: pd.Series, wanted: Rows = ALL_ROWS) -> list[Any]:
    """The `wanted` rows (positions) of a column as Python values, each missing one (NaN,
    NaT, NA, None) None: `[None if pd.isna(v) else v for v in column.iloc[wanted].tolist()]`,
    without pandas' work per value where the column's type allows (text in Arrow, numbers),
    which cost a page of text columns a tenth of its read."""
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        # Arrow gives the same str values and None for each missing one.
        chunked = column.array.__arrow_array__()
        part = chunked[wanted] if isinstance(wanted, slice) else chunked.take(wanted)
        texts: list[Any] = part.to_pylist()
        return texts
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu":
        # pandas' nullable integers (an integer column with gaps, as the datastore decodes
        # it): the page's rows only, through Arrow, give Python ints, every digit, and None.
        integers: list[Any] = column.array[wanted].__arrow_array__().to_pylist()
        return integers
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        # The values Series.tolist gives (the array's); only a float can be missing (NaN).
        numbers: list[Any] = column.to_numpy()[wanted].tolist()
        return [None if v != v else v for v in numbers] if dtype.kind == "f" else numbers
    return [None if pd.isna(v) else v for v in column.iloc[wanted].tolist()]


def _rows(columns: Sequence[str], cells: list[list[Any]], count: int) -> list[dict[str, Any]]:
    if not columns:
        return [{} for _ in range(count)]
    return [dict(zip(columns, row, strict=True)) for row in zip(*cells, strict=True)]


def _recorded(check: Callable[[], T], refusal: dict[str, Any]) -> T:
    """Run a check of the request; a 422 it raises carries the denied read to record."""
    try:
        return check()
    except ValidationFailed as invalid:
        detail = {**refusal["detail"], "reason": invalid.message, "fields": invalid.fields}
        invalid.recorded_as({**refusal, "detail": detail})
        raise


def download_rows(
    session: Session,
    *,
    by: User,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    now: dt.datetime,
    clock: Callable[[], dt.datetime] = utcnow,
) -> tuple[list[str], Iterator[tuple[Any, ...]], Decision]:
    """Row-level data leaving the secure setting: a separate action the agreement must allow
    and the grant must name. Returns the header and the rows to stream. A download is decided
    again before each further `DOWNLOAD_BATCH` rows, at `clock()`'s moment, as a paged read
    decides each page: however slowly its reader takes it, no row leaves after the grant
    stopped holding (`_download_goes_on`)."""
    loaded = _read_whole(
        session,
        DataAction.DOWNLOAD,
        by=by,
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        columns=columns,
        purpose=purpose,
        now=now,
        detail={},
    )
    frame = loaded.frame
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    going_on = _download_goes_on(
        session,
        by_id=by.id,
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        columns=columns,
        purpose=purpose,
        began=Began(loaded.version, tuple(loaded.withheld)),
        clock=clock,
    )
    return list(columns), _in_batches(rows, going_on), loaded.decision


def _in_batches(
    rows: Iterator[tuple[Any, ...]], going_on: Callable[[int], None]
) -> Iterator[tuple[Any, ...]]:
    """The rows, `DOWNLOAD_BATCH` at a time; before each batch after the first (which the
    download's own decision released) `going_on(rows released so far)` decides again, and
    raises `ExportStopped` when the download may not go on."""
    released = 0
    while batch := list(islice(rows, DOWNLOAD_BATCH)):
        if released:
            going_on(released)
        yield from batch
        released += len(batch)


def _download_goes_on(
    session: Session,
    *,
    by_id: int,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    began: Began,
    clock: Callable[[], dt.datetime],
) -> Callable[[int], None]:
    """The check a download makes before each further batch of rows: the same decision as its
    start, at the clock's moment, in a transaction of its own (so the policy epoch, the grants,
    the agreement in force and the reader's account are read afresh: a revocation in any
    process, a grant's or a condition's end passing with nothing written, a deactivation, an
    amendment narrowing the forms or withholding a category, the version's destruction:
    `check_read` with `began`). A refusal is recorded as a denied `dataset:download` with its
    rule and clause and the rows already released, and stops the download."""
    event = AuditType.DATASET_DOWNLOAD

    def going_on(released: int) -> None:
        session.commit()  # the previous batch's transaction: nothing is held while rows go out
        now = clock()
        context = {"stopped_download": True, "rows_released": released, "version": began.version}
        by: User | None = None
        try:
            by = session.get(User, by_id)
            if by is None:
                raise NotFound("The reader's account is gone.")
            check_read(
                session,
                by=by,
                agreement_id=agreement_id,
                dataset_id=dataset_id,
                columns=columns,
                purpose=purpose,
                now=now,
                event=event,
                context=context,
                action=DataAction.DOWNLOAD,
                forms=True,
                began=began,
            )
        except DomainError as refused:
            session.rollback()
            if refused.audit is not None:
                detail = {**refused.audit.get("detail", {}), **context}
                audit.record_refusal(session, {**refused.audit, "detail": detail}, by=by)
                session.commit()
            raise ExportStopped(refused.message) from None
        session.commit()

    return going_on


def load_columns(
    session: Session,
    *,
    by: User,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    now: dt.datetime,
    context: dict[str, Any],
    arrow: bool = False,
) -> Loaded:
    """Columns for the analysis engine, decided and recorded like any other read. With `arrow`
    (an engine that takes Arrow: DuckDB, Spark) a read that needs no granted form and
    withholds no records comes back as the Arrow table the datastore decrypts, never made
    into pandas (at a register's size the frame would cost more than the run: a date a Python
    object, the data held twice). Otherwise (pandas, or a read with a form or withheld
    records) it is produced as a frame, as for every other reader."""
    return _read_whole(
        session,
        DataAction.READ,
        by=by,
        agreement_id=agreement_id,
        dataset_id=dataset_id,
        columns=columns,
        purpose=purpose,
        now=now,
        detail=dict(context),
        arrow=arrow,
    )


# The audit event of each action that reads whole columns (a download, or an engine's read).
_WHOLE_READ_EVENTS = {
    DataAction.READ: AuditType.DATASET_READ,
    DataAction.DOWNLOAD: AuditType.DATASET_DOWNLOAD,
}


def _read_whole(
    session: Session,
    action: DataAction,
    *,
    by: User,
    agreement_id: int,
    dataset_id: int,
    columns: Sequence[str],
    purpose: str,
    now: dt.datetime,
    detail: dict[str, Any],
    arrow: bool = False,
) -> Loaded:
    """Every row of the columns: decided, read in their granted forms without the withheld
    records, and recorded with the version read, all under `action`'s audit event."""
    event = _WHOLE_READ_EVENTS[action]
    dataset = _dataset(session, dataset_id, event)
    decision, fields = _decide_and_record(
        session,
        by=by,
        agreement_id=agreement_id,
        dataset=dataset,
        columns=columns,
        action=action,
        purpose=purpose,
        now=now,
        event=event,
        detail=detail,
    )
    forms = _granted_forms(
        session, decision, agreement_id=agreement_id, fields=fields, now=now, event=event
    )
    version = current_version(session, dataset_id)
    withheld = _withheld(session, agreement_id, dataset)
    denied = _denied_read(fields, now, event)
    data: pd.DataFrame | pa.Table
    if arrow and not forms and not withheld:
        data = _recorded(
            lambda: datastore.read_arrow(version, list(columns), declared=dataset.column_names),
            denied,
        )
        rows = data.num_rows
    else:
        data = _recorded(
            lambda: column_forms.produce(
                session,
                _read(version, dataset, columns, withheld),
                forms,
                agreement_id=agreement_id,
            ),
            denied,
        )
        rows = len(data)
    fields["detail"].update(
        row_count=rows,
        version=version.number,
        sha256=version.sha256,
        withheld_categories=withheld,
        **_forms_detail(forms),
    )
    seq = audit.record(session, event, by=by, outcome=Outcome.ALLOWED, now=now, **fields)
    return Loaded(
        data=data,
        dataset_id=dataset_id,
        version=version.number,
        sha256=version.sha256,
        decision=decision,
        audit_seq=seq,
        withheld=tuple(withheld),
    )


@dataclass(frozen=True)
class LoadedCohort:
    """A partner cohort file's columns, with the provenance the report must carry."""

    frame: pd.DataFrame
    cohort_id: int
    sha256: str
    row_count: int
    audit_seq: int


def load_cohort(
    session: Session,
    *,
    by: User,
    agreement_id: int,
    cohort_id: int,
    columns: Sequence[str],
    purpose: str,
    now: dt.datetime,
    context: dict[str, Any],
) -> LoadedCohort:
    """A cohort file, for the run of the analyst who uploaded it under this agreement only;
    recorded as `cohort:read` like any other read of identifying data."""
    cohort = session.get(CohortFile, cohort_id)
    if cohort is None:
        raise NotFound(f"There is no cohort file {cohort_id}.")
    fields: dict[str, Any] = {
        "agreement_id": agreement_id,
        "target_type": "cohort_file",
        "target_id": cohort.id,
        "detail": {**context, "columns": list(columns), "purpose": purpose},
    }
    if cohort.agreement_id != agreement_id or cohort.uploaded_by_id != by.id:
        raise PermissionDenied(
            "This cohort file was uploaded by someone else or under another agreement.",
            clause="parties.provider",
            audit={
                "event_type": AuditType.COHORT_READ,
                "outcome": Outcome.DENIED,
                "now": now,
                "clause": "parties.provider",
                **fields,
            },
        )
    frame = datastore.read_cohort(cohort, list(columns))
    fields["detail"].update(row_count=len(frame), sha256=cohort.sha256)
    seq = audit.record(
        session, AuditType.COHORT_READ, by=by, outcome=Outcome.ALLOWED, now=now, **fields
    )
    return LoadedCohort(
        frame=frame, cohort_id=cohort.id, sha256=cohort.sha256, row_count=len(frame), audit_seq=seq
    )


#: Computes figures from a frame that never leaves the service: (frame) -> counts and shares.
Assessor = Callable[[pd.DataFrame], dict[str, Any]]


def assess_risk(
    session: Session,
    *,
    asked_by: Actor,
    agreement_id: int,
    dataset_id: int,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str],
    assessor: Assessor,
    now: dt.datetime,
    context: dict[str, Any],
) -> dict[str, Any]:
    """Count a request's quasi-identifiers on the current version for its risk figures.

    The system purpose "risk assessment": the decision allows only the dataset's columns
    classified quasi-identifier or sensitive, and the read is audited as one whose rows are
    shown to nobody. Only what `assessor` returns (counts and shares) leaves this function.
    The service reads, not the person whose request it is (`asked_by`): the read is recorded
    as the system's, so it is never counted as that person's use of a grant.
    """
    dataset = _dataset(session, dataset_id, AuditType.DATASET_ASSESS_RISK)
    columns = list(dict.fromkeys([*quasi_identifiers, *sensitive]))
    decision = decide_risk_assessment(
        columns,
        assessable={c.name for c in dataset.columns if c.classification in ASSESSABLE_CLASSES},
    )
    fields: dict[str, Any] = {
        "agreement_id": agreement_id,
        "dataset_id": dataset.id,
        "target_type": "dataset",
        "target_id": dataset.id,
        "clause": decision.clause,
        "detail": {
            **context,
            "columns": columns,
            "purpose": RISK_ASSESSMENT_PURPOSE,
            "action": DataAction.ASSESS_RISK.value,
            "reason": decision.reason,
            "rows_shown": False,
            "asked_by": asked_by.id,
        },
    }
    if not decision.allowed:
        raise PermissionDenied(
            decision.reason,
            clause=decision.clause,
            audit={
                "event_type": AuditType.DATASET_ASSESS_RISK,
                "outcome": Outcome.DENIED,
                "now": now,
                **fields,
            },
        )
    version = current_version(session, dataset_id)
    # A one-off count should not fill the readers' cache.
    frame = _read(version, dataset, columns, _withheld(session, agreement_id, dataset), keep=False)
    figures = assessor(frame)
    fields["detail"].update(row_count=len(frame), version=version.number, sha256=version.sha256)
    audit.record(
        session,
        AuditType.DATASET_ASSESS_RISK,
        by=RISK_ASSESSOR,
        outcome=Outcome.ALLOWED,
        now=now,
        **fields,
    )
    return {**figures, "version": version.number}
