"""Signing in through an institution's identity provider, once the provider's answer is verified.

The person is found by the provider's issuer and subject (sso_model.py), never by e-mail
alone. Someone the service has never seen gets an account only when the provider allows
just-in-time provisioning, in the provider's organisation and with no roles: roles come from
the group mappings an administrator configures (groups.py), applied at every sign-in. An
e-mail that already belongs to an account is not taken over by a new subject: that account's
holder links the provider from their own account page, signed in, which proves both sides.
Every sign-in, refusal, link and new account is recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.identity import groups, seals, sessions
from governance.identity.models import User
from governance.identity.oidc import SignInRefused, Verified
from governance.identity.organization_model import Organization
from governance.identity.providers import OidcProvider, SamlProvider
from governance.identity.signin import SignedIn
from governance.identity.sso_model import ExternalIdentity
from governance.identity.users import find_user_by_email, normalise_email
from governance.kernel.errors import ValidationFailed

Provider = OidcProvider | SamlProvider


def find_identity(session: Session, *, issuer: str, subject: str) -> ExternalIdentity | None:
    return session.scalars(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
        )
    ).first()


def identities_of(session: Session, *, user_id: int) -> list[ExternalIdentity]:
    return list(
        session.scalars(
            select(ExternalIdentity)
            .where(ExternalIdentity.user_id == user_id)
            .order_by(ExternalIdentity.provider)
        )
    )


def sign_in(
    session: Session,
    *,
    provider: Provider,
    verified: Verified,
    now: dt.datetime,
    source: str,
    user_agent: str,
) -> SignedIn:
    """Start a session for the person the verified answer names (the caller commits, also
    after a refusal, so that its audit event persists)."""
    detail = _detail(provider, verified, source)
    identity = find_identity(session, issuer=verified.issuer, subject=verified.subject)
    if identity is None:
        identity = _provision(session, provider=provider, verified=verified, now=now, detail=detail)
    elif not seals.holds(session, seals.EXTERNAL_IDENTITY, identity):
        raise _refuse(session, "sign-on link fails its seal check", detail, now, user=identity.user)
    user = identity.user
    if not seals.account_holds(session, user):
        raise _refuse(session, "account fails its seal check", detail, now, user=user)
    if not user.active:
        raise _refuse(session, "account deactivated", detail, now, user=user)
    identity.last_sign_in_at = now
    user.last_login_at = now
    started = sessions.start_session(
        session,
        user=user,
        now=now,
        client_address=source,
        user_agent=user_agent,
        method=f"{'saml' if isinstance(provider, SamlProvider) else 'oidc'}:{provider.key}"[:40],
    )
    # Roles follow the person's groups at the provider, through the administrators' mappings
    # (groups.py), at every sign-in: a group left at the institution takes its role away.
    changes = groups.apply_external_groups(
        session,
        actor_label=f"sso:{provider.key}",
        user=user,
        source=provider.key,
        groups=verified.groups,
        now=now,
        keep_session_id=started.record.id,
    )
    audit.record(
        session,
        AuditType.SSO_LOGIN,
        by=user,
        now=now,
        detail={
            **detail,
            "session": started.record.id,
            "role_changes": [f"{c.kind.value}:{c.value}" for c in changes],
        },
    )
    return SignedIn(user=user, session_secret=started.secret)


def link(
    session: Session,
    *,
    user: User,
    provider: Provider,
    verified: Verified,
    now: dt.datetime,
    source: str,
) -> ExternalIdentity:
    """Link the signed-in person's account to the identity they just proved at a provider."""
    detail = _detail(provider, verified, source)
    existing = find_identity(session, issuer=verified.issuer, subject=verified.subject)
    if existing is not None and existing.user_id != user.id:
        raise _refuse(session, "identity linked to another account", detail, now, user=user)
    if existing is not None:
        return existing
    identity = _new_identity(session, user=user, provider=provider, verified=verified, now=now)
    audit.record(
        session,
        AuditType.SSO_LINK,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={**detail, "via": "signed-in account page"},
    )
    return identity


def record_failure(
    session: Session,
    *,
    reason: str,
    detail: dict[str, Any],
    now: dt.datetime,
    user: User | None = None,
) -> None:
    audit.record(
        session,
        AuditType.SSO_LOGIN_FAILED,
        by=user,
        outcome=Outcome.FAILURE,
        now=now,
        detail={**detail, "reason": reason[:300]},
    )


def _new_identity(
    session: Session, *, user: User, provider: Provider, verified: Verified, now: dt.datetime
) -> ExternalIdentity:
    identity = ExternalIdentity(
        user_id=user.id,
        provider=provider.key,
        issuer=verified.issuer,
        subject=verified.subject,
        linked_at=now,
    )
    session.add(identity)
    session.flush()
    return identity


def _refuse(
    session: Session,
    reason: str,
    detail: dict[str, Any],
    now: dt.datetime,
    *,
    user: User | None = None,
) -> SignInRefused:
    record_failure(session, user=user, reason=reason, detail=detail, now=now)
    return SignInRefused(reason, recorded=True)


def _provision(
    session: Session,
    *,
    provider: Provider,
    verified: Verified,
    now: dt.datetime,
    detail: dict[str, Any],
) -> ExternalIdentity:
    if not provider.allow_jit:
        raise _refuse(session, "no linked account; provisioning is off", detail, now)
    if not verified.email:
        raise _refuse(session, "no e-mail claim", detail, now)
    try:
        email = normalise_email(verified.email)
    except ValidationFailed:
        raise _refuse(session, "the e-mail claim is not an e-mail address", detail, now) from None
    if find_user_by_email(session, email) is not None:
        # Matching by e-mail alone would let whoever controls that address at any provider
        # take over the account.
        raise _refuse(session, "e-mail belongs to an unlinked account", detail, now)
    organization = session.scalars(
        select(Organization).where(Organization.name == provider.organization)
    ).first()
    if organization is None:
        raise _refuse(session, "the provider's organisation is unknown", detail, now)
    user = User(
        email=email,
        name=(verified.name or email)[:200],
        organization_id=organization.id,
        # No local password: the account signs in through its provider only.
        password_hash="",
    )
    user.roles = []
    session.add(user)
    session.flush()
    identity = _new_identity(session, user=user, provider=provider, verified=verified, now=now)
    audit.record(
        session,
        AuditType.SSO_PROVISION,
        by=user,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={**detail, "email": email, "organization": organization.name, "roles": []},
    )
    return identity


def _detail(provider: Provider, verified: Verified, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "provider": provider.key,
        "issuer": verified.issuer,
        "subject": verified.subject,
        "groups": list(verified.groups),
    }
