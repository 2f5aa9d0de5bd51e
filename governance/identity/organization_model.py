"""Organisations: the research organisation that receives data and the agencies that provide it."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
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
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"
