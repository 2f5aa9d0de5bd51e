"""Organisations: the research organisation that receives data and the agencies that provide it."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import created_at, intpk, str200


class OrganizationKind(StrEnum):
    RESEARCH = "research"
    PROVIDER = "provider"


class Organization(Base):
    __tablename__ = "organization"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[intpk]
    name: Mapped[str200]
    kind: Mapped[OrganizationKind] = mapped_column(String(20))
    # Off: the organisation's people sign in through its identity provider only (an
    # administrator's local password still works, as the break-glass path: docs/identity.md).
    local_passwords: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[created_at]
    # The keyed seal over its kind and the local-passwords switch (identity/seals.py): an
    # organisation whose seal does not hold is no provider agency and allows no local password.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"
