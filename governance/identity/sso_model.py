"""Who a person is at an institution's identity provider: the stable subject that signs them in,
and the SAML assertions already used.

A person signing in is matched by the provider's issuer and subject (OpenID Connect's `sub`,
or SAML's NameID under the IdP's entity id), never by e-mail alone: an e-mail address can be
reassigned at the institution or claimed at another provider, a subject cannot. One person
may hold several external identities (two providers); one external identity belongs to
exactly one person.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.identity.models import User
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, intpk


class ExternalIdentity(Base):
    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The key of the provider in instance/identity_providers.toml, for the pages.
    provider: Mapped[str] = mapped_column(String(60))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The keyed seal over which provider subject signs in as whom (identity/seals.py): set by the
    # application at every write; a link whose seal does not hold signs nobody in.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<ExternalIdentity {self.id} {self.provider} user {self.user_id}>"


class SeenAssertion(Base):
    """A SAML assertion already used to sign in, kept until it expires: the same assertion
    presented again (captured from a browser, a log or a proxy) is refused."""

    __tablename__ = "seen_saml_assertion"
    __table_args__ = (UniqueConstraint("issuer", "assertion_id"),)

    id: Mapped[intpk]
    issuer: Mapped[str] = mapped_column(String(500))
    assertion_id: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
