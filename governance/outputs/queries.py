"""Reading outputs: who sees which output and which parts of it, what each person can do now
(the `can_*` booleans pages show buttons for), and what the public may see.

Checkers and privacy officers see every output, with its disclosure record. The project team
(the producer and the agreement's personnel) sees its outputs and their checks. The provider's
partner reviewers see their agency's outputs from the preview on, and only the released
content (summary, figures, files) and the flags: never the disclosure record, the checkers'
reasons or the populations. The public sees published outputs only. Who may see one output
is `common.can_view` (its look-up, `common.get_visible`, answers anyone else as for a missing
id).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.common import actor_key
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.parts_model import Personnel
from governance.identity.models import User
from governance.incidents.models import Incident, IncidentStatus
from governance.kernel.errors import NotFound
from governance.outputs.common import is_checker, is_independent, is_partner, is_team
from governance.outputs.content import AGGREGATE_KINDS
from governance.outputs.files import correction_refusal, may_download
from governance.outputs.lifecycle import (
    PARTNER_SEES,
    RULES,
    STATUS_OF_STATE,
    Action,
    State,
    allowed_actions,
    state_of,
)
from governance.outputs.models import Output, OutputStatus
from governance.outputs.preview import preview_is_open
from governance.outputs.service import actor_key_of

PARTNER_STATUSES = sorted({STATUS_OF_STATE[s].value for s in PARTNER_SEES})


def list_statement(user: User, *, status: str | None) -> Any:
    """Outputs the user may see, filtered by stored status; unsorted."""
    statement = select(Output).join(Agreement, Agreement.id == Output.agreement_id)
    if not is_checker(user):
        # The same versions as `authz.rules.project_team` (the one the output was produced
        # under, the one in force), so the list never shows what its look-up answers as missing:
        # not a version someone was removed from since, nor a draft amendment naming them.
        named = exists().where(
            Personnel.user_id == user.id,
            Personnel.version_id == AgreementVersion.id,
            AgreementVersion.agreement_id == Output.agreement_id,
            AgreementVersion.number.in_(
                [Output.agreement_version, Agreement.current_version_number]
            ),
        )
        conditions = [Output.produced_by_id == user.id, named]
        if authz.can(user, authz.Permission.OUTPUT_PREVIEW):
            conditions.append(
                and_(
                    Agreement.provider_id == user.organization_id,
                    Output.status.in_(PARTNER_STATUSES),
                )
            )
        statement = statement.where(or_(*conditions))
    if status:
        statement = statement.where(Output.status == status)
    return statement


@dataclass(frozen=True)
class Abilities:
    """What one person may see and do on one output now."""

    state: State
    sees_disclosure: bool = False
    sees_checks: bool = False
    can_check: bool = False
    can_flag: bool = False
    can_say_no_concerns: bool = False
    can_correct: bool = False
    can_publish: bool = False
    can_download: bool = False
    answerable: frozenset[int] = field(default_factory=frozenset)
    acceptable: frozenset[int] = field(default_factory=frozenset)
    resolvable: frozenset[int] = field(default_factory=frozenset)


def abilities(output: Output, user: User, now: dt.datetime) -> Abilities:
    state = state_of(output)
    allowed = set(allowed_actions(state))
    checker, team, partner = is_checker(user), is_team(user, output), is_partner(user, output)

    def holds(action: Action) -> bool:
        permission = RULES[action].permission
        return action in allowed and permission is not None and authz.can(user, permission)

    key = actor_key(user)
    already_checked = any(actor_key_of(c) == key for c in output.current_checks)
    independent = is_independent(user, output)
    can_check = holds(Action.CHECK_APPROVE) and independent and not already_checked
    open_flags = output.open_flags
    return Abilities(
        state=state,
        sees_disclosure=checker,
        sees_checks=checker or team,
        can_check=can_check,
        can_flag=holds(Action.FLAG) and partner and preview_is_open(output, now),
        can_say_no_concerns=holds(Action.NO_CONCERNS)
        and partner
        and preview_is_open(output, now)
        and not open_flags,
        can_correct=holds(Action.CORRECT) and team and correction_refusal(output, now) is None,
        can_publish=holds(Action.PUBLISH) and independent and output.terms.publication_allowed,
        can_download=may_download(user, output, now),
        answerable=frozenset(f.id for f in open_flags if not f.is_answered)
        if holds(Action.ANSWER) and team
        else frozenset(),
        acceptable=frozenset(f.id for f in open_flags if f.is_answered)
        if holds(Action.ACCEPT) and partner
        else frozenset(),
        resolvable=frozenset(f.id for f in open_flags if f.is_answered)
        if holds(Action.RESOLVE) and independent
        else frozenset(),
    )


# --- the public page ---------------------------------------------------------------------


def published_statement() -> Any:
    """Published aggregate outputs, newest first: the only rows the public page reads."""
    return (
        select(Output)
        .where(
            Output.status == OutputStatus.PUBLISHED,
            Output.published_at.is_not(None),
            Output.kind.in_(sorted(AGGREGATE_KINDS)),
        )
        .order_by(Output.published_at.desc(), Output.id.desc())
    )


def get_published(session: Session, output_id: int) -> Output:
    """A published output, or 404 for anything else (so the existence of unpublished outputs
    does not leak)."""
    output: Output | None = session.scalars(
        published_statement().where(Output.id == output_id)
    ).first()
    if output is None:
        raise NotFound("There is no published output at this address.")
    return output


def published_outputs(session: Session) -> list[Output]:
    """Every published output, for the public page."""
    return list(session.scalars(published_statement()))


@dataclass(frozen=True)
class Withdrawal:
    """Why a published output is off the public page: an open incident froze it."""

    incident_id: int
    since: dt.datetime

    @property
    def notice(self) -> str:
        return (
            f"Withdrawn on {self.since:%Y-%m-%d} while a reported incident is investigated. "
            "It returns here if the investigation finds no problem."
        )


def withdrawn_outputs(session: Session) -> dict[int, Withdrawal]:
    """Published outputs withdrawn from the public page by the freeze of an open incident that
    names them, read from the incidents themselves: lifting the freeze restores them."""
    withdrawn: dict[int, Withdrawal] = {}
    for incident in session.scalars(
        select(Incident)
        .where(Incident.status == IncidentStatus.OPEN, Incident.frozen_at.is_not(None))
        .order_by(Incident.id)
    ):
        if incident.frozen_at is None:
            continue
        for output_id in incident.output_ids:
            withdrawn.setdefault(output_id, Withdrawal(incident.id, incident.frozen_at))
    return withdrawn
