"""What an amendment does when it takes effect, approved by its digest and confirmed again when
the provider's countersignature is recorded.

The impact (the grants it ends or narrows, the people who must accept it, the queued analyses
and released outputs it touches) is computed above agreements, by committees/impact.py, from
the plan that applies when the amendment takes effect (access/grant_hooks.py
`amendment_plan`); the registry installs that computation here. Between the approval and the
countersignature grants can be made and people can accept, so what the amendment does can
differ from what was approved. The privacy officer recording the countersignature is shown the
impact as it is then and sends back its digest: an impact that changed since it was shown is
refused (409) with the new one, as the approval is, so what takes effect is exactly what the
officer confirmed. The approval's event records the digest approved; the execution's event
records it beside the digest applied and the impact itself (docs/decisions/agreements.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementVersion
from governance.audit.models import AuditEvent, AuditType, Outcome, of_type, with_outcome
from governance.kernel.errors import InvalidTransition
from governance.kernel.installed import Installed


class Impact(Protocol):
    """What committees/impact.py's `AmendmentImpact` offers agreements."""

    @property
    def digest(self) -> str: ...

    def as_json(self) -> dict[str, Any]: ...


ImpactReader = Callable[[Session, Agreement, AgreementVersion], Impact]
_reader: Installed[ImpactReader] = Installed(
    "No amendment impact is installed: build the app (create_app) first."
)
install_impact_reader = _reader.install


def impact_now(session: Session, agreement: Agreement, version: AgreementVersion) -> Impact | None:
    """The amendment's impact as it is now; None in a bare test of the package (nothing
    installed), where no impact is shown, checked or recorded."""
    reader = _reader.get_or_none()
    return reader(session, agreement, version) if reader is not None else None


def impact_json(impact: Impact) -> dict[str, Any]:
    """The impact with the digest to send back to confirm it."""
    return {**impact.as_json(), "digest": impact.digest}


class ImpactChanged(InvalidTransition):
    """The impact shown is no longer the impact: the new one comes with the refusal."""

    def __init__(
        self,
        impact: Impact,
        message: str,
        *,
        allowed: Iterable[str] = (),
        audit: Mapping[str, Any] | None = None,
    ) -> None:
        # `audit` is recorded once the action is rolled back, as a refusal is.
        super().__init__(
            message, allowed=allowed, current={"impact": impact_json(impact)}, audit=audit
        )
        self.impact = impact


def approved_digest(
    session: Session, agreement: Agreement, version: AgreementVersion
) -> str | None:
    """The digest the version's approval recorded (None for a version approved before
    approvals recorded one)."""
    detail = session.scalar(
        select(AuditEvent.detail)
        .where(
            AuditEvent.agreement_id == agreement.id,
            AuditEvent.agreement_version == version.number,
            of_type(AuditType.AGREEMENT_APPROVE),
            with_outcome(Outcome.SUCCESS),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    digest = detail.get("impact_digest") if isinstance(detail, dict) else None
    return digest if isinstance(digest, str) else None


def confirmed(
    session: Session,
    agreement: Agreement,
    version: AgreementVersion,
    *,
    shown_digest: str | None,
    allowed: Iterable[str],
) -> dict[str, Any]:
    """What the execution's event records of the impact, once `shown_digest` is the digest of
    the impact now; else 409 with the impact now (nothing sent counts as nothing shown)."""
    impact = impact_now(session, agreement, version)
    if impact is None:
        return {}
    if shown_digest != impact.digest:
        raise ImpactChanged(
            impact,
            "The amendment's impact changed since it was shown: look at it again before "
            "recording the provider's countersignature. Nothing was recorded."
            if shown_digest
            else "Confirm what the amendment does when it takes effect: send back the digest "
            "of its impact (here, and in the agreement's countersignature_impact). Nothing "
            "was recorded.",
            allowed=allowed,
            audit={
                "event_type": AuditType.AGREEMENT_EXECUTE,
                "outcome": Outcome.FAILURE,
                "target_type": "agreement",
                "target_id": agreement.id,
                "agreement_id": agreement.id,
                "agreement_version": version.number,
                "rule": "impact-changed",
                "detail": {"impact_digest_shown": shown_digest, "impact_digest_now": impact.digest},
            },
        )
    approved = approved_digest(session, agreement, version)
    return {
        "impact": impact.as_json(),
        "impact_digest_approved": approved,
        "impact_digest_applied": impact.digest,
        # Unknown (None) when the approval recorded no digest.
        "impact_changed_since_approval": None if approved is None else approved != impact.digest,
    }
