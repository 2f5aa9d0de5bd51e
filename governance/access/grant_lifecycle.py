"""The grant lifecycle, declared as data: a grant is live (active, or paused while a condition
it depends on has lapsed) until it is revoked or expires."""

from __future__ import annotations

from enum import StrEnum

from governance.access.models import Grant, GrantStatus
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.lifecycle import Lifecycle, Transition, already


class Action(StrEnum):
    REVOKE = "revoke"
    END = "end"
    EXPIRE = "expire"
    PAUSE = "pause"
    RESUME = "resume"


_S = GrantStatus
_MANAGER = "steward-or-overseer"
_ENDS = (
    "the agreement ended, or an amendment or access review took away its holder, purpose "
    "or every column"
)

TRANSITIONS: list[Transition[GrantStatus, Action]] = [
    *(
        t
        for live in (_S.ACTIVE, _S.PAUSED)
        for t in (
            Transition(
                live,
                Action.REVOKE,
                _S.REVOKED,
                Permission.GRANT_REVOKE,
                AuditType.GRANT_REVOKE,
                "a reason is required",
                _MANAGER,
            ),
            Transition(live, Action.END, _S.REVOKED, None, AuditType.GRANT_REVOKE, _ENDS),
            Transition(
                live, Action.END, _S.EXPIRED, None, AuditType.GRANT_EXPIRE, "the agreement expired"
            ),
            Transition(
                live,
                Action.EXPIRE,
                _S.EXPIRED,
                None,
                AuditType.GRANT_EXPIRE,
                "its end date has passed",
            ),
        )
    ),
    Transition(
        _S.ACTIVE,
        Action.PAUSE,
        _S.PAUSED,
        None,
        AuditType.GRANT_PAUSE,
        "a condition it depends on (training, the holder's account) has lapsed",
    ),
    Transition(
        _S.PAUSED,
        Action.RESUME,
        _S.ACTIVE,
        None,
        AuditType.GRANT_RESUME,
        "the conditions it depends on hold again",
    ),
]


LIFECYCLE: Lifecycle[GrantStatus, Action] = Lifecycle(
    "grant",
    Grant,
    GrantStatus,
    Action,
    TRANSITIONS,
    initial=[GrantStatus.ACTIVE],
    refusal=already("grant", tense="is"),
)
