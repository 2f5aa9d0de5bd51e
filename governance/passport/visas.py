"""Issuing a person's visas and answering whether one still holds (GA4GH Passport v1.2).

A visa is a signed JWT (a Visa Document Token: `jku` in its header, no `scope` claim) whose
`ga4gh_visa_v1` claim asserts one grant as `ControlledAccessGrants`: the dataset's stable URL
as `value`, the agreement it is granted under as `source`, the moment it was granted as
`asserted`, and who approved it as `by` (`dac` when a data access committee decided the
request, `so`, the data steward, otherwise). Only the caller's own grants that work now become
visas; each visa lives PASSPORT_VISA_MINUTES at most and never beyond its grant's end, is kept
in the register of issued visas and recorded in the audit trail in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from joserfc import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import trail_check
from governance.access.models import AccessRequest, Grant, GrantStatus
from governance.agreements.models import Agreement, AgreementStatus
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity.models import User
from governance.kernel.errors import NotFound
from governance.passport import signing_keys
from governance.passport.models import IssuedVisa

VISA_TYPE = "ControlledAccessGrants"
JWKS_PATH = "/api/v1/passport/jwks.json"
PASSPORT_CLAIM = "ga4gh_passport_v1"
VISA_CLAIM = "ga4gh_visa_v1"


class VisaState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"  # the visa's own lifetime is over
    GRANT_REVOKED = "grant_revoked"
    GRANT_EXPIRED = "grant_expired"
    GRANT_PAUSED = "grant_paused"  # a condition of the grant (training...) has lapsed
    # The holder's account was deactivated: their grants are kept for a reactivation, but
    # nothing of theirs holds meanwhile (their API tokens are revoked, their sessions ended).
    HOLDER_DEACTIVATED = "holder_deactivated"
    # The grant's row fails its seal (written or changed outside the service, access/seals.py):
    # its stored state says nothing, so the visa does not hold whatever that state claims.
    GRANT_SEAL_BROKEN = "grant_seal_broken"


@dataclass(frozen=True)
class IssuedToken:
    jti: str
    grant_id: int
    kid: str
    expires_at: dt.datetime
    token: str


def issuer(settings: Mapping[str, Any]) -> str:
    """The service's public address: `iss` of every visa, base of the URLs in them."""
    return str(settings["BASE_URL"]).rstrip("/")


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def settings_of(session: Session) -> Mapping[str, Any]:
    settings = session.info.get("settings")
    if not isinstance(settings, Mapping):
        raise RuntimeError("This session was not opened by the app: its settings are missing.")
    return settings


def grant_end(grant: Grant) -> dt.datetime:
    """When the grant stops working: its effective end (agreement, conditions), or its own."""
    return grant.effective_until or grant.valid_until


def visa_grants(session: Session, user: User, now: dt.datetime) -> list[Grant]:
    """The person's own grants that work now, under agreements in force: nothing else
    becomes a visa (a revoked, expired or paused grant, another person's grant)."""
    if not user.is_active:
        return []
    grants = session.scalars(
        select(Grant)
        .join(Agreement, Agreement.id == Grant.agreement_id)
        .where(
            Grant.user_id == user.id,
            Grant.works_at(now),  # the rule every decision reads by (its effective end)
            # Stricter than a read: `works_at` also admits a paused grant whose end is ahead;
            # a visa, asserted to other services for its lifetime, only an active one.
            Grant.status == GrantStatus.ACTIVE,
            Grant.valid_from <= now,
            Agreement.status == AgreementStatus.ACTIVE,
        )
        .order_by(Grant.id)
    ).all()
    # Nor a grant whose seal fails (written outside the service: access/seals.py), nor one put
    # back to an earlier sealed state (access/trail_check.py).
    sealed = trail_check.trusted_grants(session, [g.id for g in grants])
    return [g for g in grants if g.id in sealed]


def approved_by(session: Session, grant: Grant) -> str:
    """`dac` when a data access committee decided the request, `so` (the steward) otherwise."""
    committee = session.scalar(
        select(AccessRequest.committee_id).where(AccessRequest.grant_id == grant.id).limit(1)
    )
    return "dac" if committee is not None else "so"


def visa_claims(
    session: Session, grant: Grant, *, jti: str, now: dt.datetime, expires_at: dt.datetime
) -> dict[str, Any]:
    base = issuer(settings_of(session))
    return {
        "iss": base,
        "sub": str(grant.user_id),
        "iat": _epoch(now),
        "exp": _epoch(expires_at),
        "jti": jti,
        VISA_CLAIM: {
            "type": VISA_TYPE,
            "asserted": _epoch(grant.valid_from),
            "value": f"{base}/datasets/{grant.dataset_id}",
            "source": f"{base}/agreements/{grant.agreement_id}",
            "by": approved_by(session, grant),
        },
    }


def issue_visas(session: Session, *, by: User, now: dt.datetime) -> list[IssuedToken]:
    """Sign one visa per grant of `by` that works now; the caller commits once.

    Only ever the caller's own grants: there is no way to name another person, so a steward
    or an administrator cannot mint a visa for someone else."""
    settings = settings_of(session)
    key = signing_keys.current_key(settings)
    kid = key.thumbprint()
    header = {
        "typ": "JWT",
        "alg": signing_keys.algorithm_of(key),
        "kid": kid,
        "jku": issuer(settings) + JWKS_PATH,
    }
    lifetime = dt.timedelta(minutes=int(settings["PASSPORT_VISA_MINUTES"]))
    issued = []
    for grant in visa_grants(session, by, now):
        # Whole seconds, rounded down: `exp` is in seconds and must not pass the grant's end.
        expires_at = min(now + lifetime, grant_end(grant)).replace(microsecond=0)
        jti = str(uuid.uuid4())
        claims = visa_claims(session, grant, jti=jti, now=now, expires_at=expires_at)
        token = jwt.encode(header, claims, key, algorithms=[header["alg"]])
        session.add(
            IssuedVisa(
                jti=jti,
                user_id=by.id,
                grant_id=grant.id,
                key_id=kid,
                issued_at=now,
                expires_at=expires_at,
            )
        )
        audit.record(
            session,
            AuditType.PASSPORT_VISA_ISSUE,
            by=by,
            agreement_id=grant.agreement_id,
            agreement_version=grant.agreement_version,
            dataset_id=grant.dataset_id,
            target_type="grant",
            target_id=grant.id,
            detail={
                "jti": jti,
                "kid": kid,
                "user_id": by.id,
                "expires_at": expires_at.isoformat(),
                "by": claims[VISA_CLAIM]["by"],
            },
            now=now,
        )
        issued.append(IssuedToken(jti, grant.id, kid, expires_at, token))
    session.flush()
    return issued


def key_set(session: Session, now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """The JWKS: the current key (made now if no visa was ever issued) and every retired key
    that a visa still in circulation may need; public halves only."""
    settings = settings_of(session)
    signing_keys.current_key(settings)
    return {"keys": signing_keys.published_keys(session, settings, now)}


def passport(tokens: list[IssuedToken]) -> dict[str, list[str]]:
    """The passport claim, as a relying party or a broker takes it."""
    return {PASSPORT_CLAIM: [t.token for t in tokens]}


@dataclass(frozen=True)
class VisaStatus:
    jti: str
    state: VisaState
    issued_at: dt.datetime
    expires_at: dt.datetime
    grant_id: int

    @property
    def active(self) -> bool:
        return self.state == VisaState.ACTIVE


def visa_state(
    *,
    visa_expires_at: dt.datetime,
    holder_active: bool,
    grant_status: str,
    grant_ends_at: dt.datetime,
    now: dt.datetime,
    grant_sealed: bool = True,
) -> VisaState:
    """Whether a visa holds, from its own expiry, its holder's account and its grant's state
    now: the one rule the status endpoint answers with (and the issuing filter keeps to). A
    grant whose seal fails is read as no grant: its status and end may be the tamperer's."""
    if visa_expires_at <= now:
        return VisaState.EXPIRED
    if not grant_sealed:
        return VisaState.GRANT_SEAL_BROKEN
    if not holder_active:
        return VisaState.HOLDER_DEACTIVATED
    if grant_status == GrantStatus.REVOKED:
        return VisaState.GRANT_REVOKED
    if grant_status == GrantStatus.PAUSED:
        return VisaState.GRANT_PAUSED
    if grant_status != GrantStatus.ACTIVE or grant_ends_at <= now:
        return VisaState.GRANT_EXPIRED
    return VisaState.ACTIVE


def visa_status(session: Session, jti: str, now: dt.datetime) -> VisaStatus:
    """Whether the visa `jti` still holds: its own lifetime, its holder's account and its
    grant's state now."""
    visa = session.get(IssuedVisa, jti)
    if visa is None:
        raise NotFound("This service issued no visa with that jti.")
    grant = session.get(Grant, visa.grant_id)
    holder = session.get(User, visa.user_id)
    assert grant is not None  # a foreign key guarantees it
    assert holder is not None  # a foreign key guarantees it
    state = visa_state(
        visa_expires_at=visa.expires_at,
        holder_active=holder.is_active,
        grant_status=grant.status,
        grant_ends_at=grant_end(grant),
        now=now,
        grant_sealed=bool(trail_check.trusted_grants(session, [grant.id])),
    )
    return VisaStatus(jti, state, visa.issued_at, visa.expires_at, visa.grant_id)
