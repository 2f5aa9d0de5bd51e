"""Who sees an access request or a grant, and the answer to anyone else who names one by id.

A person who may not see a request or a grant is answered exactly as for an id that names
nothing (404, the same words), whether they look it up or act on it, so that no answer tells
which ids exist; both are recorded as denied, the trail telling them apart
(`audit.lookup_refusal`). Someone who sees it but may not do an action is told so (403)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.models import AccessRequest, Grant
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets.models import DatasetSteward
from governance.identity.actors import Actor
from governance.kernel.errors import NotFound


def stewarded(user: Actor) -> Any:
    """The ids of the datasets `user` stewards (a subquery)."""
    return select(DatasetSteward.dataset_id).where(DatasetSteward.user_id == user.id)


def requests_visible_to(user: Actor) -> Select[AccessRequest]:
    """Own requests; stewards also those on their datasets; privacy officers all."""
    query = select(AccessRequest)
    if authz.can(user, Permission.GRANT_OVERSEE):
        return query
    return query.where(
        or_(AccessRequest.requester_id == user.id, AccessRequest.dataset_id.in_(stewarded(user)))
    )


def grants_visible_to(user: Actor) -> Select[Grant]:
    query = select(Grant)
    if authz.can(user, Permission.GRANT_OVERSEE):
        return query
    return query.where(or_(Grant.user_id == user.id, Grant.dataset_id.in_(stewarded(user))))


def visible_request(
    session: Session,
    request_id: int,
    user: Actor,
    *,
    event: AuditType = AuditType.ACCESS_REQUEST_READ,
) -> AccessRequest:
    """The request if `user` may see it, for `event` (looking at it, or an action on it);
    else 404, recorded as a denied `event` (`_unseen`)."""
    found = session.scalars(requests_visible_to(user).where(AccessRequest.id == request_id)).first()
    if found is None:
        raise _unseen(session, AccessRequest, request_id, event)
    return found


def visible_grant(
    session: Session, grant_id: int, user: Actor, *, event: AuditType = AuditType.GRANT_READ
) -> Grant:
    """The grant if `user` may see it, for `event`; else 404, recorded (`_unseen`)."""
    found = session.scalars(grants_visible_to(user).where(Grant.id == grant_id)).first()
    if found is None:
        raise _unseen(session, Grant, grant_id, event)
    return found


# Who sees a request or a grant: its person, the stewards of its dataset, whoever oversees grants
# (`requests_visible_to`, `grants_visible_to`).
VISIBILITY_RULE = "own-or-stewarded-or-overseen"
_Held = TypeVar("_Held", AccessRequest, Grant)
_WHO_SEES = "Only {}, the stewards of its dataset, privacy officers and compliance managers see {}."
# Each kind as the person reads it, and who sees it (the rule in words).
_LOOKUPS = {
    AccessRequest: (
        "access request",
        _WHO_SEES.format("the person who asked", "an access request"),
    ),
    Grant: ("grant", _WHO_SEES.format("its holder", "a grant")),
}


def _unseen(session: Session, model: type[_Held], object_id: int, event: AuditType) -> NotFound:
    """404 for a request or grant the person may not see, worded as for an id that names
    nothing, so that the answer does not tell which ids exist; recorded as a denied `event`
    either way, the trail telling the two apart (`audit.unseen`). Whether the id names
    anything is asked only here, on the refusal's path."""
    noun, who_sees = _LOOKUPS[model]
    hidden = session.get(model, object_id)
    return audit.unseen(
        noun,
        object_id,
        event,
        hidden=None
        if hidden is None
        else {"agreement_id": hidden.agreement_id, "dataset_id": hidden.dataset_id},
        rule=VISIBILITY_RULE,
        who_sees=who_sees,
    )
