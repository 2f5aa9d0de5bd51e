"""Which external group gives which role (and organisation), and which roles came that way.

An administrator maps a group that an identity provider or the SCIM client sends (`source`: a
provider id, or "scim") to a role and/or an organisation. A mapping to a role that carries
approval or audit powers works only once a second administrator has approved it, as for
granting such a role by hand (identity/role_changes.py).

`ExternalRole` remembers which of a person's roles were granted by which source's mapping, so
that leaving the group removes exactly those, and never a role an administrator gave by hand.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.authz.roles import Role
from governance.identity.organization_model import Organization
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, intpk, str320

SOURCE_LENGTH = 100
GROUP_LENGTH = 256


class GroupMapping(Base):
    __tablename__ = "group_mapping"
    __table_args__ = (UniqueConstraint("source", "external_group", "role", "organization_id"),)

    id: Mapped[intpk]
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH), index=True)
    external_group: Mapped[str] = mapped_column(String(GROUP_LENGTH))
    role: Mapped[Role | None] = mapped_column(String(40))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    created_by: Mapped[str320]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Empty until a second administrator approves a mapping to a role with powers.
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The keyed seal over what the mapping gives and whether it was approved (identity/seals.py): a
    # mapping whose seal does not hold gives nothing.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    organization: Mapped[Organization | None] = relationship(lazy="joined")

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role else ""

    def __repr__(self) -> str:
        return f"<GroupMapping {self.id} {self.source}:{self.external_group} -> {self.role}>"


class ExternalRole(Base):
    """A role a person holds because a source's group mapping granted it."""

    __tablename__ = "external_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
