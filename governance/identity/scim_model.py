"""What SCIM provisioning keeps: the bearer tokens an administrator issues to the identity
provider's SCIM client, each person's SCIM identity, and the groups the client pushes.

A SCIM token is a secret shown once and stored as its SHA-256, like personal API tokens
(identity/token_model.py explains why a fast hash is right for 256 random bits). A person's
`ScimIdentity` holds the client's `userName` and `externalId`; people created by hand have none
until the client claims them, and their `userName` is their e-mail. A user "deleted" through
SCIM keeps their account, deactivated (the audit trail and agreements name them), and is gone
for the SCIM client (`deleted_at`). SCIM reactivates only accounts it deactivated itself.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, intpk, str200, str320

NAME_LENGTH = 256
PREFIX_LENGTH = 8


class ScimToken(Base):
    __tablename__ = "scim_token"
    __table_args__ = (UniqueConstraint("secret_sha256"),)

    id: Mapped[intpk]
    name: Mapped[str200]
    prefix: Mapped[str] = mapped_column(String(PREFIX_LENGTH))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str320]
    # The issuer's account: the token never grants them a role (identity/groups.py). Their
    # e-mail alone would not do, since SCIM can change it.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(320))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The keyed seal over the token's digest, issuer and expiry (identity/seals.py): set by the
    # application at every write; a SCIM token whose seal does not hold authenticates no client.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    def status(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"


class ScimIdentity(Base):
    __tablename__ = "scim_identity"
    __table_args__ = (UniqueConstraint("user_name"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    user_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    external_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # SCIM may reactivate only an account SCIM deactivated, never one an administrator did.
    deactivated_by_scim: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class ScimGroup(Base):
    __tablename__ = "scim_group"
    __table_args__ = (UniqueConstraint("display_name"),)

    id: Mapped[intpk]
    display_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    external_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    members: Mapped[list[ScimGroupMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ScimGroupMember.user_id"
    )


class ScimGroupMember(Base):
    __tablename__ = "scim_group_member"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("scim_group.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
