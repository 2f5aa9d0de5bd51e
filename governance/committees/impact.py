"""What an amendment would do once in force, shown to the committee and the privacy officer
before they approve it, and approving exactly that.

The grants it would end or narrow (with their holders) come from the same plan that applies
when the amendment takes effect (access/grant_hooks.py `amendment_plan`, run when the provider
countersigns it), and the people who must accept the new version from its personnel and their
acceptances. Approving from the impact page carries the digest of what was shown: if anything
changed since (a grant made, a person accepting), the approval is refused (409) and the page
shows the new impact; otherwise the agreement's own approval runs, with this event, in one
transaction.

Queued analyses and released outputs sit above committees in the layers: their sections are
given by providers the registry installs (`impact_sections`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.grant_hooks import GrantChange, amendment_plan
from governance.agreements import service as agreements_service
from governance.agreements.impact import ImpactChanged
from governance.agreements.models import Agreement, AgreementVersion, VersionStatus
from governance.agreements.obligations import has_accepted
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.authz import Permission
from governance.committees.routing import committee_for
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.errors import InvalidTransition, NotFound, PermissionDenied


@dataclass(frozen=True)
class ImpactSection:
    """One more part of the impact (analyses, outputs), from a noun above committees."""

    title: str
    lines: list[str]


ImpactProvider = Callable[[Session, Agreement, AgreementVersion], ImpactSection]
_providers: list[ImpactProvider] = []


def impact_sections(provider: ImpactProvider) -> ImpactProvider:
    if provider not in _providers:
        _providers.append(provider)
    return provider


@dataclass(frozen=True)
class AmendmentImpact:
    agreement: Agreement
    version: AgreementVersion
    grants: list[GrantChange]
    holders: dict[int, str]
    must_accept: list[User]
    sections: list[ImpactSection] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "agreement_id": self.agreement.id,
            "version": self.version.number,
            "grants": [g.as_json() for g in self.grants],
            "must_accept": sorted(u.id for u in self.must_accept),
            "sections": [{"title": s.title, "lines": s.lines} for s in self.sections],
        }

    @property
    def digest(self) -> str:
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _may_see(session: Session, by: Actor, agreement: Agreement) -> bool:
    if authz.can(by, Permission.AGREEMENT_REVIEW):
        return True
    version = agreement.working_version or agreement.current_version
    dataset_ids = version.covered_dataset_ids if version else []
    for dataset_id in dataset_ids:
        committee = committee_for(session, agreement_id=agreement.id, dataset_id=dataset_id)
        if committee is not None and committee.role_of(by.id) is not None:
            return True
    return False


def amendment_impact(session: Session, *, agreement_id: int, by: Actor) -> AmendmentImpact:
    """The impact of the amendment waiting for approval (409 when none waits)."""
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(f"There is no agreement {agreement_id}.")
    if not _may_see(session, by, agreement):
        raise PermissionDenied(
            "Only privacy officers and the agreement's committee see an amendment's impact.",
            audit={
                "event_type": AuditType.COMMITTEE_AMENDMENT_IMPACT,
                "target_type": "agreement",
                "target_id": agreement.id,
                "agreement_id": agreement.id,
            },
        )
    version = agreement.working_version
    if (
        version is None
        or agreement.current_version is None
        or version.status != VersionStatus.SUBMITTED
    ):
        raise InvalidTransition("No amendment of this agreement waits for approval.", allowed=[])
    return impact_of(session, agreement, version)


def impact_of(session: Session, agreement: Agreement, version: AgreementVersion) -> AmendmentImpact:
    """What `version` would do once in force, now: shown before approval and computed again
    when the provider's countersignature is recorded (the registry installs it for
    agreements/impact.py). The caller has checked who may see it."""
    plan = [
        change for change in amendment_plan(session, agreement, version) if change.changes_anything
    ]
    holder_ids = {c.grant.user_id for c in plan}
    holders = {u.id: u.email for u in session.scalars(select(User).where(User.id.in_(holder_ids)))}
    must_accept: list[User] = []
    if version.acceptance_required:
        people = session.scalars(
            select(User).where(User.id.in_([p.user_id for p in version.personnel]))
        )
        must_accept = [u for u in people if not has_accepted(session, version, u.id)]
    sections = [provider(session, agreement, version) for provider in _providers]
    return AmendmentImpact(
        agreement=agreement,
        version=version,
        grants=plan,
        holders=holders,
        must_accept=sorted(must_accept, key=lambda u: u.email),
        sections=sections,
    )


def approve_amendment(
    session: Session,
    *,
    agreement_id: int,
    digest: str,
    comment: str,
    by: Actor,
    now: dt.datetime,
) -> AmendmentImpact:
    """Approve the amendment whose impact was shown (its digest), applying exactly that."""
    audit.take_writer_lock(session)
    impact = amendment_impact(session, agreement_id=agreement_id, by=by)
    if impact.digest != digest:
        raise ImpactChanged(
            impact,
            "The amendment's impact changed since it was shown: look at it again before "
            "approving. Nothing was approved.",
            # Recorded as the approval it refused, as the countersignature's refusal is.
            audit={
                "event_type": AuditType.COMMITTEE_AMENDMENT_IMPACT,
                "outcome": Outcome.FAILURE,
                "target_type": "agreement",
                "target_id": impact.agreement.id,
                "agreement_id": impact.agreement.id,
                "agreement_version": impact.version.number,
                "rule": "impact-changed",
                "detail": {"impact_digest_shown": digest, "impact_digest_now": impact.digest},
            },
        )
    audit.record(
        session,
        AuditType.COMMITTEE_AMENDMENT_IMPACT,
        by=by,
        target_type="agreement",
        target_id=impact.agreement.id,
        agreement_id=impact.agreement.id,
        agreement_version=impact.version.number,
        detail={**impact.as_json(), "digest": digest},
        now=now,
    )
    agreements_service.approve(session, agreement_id=agreement_id, comment=comment, by=by, now=now)
    return impact
