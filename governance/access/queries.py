"""What each person may see of requests and grants, and the dashboard tasks they create."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from governance import authz
from governance.access import trail_check
from governance.access.models import (
    LIVE_GRANT_STATUSES,
    AccessRequest,
    Grant,
    GrantReview,
    RequestStatus,
)
from governance.access.review import REVIEW_PERIOD, Usage, grant_usage, grants_due_for_review
from governance.access.visibility import stewarded, visible_request
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.agreements.obligations import attestation_summary, latest_attestation
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.authz.grant_index import GRANT_SEAL_RULE, GRANT_TRAIL_RULE
from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.kernel.errors import InvalidTransition, PermissionDenied
from governance.kernel.one_of import one_of
from governance.kernel.tasks import Task, service_level_days
from governance.kernel.types import utcnow

# A steward is expected to answer a request within this many days (shown as its deadline).


# Built once with one parameter for the list (kernel.one_of): a listing's names are asked at
# every view, and building the IN lists anew (a bound parameter per id) cost more than the
# queries.
_PEOPLE_NAMES = select(User.id, User.name).where(one_of(User.id, "ids"))
_DATASET_NAMES = select(Dataset.id, Dataset.name).where(one_of(Dataset.id, "ids"))


def names_in(session: Session, items: Sequence[AccessRequest | Grant]) -> dict[str, dict[int, str]]:
    """People and datasets named in a listing, so tables show names rather than numbers."""
    user_ids = {getattr(i, "user_id", None) or getattr(i, "requester_id", 0) for i in items}
    dataset_ids = {i.dataset_id for i in items}
    if not items:  # an empty page (no grant overdue for review) names nobody: nothing to ask
        return {"people": {}, "datasets": {}}
    return {
        "people": {
            row.id: row.name for row in session.execute(_PEOPLE_NAMES, {"ids": list(user_ids)})
        },
        "datasets": {
            row.id: row.name for row in session.execute(_DATASET_NAMES, {"ids": list(dataset_ids)})
        },
    }


def datasets_covered(session: Session, version: AgreementVersion | None) -> list[Dataset]:
    """The datasets an agreement version covers, in its order."""
    if version is None:
        return []
    found = (session.get(Dataset, i) for i in version.covered_dataset_ids)
    return [d for d in found if d is not None]


def request_parts(
    session: Session, request: AccessRequest
) -> tuple[Dataset | None, Agreement | None]:
    """The dataset and agreement a request names (the page shows both, the API its actions)."""
    return session.get(Dataset, request.dataset_id), session.get(Agreement, request.agreement_id)


@dataclass(frozen=True)
class Resubmission:
    """What the page for sending a returned request again shows."""

    request: AccessRequest
    agreement: Agreement
    version: AgreementVersion
    dataset: Dataset


def resubmission(session: Session, request_id: int, user: User) -> Resubmission:
    """A returned request of the person's own, with its agreement in force and its dataset
    (403 for anyone else's: only the person who asked changes a request)."""
    from governance.agreements.queries import in_force_version

    found = visible_request(session, request_id, user)
    if found.requester_id != user.id:
        raise PermissionDenied(
            "Only the person who asked can change a returned request.",
            audit={
                "event_type": AuditType.ACCESS_REQUEST_SUBMIT,
                "target_type": "access_request",
                "target_id": found.id,
                "agreement_id": found.agreement_id,
                "dataset_id": found.dataset_id,
            },
        )
    agreement = session.get(Agreement, found.agreement_id)
    dataset = session.get(Dataset, found.dataset_id)
    assert agreement is not None  # foreign keys guarantee both
    assert dataset is not None
    version = in_force_version(session, agreement.id)
    if version is None:
        raise InvalidTransition(
            f"Agreement {agreement.reference} is not in force: the request cannot be sent again.",
            allowed=["withdraw"],
        )
    return Resubmission(found, agreement, version, dataset)


@dataclass(frozen=True)
class GrantView:
    """What the grant page and the API's grant show one person: its dataset and agreement,
    its reviews, the holder's usage (to the holder and those who manage it) and the actions."""

    grant: Grant
    dataset: Dataset | None
    agreement: Agreement | None
    reviews: list[GrantReview]
    usage: Usage | None
    can_revoke: bool
    can_review: bool
    # The holder's latest attestation, for those who manage the grant (the access review).
    attestation: dict[str, str] | None = None
    # Why it lets nothing be read now (None: it works), whatever its stored status says.
    stopped: str | None = None


def grant_view(session: Session, grant: Grant, user: User, *, now: dt.datetime) -> GrantView:
    from governance.access.grants import can_manage

    dataset = session.get(Dataset, grant.dataset_id)
    manages = dataset is not None and can_manage(user, dataset)
    live = grant.status in LIVE_GRANT_STATUSES
    reviews = list(
        session.scalars(
            select(GrantReview)
            .where(GrantReview.grant_id == grant.id)
            .order_by(GrantReview.reviewed_at.desc())
        )
    )
    return GrantView(
        grant=grant,
        dataset=dataset,
        agreement=session.get(Agreement, grant.agreement_id),
        reviews=reviews,
        usage=grant_usage(session, grant, now=now) if manages or grant.user_id == user.id else None,
        can_revoke=manages and live,
        can_review=live
        and rules.steward_of_dataset(user, dataset)
        and authz.can(user, Permission.GRANT_REVIEW)
        and grant.user_id != user.id,
        attestation=attestation_summary(
            latest_attestation(session, user_id=grant.user_id, agreement_id=grant.agreement_id)
        )
        if manages or grant.user_id == user.id
        else None,
        stopped=_seal_broken(session, grant) or grant.stopped_because(now),
    )


def _seal_broken(session: Session, grant: Grant) -> str | None:
    """Why a grant whose row fails its seal allows nothing (access/seals.py), as the door
    refuses it: its stored status and dates are not the service's, so they say nothing."""
    if grant.id in trail_check.trusted_grants(session, [grant.id]):
        return None
    return (
        "Its record fails its integrity check (it was written or changed in the database "
        f"outside the service, or put back to an earlier state: rules {GRANT_SEAL_RULE}, "
        f"{GRANT_TRAIL_RULE}): it allows nothing, whatever its status "
        "says. Grant it again through the service if it was meant."
    )


def agreements_for_requests(session: Session, user: User) -> list[Agreement]:
    """Active agreements on which the person is authorised personnel."""
    from governance.agreements.queries import in_force_version

    active = session.scalars(
        select(Agreement)
        .where(Agreement.status == AgreementStatus.ACTIVE)
        .order_by(Agreement.reference)
    )
    result = []
    for agreement in active:
        version = in_force_version(session, agreement.id)
        if version is not None and version.is_personnel(user.id):
            result.append(agreement)
    return result


def my_active_grants(session: Session, user: User, *, now: dt.datetime) -> list[Grant]:
    return list(
        session.scalars(
            select(Grant)
            .where(
                Grant.user_id == user.id,
                Grant.status.in_(LIVE_GRANT_STATUSES),
                Grant.valid_until > now,
            )
            .order_by(Grant.agreement_id, Grant.dataset_id)
        )
    )


REVIEW = "Request to review"
SECOND = "Identifiers to approve"


def _service_level(session: Session, kind: str) -> dt.timedelta:
    """Days each step may take: SERVICE_LEVELS, the same the requester's nudge counts by."""
    return dt.timedelta(days=service_level_days(session.info.get("settings") or {}, kind))


def steward_tasks(session: Session, user: User) -> list[Task]:
    waiting = session.scalars(
        select(AccessRequest).where(
            AccessRequest.status == RequestStatus.SUBMITTED,
            AccessRequest.dataset_id.in_(stewarded(user)),
            AccessRequest.requester_id != user.id,
            # A committee's requests are its members' tasks (committees/queries.py).
            AccessRequest.committee_id.is_(None),
        )
    ).all()
    tasks = [
        Task(
            title=f"Review access request #{r.id} ({len(r.columns)} columns)",
            kind=REVIEW,
            endpoint="access.request_detail",
            params={"request_id": r.id},
            due=(r.submitted_at or r.created_at).date() + _service_level(session, REVIEW),
        )
        for r in waiting
    ]
    own_datasets = set(session.scalars(stewarded(user)))
    for grant in grants_due_for_review(session, now=utcnow()):
        if grant.dataset_id in own_datasets:
            since = grant.last_reviewed_at or grant.created_at
            tasks.append(
                Task(
                    title=f"Re-certify grant #{grant.id}",
                    kind="Grant to re-certify",
                    endpoint="access.grant_detail",
                    params={"grant_id": grant.id},
                    due=(since + REVIEW_PERIOD).date(),
                )
            )
    return tasks


def privacy_officer_tasks(session: Session, user: User) -> list[Task]:
    waiting = session.scalars(
        select(AccessRequest).where(
            AccessRequest.status == RequestStatus.AWAITING_PRIVACY_OFFICER,
            AccessRequest.requester_id != user.id,
            or_(AccessRequest.steward_id.is_(None), AccessRequest.steward_id != user.id),
        )
    ).all()
    tasks = [
        Task(
            title=f"Second approval of direct identifiers, request #{r.id}",
            kind=SECOND,
            endpoint="access.request_detail",
            params={"request_id": r.id},
            due=(r.steward_decided_at or r.created_at).date() + _service_level(session, SECOND),
        )
        for r in waiting
    ]
    overdue = grants_due_for_review(session, now=utcnow())
    if overdue:
        tasks.append(
            Task(
                title=f"{len(overdue)} grants not reviewed in 90 days",
                kind="Access review overdue",
                endpoint="access.grants",
                params={"review": "overdue"},
            )
        )
    return tasks


def requester_tasks(session: Session, user: User) -> list[Task]:
    returned = session.scalars(
        select(AccessRequest).where(
            AccessRequest.requester_id == user.id, AccessRequest.status == RequestStatus.RETURNED
        )
    ).all()
    return [
        Task(
            title=f"Request #{r.id} was returned for changes",
            kind="Request to revise",
            endpoint="access.request_detail",
            params={"request_id": r.id},
            detail=r.steward_comment[:200],
        )
        for r in returned
    ]


def dataset_named(session: Session, dataset_id: int) -> Dataset | None:
    """The dataset a data page names, or None (the page then shows no columns)."""
    return session.get(Dataset, dataset_id)


#: Where a request stands beyond its status, for the requester (a committee's votes so far);
#: the registry installs the committees' reader (committees sit above access).
RequestStanding = Callable[[Session, AccessRequest], "str | None"]
_standings: list[RequestStanding] = []


@dataclass(frozen=True)
class CommitteeWait:
    """A committee deciding a request, as its requester may see it: the committee and counts
    of votes, never who voted what or who sits on it."""

    committee_id: int
    case_id: int
    name: str
    votes_cast: int
    voters: int
    rule: str
    opened_at: dt.datetime
    deadline: dt.datetime
    # Who still has a vote to cast: told by a nudge, never shown to the requester.
    to_vote: tuple[int, ...]


RequestCommittee = Callable[[Session, AccessRequest], "CommitteeWait | None"]
_committee_waits: list[RequestCommittee] = []


def on_request_committee(reader: RequestCommittee) -> RequestCommittee:
    """The registry installs the committees' reader of an open case (committees sit above)."""
    if reader not in _committee_waits:
        _committee_waits.append(reader)
    return reader


def request_committee(session: Session, request: AccessRequest) -> CommitteeWait | None:
    """The committee an open request waits on, or None (no committee, or decided)."""
    if request.committee_id is None:
        return None
    for reader in _committee_waits:
        found = reader(session, request)
        if found is not None:
            return found
    return None


def on_request_standing(reader: RequestStanding) -> RequestStanding:
    if reader not in _standings:
        _standings.append(reader)
    return reader


def request_standing(session: Session, request: AccessRequest) -> str | None:
    for reader in _standings:
        said = reader(session, request)
        if said:
            return said
    return None


#: Whether a person decides a request as a member of its committee; the registry installs the
#: committees' answer (committees sit above access).
CommitteeDecider = Callable[[Session, AccessRequest, User], bool]
_committee_deciders: list[CommitteeDecider] = []


def on_committee_decider(decider: CommitteeDecider) -> CommitteeDecider:
    if decider not in _committee_deciders:
        _committee_deciders.append(decider)
    return decider


def sees_risk_figures(session: Session, request: AccessRequest, user: User) -> bool:
    """The re-identification figures are for those who decide: the dataset's steward, a
    privacy officer who may give the second approval, a member of the deciding committee.
    Counts and shares only, but not the requester's to read."""
    if rules.own_request(user, request):
        return False
    dataset = session.get(Dataset, request.dataset_id)
    if rules.steward_of_dataset(user, dataset):
        return True
    if authz.can(user, Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS) and rules.second_approver(
        user, request
    ):
        return True
    return request.committee_id is not None and any(
        decides(session, request, user) for decides in _committee_deciders
    )
