"""The parts of an agreement version that reference other records: covered dataset columns,
authorised personnel, reviewers' comments and the issued PDF documents."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime, created_at, intpk, str320


class ProjectRole(StrEnum):
    PRINCIPAL_INVESTIGATOR = "principal_investigator"
    CO_INVESTIGATOR = "co_investigator"
    ANALYST = "analyst"
    DATA_MANAGER = "data_manager"

    @property
    def label(self) -> str:
        return PROJECT_ROLE_LABELS[self]


PROJECT_ROLE_LABELS = {
    ProjectRole.PRINCIPAL_INVESTIGATOR: "Principal investigator",
    ProjectRole.CO_INVESTIGATOR: "Co-investigator",
    ProjectRole.ANALYST: "Analyst",
    ProjectRole.DATA_MANAGER: "Data manager",
}


class CoveredColumn(Base):
    """One column of a provider's dataset that the agreement covers (`scope.datasets`).

    Columns are referenced by name within the dataset, as the agreement text names them; the
    service checks the name exists in the dataset's declared schema when the terms are saved.
    """

    __tablename__ = "agreement_column"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("agreement_version.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"), primary_key=True)
    column_name: Mapped[str] = mapped_column(String(120), primary_key=True)

    dataset: Mapped[Dataset] = relationship(lazy="joined")


class Personnel(Base):
    """A named person authorised under the agreement, with their role on the project."""

    __tablename__ = "agreement_personnel"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("agreement_version.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    project_role: Mapped[ProjectRole] = mapped_column(String(30))

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def role_label(self) -> str:
        return ProjectRole(self.project_role).label


class CommentKind(StrEnum):
    RETURN = "return"
    APPROVAL = "approval"
    AMENDMENT_REASON = "amendment_reason"
    TERMINATION = "termination"
    DESTRUCTION = "destruction"


class AgreementComment(Base):
    """What a reviewer wrote when returning or approving a version, and the other reasons
    given in the lifecycle (amendment, termination, destruction)."""

    __tablename__ = "agreement_comment"

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(
        ForeignKey("agreement_version.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[CommentKind] = mapped_column(String(30))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    author_label: Mapped[str320]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AgreementDocument(Base):
    """One issued PDF of a version: its SHA-256 lets anyone check a copy they are shown."""

    __tablename__ = "agreement_document"

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(
        ForeignKey("agreement_version.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    byte_size: Mapped[int] = mapped_column(Integer)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    issued_by_label: Mapped[str320]
    issued_at: Mapped[created_at]
