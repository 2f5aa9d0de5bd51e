"""Reading agreements: who may see which, the list's filters, and the version in force.

Privacy officers and compliance managers see every agreement. Everyone else sees the
agreements their organisation is party to (as provider or recipient) and those naming them as
authorised personnel, read-only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload, lazyload, load_only
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.interfaces import ORMOption

from governance import authz
from governance.agreements.common import get_agreement
from governance.agreements.models import (
    Agreement,
    AgreementStatus,
    AgreementVersion,
    DerivedForms,
)
from governance.agreements.parts_model import (
    AgreementComment,
    AgreementDocument,
    CoveredColumn,
    Personnel,
)
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.models import Dataset, DatasetColumn
from governance.identity.models import User
from governance.identity.organization_model import Organization, OrganizationKind
from governance.kernel.errors import NotFound, PermissionDenied
from governance.kernel.one_of import one_of
from governance.kernel.text import whole_number

EXPIRY_WINDOWS = (7, 30, 60)


def in_force_version(session: Session, agreement_id: int) -> AgreementVersion | None:
    """The approved version governing the agreement now; None unless the agreement is active
    (a draft, an approved agreement not yet effective, or an ended one governs nothing)."""
    agreement = session.get(Agreement, agreement_id)
    if agreement is None or agreement.status != AgreementStatus.ACTIVE:
        return None
    return agreement.current_version


def withheld_categories(session: Session, agreement_id: int) -> list[str]:
    """The offence categories the version in force withholds from every reader; none unless
    the agreement is active. One column of one row: the data door asks on every read, and
    loading the agreement with all its versions (`in_force_version`) took a third of a read."""
    withheld = session.scalar(
        select(AgreementVersion.withheld_offence_categories)
        .join(Agreement, AgreementVersion.agreement_id == Agreement.id)
        .where(
            Agreement.id == agreement_id,
            Agreement.status == AgreementStatus.ACTIVE,
            AgreementVersion.number == Agreement.current_version_number,
        )
    )
    return list(withheld or [])


def derived_forms_in_force(session: Session, agreement_id: int) -> DerivedForms:
    """The forms the version in force allows a column to be granted in
    (`access.derived_forms`); none unless the agreement is active. One column of one row,
    like `withheld_categories`: the data door asks at every read of a formed column."""
    allowed = session.scalar(
        select(AgreementVersion.derived_forms)
        .join(Agreement, AgreementVersion.agreement_id == Agreement.id)
        .where(
            Agreement.id == agreement_id,
            Agreement.status == AgreementStatus.ACTIVE,
            AgreementVersion.number == Agreement.current_version_number,
        )
    )
    return DerivedForms(allowed) if allowed else DerivedForms.NONE


def agreement_by_key(session: Session, key: str) -> tuple[int, str] | None:
    """(id, reference) of the agreement a person names by reference or number, if any."""
    if key.isdigit():
        number = whole_number(key)
        agreement = session.get(Agreement, number) if number is not None else None
    else:
        agreement = session.scalar(select(Agreement).where(Agreement.reference == key.upper()))
    return (agreement.id, agreement.reference) if agreement is not None else None


def shown_version_join() -> Any:
    """Join condition to the version a reader sees first: the one in force, else the draft."""
    return and_(
        AgreementVersion.agreement_id == Agreement.id,
        AgreementVersion.number
        == func.coalesce(Agreement.current_version_number, Agreement.working_version_number),
    )


def reads_all(user: User) -> bool:
    return authz.can(user, Permission.AGREEMENT_READ_ALL)


def _party_condition(user: User) -> Any:
    named = (
        exists()
        .where(
            Personnel.user_id == user.id,
            Personnel.version_id == AgreementVersion.id,
            AgreementVersion.agreement_id == Agreement.id,
        )
        .correlate(Agreement)
    )
    return or_(
        Agreement.provider_id == user.organization_id,
        Agreement.recipient_id == user.organization_id,
        named,
    )


def can_view(user: User, agreement: Agreement) -> bool:
    if reads_all(user):
        return True
    if user.organization_id in agreement.party_ids():
        return True
    return any(v.is_personnel(user.id) for v in agreement.versions)


def get_visible(
    session: Session, agreement_id: int, *, by: User, options: Sequence[ORMOption] = ()
) -> Agreement:
    """The agreement if `by` may read it: 404 if it does not exist, 403 (recorded) if not
    theirs."""
    agreement = get_agreement(session, agreement_id, options=options)
    _check_visible(agreement, by)
    return agreement


def _check_visible(agreement: Agreement, by: User) -> None:
    """403 (recorded) unless `by` may read the agreement."""
    if not can_view(by, agreement):
        raise PermissionDenied(
            "This agreement is visible to its parties, its authorised personnel and privacy "
            "officers.",
            audit={
                "event_type": AuditType.AGREEMENT_READ,
                "target_type": "agreement",
                "target_id": agreement.id,
                "agreement_id": agreement.id,
                "rule": "agreement-party-or-personnel",
            },
        )


# The agreement's page shows its versions with their covered columns (and datasets and their
# columns), personnel (people), comments and documents, in at most six statements whatever the
# number of versions or datasets: the agreement with its versions, then each part of every
# version in one statement (but comments and documents when no version has any), and the
# covered datasets' columns in one. The people's training is read as
# rows (`identity.courses`), not as objects. The model's selectin cascade would go on to read
# every covered dataset's stewards and every named person's roles, which the page does not
# show: read as the page asks, those load only if something touches them.
#
# The statements are built once and each part is put in its collection as loaded
# (`set_committed_value`), rather than asked of `session.get` as nested loader options: the
# ORM then built five selectin statements at every view and walked the options' tree for each
# one's cache key, about 1.8 ms of the page's 7 (SQLite, 2026-12-06 pagespeed2); the rows
# sent and the objects made are the same. A relationship not set here (the dataset's stewards,
# a person's roles) still loads when touched.
def _any_of(model: Any) -> Any:
    """Whether any version of the agreement (the enclosing statement's) has a row of `model`."""
    return (
        select(model.version_id)
        .join(AgreementVersion, AgreementVersion.id == model.version_id)
        .where(AgreementVersion.agreement_id == Agreement.id)
        .exists()
    )


# Parts most agreements have none of (review comments, issued documents): the first
# statement says whether any version has one, and a part no version has is not asked for.
_MAYBE_EMPTY = {"comments": AgreementComment, "documents": AgreementDocument}
_PAGE_AGREEMENT = (
    select(
        Agreement, *(_any_of(model).label(f"any_{name}") for name, model in _MAYBE_EMPTY.items())
    )
    .where(Agreement.id == bindparam("agreement"))
    .options(
        joinedload(Agreement.versions).options(
            lazyload(AgreementVersion.covered),
            lazyload(AgreementVersion.personnel),
            lazyload(AgreementVersion.comments),
            lazyload(AgreementVersion.documents),
        )
    )
)


def _part(model: Any, *order_by: Any, load: Any = None) -> Any:
    """Every version's rows of one part, by version, then in their relationship's order."""
    statement = (
        select(model)
        .where(one_of(model.version_id, "versions"))
        .order_by(model.version_id, *order_by)
    )
    return statement.options(load) if load is not None else statement


_PAGE_PARTS: tuple[tuple[str, Any], ...] = (
    (
        "covered",
        _part(
            CoveredColumn,
            CoveredColumn.dataset_id,
            CoveredColumn.column_name,
            load=joinedload(CoveredColumn.dataset).options(
                lazyload(Dataset.columns), lazyload(Dataset.stewards), lazyload(Dataset.provider)
            ),
        ),
    ),
    (
        "personnel",
        _part(
            Personnel,
            Personnel.user_id,
            load=joinedload(Personnel.user).options(
                lazyload(User.roles), lazyload(User.training), lazyload(User.organization)
            ),
        ),
    ),
    ("comments", _part(AgreementComment, AgreementComment.id)),
    ("documents", _part(AgreementDocument, AgreementDocument.id)),
)
# Only what `_datasets` (clauses.py) orders the covered columns by.
_PAGE_DATASET_COLUMNS = (
    select(DatasetColumn)
    .where(one_of(DatasetColumn.dataset_id, "datasets"))
    .order_by(DatasetColumn.dataset_id, DatasetColumn.position)
    .options(
        load_only(DatasetColumn.dataset_id, DatasetColumn.name, DatasetColumn.position),
        lazyload(DatasetColumn.dataset),
    )
)


def _load_page(session: Session, agreement_id: int) -> Agreement:
    """The agreement with everything its page shows loaded, in the order the relationships
    declare (each part's statement orders by version first, then as its relationship does)."""
    row = session.execute(_PAGE_AGREEMENT, {"agreement": agreement_id}).unique().one_or_none()
    if row is None:
        raise NotFound(f"There is no agreement {agreement_id}.")
    agreement: Agreement = row[0]
    none_of = {name for name, found in zip(_MAYBE_EMPTY, row[1:], strict=True) if not found}
    versions = agreement.versions
    ids = [v.id for v in versions]
    datasets: dict[int, Dataset] = {}
    for attribute, statement in _PAGE_PARTS:
        parts: dict[int, list[Any]] = {v: [] for v in ids}
        for part in () if attribute in none_of else session.scalars(statement, {"versions": ids}):
            parts[part.version_id].append(part)
            if attribute == "covered":
                datasets[part.dataset_id] = part.dataset
        for version in versions:
            set_committed_value(version, attribute, parts[version.id])
    columns: dict[int, list[DatasetColumn]] = {d: [] for d in datasets}
    if datasets:
        for column in session.scalars(_PAGE_DATASET_COLUMNS, {"datasets": list(datasets)}):
            columns[column.dataset_id].append(column)
    for dataset_id, dataset in datasets.items():
        set_committed_value(dataset, "columns", columns[dataset_id])
    return agreement


def get_visible_page(session: Session, agreement_id: int, *, by: User) -> Agreement:
    """As get_visible, loaded for the agreement's page."""
    agreement = _load_page(session, agreement_id)
    _check_visible(agreement, by)
    return agreement


def get_visible_version(
    session: Session, agreement_id: int, number: int | None, *, by: User
) -> tuple[Agreement, AgreementVersion]:
    """A version of an agreement `by` may read (the one shown first if `number` is None):
    as get_visible, and 404 for a version the agreement does not have."""
    agreement = get_visible(session, agreement_id, by=by)
    version = agreement.version(number) if number is not None else agreement.display_version
    if version is None:
        raise NotFound(f"Agreement {agreement.reference} has no version {number}.")
    return agreement, version


def list_statement(
    user: User,
    *,
    status: str | None,
    provider_id: int | None,
    expiring_within: int | None,
    today: dt.date,
) -> Any:
    """Rows of (Agreement, shown AgreementVersion) the user may see, filtered; unsorted."""
    statement = select(Agreement, AgreementVersion).join(AgreementVersion, shown_version_join())
    if not reads_all(user):
        statement = statement.where(_party_condition(user))
    if status:
        statement = statement.where(Agreement.status == status)
    if provider_id:
        statement = statement.where(Agreement.provider_id == provider_id)
    if expiring_within is not None:
        statement = statement.where(
            Agreement.status == AgreementStatus.ACTIVE,
            AgreementVersion.expiry_date >= today,
            AgreementVersion.expiry_date <= today + dt.timedelta(days=expiring_within),
        )
    return statement


def visible_agreements(session: Session, user: User, *, today: dt.date) -> list[Agreement]:
    """Every agreement the user may see, by reference (the choices of a form naming them)."""
    statement = list_statement(
        user, status=None, provider_id=None, expiring_within=None, today=today
    ).order_by(Agreement.reference)
    return list(session.scalars(statement))


def expiring(
    session: Session, *, today: dt.date, within: int = max(EXPIRY_WINDOWS)
) -> list[tuple[Agreement, AgreementVersion]]:
    """Active agreements whose last day in force falls within `within` days, soonest first."""
    rows = session.execute(
        select(Agreement, AgreementVersion)
        .join(AgreementVersion, shown_version_join())
        .where(
            Agreement.status == AgreementStatus.ACTIVE,
            AgreementVersion.expiry_date >= today,
            AgreementVersion.expiry_date <= today + dt.timedelta(days=within),
        )
        .order_by(AgreementVersion.expiry_date, Agreement.reference)
    ).all()
    return [(row[0], row[1]) for row in rows]


def expiry_window(expiry_date: dt.date, today: dt.date) -> int | None:
    """The narrowest of the 7/30/60-day windows the expiry falls in, if any."""
    days = (expiry_date - today).days
    return next((w for w in EXPIRY_WINDOWS if 0 <= days <= w), None)


def terms_form_choices(
    session: Session,
    agreement_id: int | None,
) -> tuple[Agreement | None, list[Dataset], list[User]]:
    """The agreement being edited (if any), the datasets it may cover (its provider's) and the
    people who may be its personnel (active researchers of its recipient)."""
    agreement = session.get(Agreement, agreement_id) if agreement_id else None
    datasets_query = select(Dataset).order_by(Dataset.provider_id, Dataset.name)
    people_query = (
        select(User)
        .join(Organization)
        .where(User.active.is_(True), Organization.kind == OrganizationKind.RESEARCH)
    )
    if agreement is not None:
        datasets_query = datasets_query.where(Dataset.provider_id == agreement.provider_id)
        people_query = people_query.where(User.organization_id == agreement.recipient_id)
    return (
        agreement,
        list(session.scalars(datasets_query)),
        list(session.scalars(people_query.order_by(User.name))),
    )
