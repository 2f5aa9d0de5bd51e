"""Every change of a person's roles or organisation, applied or waiting for a second
administrator.

A role that carries approval or audit powers is granted only when a second administrator
approves the request (see identity/role_changes.py), and so is a move to another organisation
of someone whose powers depend on it; other changes apply at once. All are rows here, so the
compliance manager's page lists who asked for what, who approved or rejected it, and when,
without reading the audit trail (which records the same events).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.authz.roles import Role
from governance.identity.models import User
from governance.identity.organization_model import Organization
from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime, intpk, str320


class RoleChangeKind(StrEnum):
    GRANT = "grant"
    REMOVE = "remove"
    # A move to another organisation: `role` is empty, `organization` is where to.
    MOVE = "move"


class RoleChangeStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class RoleChange(Base):
    __tablename__ = "role_change"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[Role | None] = mapped_column(String(40))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    kind: Mapped[RoleChangeKind] = mapped_column(String(10))
    status: Mapped[RoleChangeStatus] = mapped_column(String(20), index=True)
    # People are named by id and e-mail; the host operator (CLI, demo) by `system:<label>`.
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requested_by: Mapped[str320]
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(String(500))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)
    organization: Mapped[Organization | None] = relationship(lazy="joined")

    @property
    def role_label(self) -> str:
        """What is asked for: a role, or for a move the organisation (pages list both)."""
        if self.role is None:
            return f"Organisation: {self.organization.name if self.organization else '?'}"
        return Role(self.role).label

    def __repr__(self) -> str:
        return f"<RoleChange {self.id} {self.kind} {self.role} user {self.user_id} {self.status}>"
