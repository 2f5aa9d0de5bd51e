"""Access requests, the time-limited column grants that answer them, and the policy epoch.

A grant is (user, agreement, dataset, columns, purpose, valid until): the minimum-necessary
rule made concrete. Grants are never deleted; revoking or expiring one changes its status and
bumps the policy epoch in the same transaction, which tells every server process to refresh
its view of the grants before its next decision.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    func,
    select,
    update,
)
from sqlalchemy import event as orm_event
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, relationship

from governance.authz.actions import DataAction
from governance.datasets.models import Classification
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import JSONText, UTCDateTime, created_at, intpk


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"
    AWAITING_PRIVACY_OFFICER = "awaiting_privacy_officer"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ColumnForm(StrEnum):
    """The form in which a column is granted instead of its stored values, produced by the data
    door at every read (access/column_forms.py): the holder never receives the fine value."""

    COARSENED = "coarsened"  # a date to its month, a number to a 5-wide band, a code to its
    # larger unit (reidentification.coarsen)
    PSEUDONYMISED = "pseudonymised"  # a keyed pseudonym (HMAC) per agreement

    @property
    def label(self) -> str:
        return self.value.capitalize()


class GrantStatus(StrEnum):
    ACTIVE = "active"
    # A condition the grant depends on (the holder's training...) has lapsed; the grant works
    # again once the condition holds (see access/conditions.py).
    PAUSED = "paused"
    REVOKED = "revoked"
    EXPIRED = "expired"


#: Grants that have not ended: they are in every process's grant index (a paused grant's end
#: is in the past, so it refuses with the clause that paused it) and end with their agreement.
LIVE_GRANT_STATUSES = (GrantStatus.ACTIVE, GrantStatus.PAUSED)


class AccessRequest(Base):
    __tablename__ = "access_request"
    __table_args__ = (Index("ix_access_request_status", "status", "dataset_id"),)

    id: Mapped[intpk]
    requester_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    end_date: Mapped[dt.date] = mapped_column(Date)
    download_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[RequestStatus] = mapped_column(String(40), default=RequestStatus.SUBMITTED)
    created_at: Mapped[created_at]
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    steward_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    steward_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    steward_comment: Mapped[str] = mapped_column(Text, default="")
    privacy_officer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    privacy_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    privacy_comment: Mapped[str] = mapped_column(Text, default="")
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("access_grant.id"))
    # Counts and shares only (reidentification.RiskReport.as_dict plus the threshold it was
    # computed with), never a row value: what the steward and committee read before deciding.
    risk_figures: Mapped[dict[str, Any] | None] = mapped_column(JSONText(), nullable=True)
    # The committee that decides this request instead of the dataset's steward, taken when it
    # is submitted (committees/routing.py). No foreign key: committees sit above access.
    committee_id: Mapped[int | None] = mapped_column(Integer)
    # The research purpose as GA4GH DUO terms with the requester's statements the dataset's
    # modifiers are checked against (datasets/duo/statements.purpose_record); None if not given.
    data_use: Mapped[dict[str, Any] | None] = mapped_column(JSONText(), nullable=True)

    columns: Mapped[list[AccessRequestColumn]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AccessRequestColumn.position"
    )

    @property
    def requested_columns(self) -> list[str]:
        return [c.column_name for c in self.columns]

    @property
    def approved_columns(self) -> list[str]:
        return [c.column_name for c in self.columns if c.approved]

    @property
    def approved_forms(self) -> dict[str, ColumnForm]:
        """Approved columns granted in another form than stored, with that form."""
        return {c.column_name: ColumnForm(c.form) for c in self.columns if c.approved and c.form}


class AccessRequestColumn(Base):
    __tablename__ = "access_request_column"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("access_request.id", ondelete="CASCADE"), primary_key=True
    )
    column_name: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    # None until a steward decides; then True (granted) or False (left out: minimum necessary).
    approved: Mapped[bool | None] = mapped_column(Boolean)
    # The column's classification as the request was made and decided (the more protected of
    # the two): the two-person rule for direct identifiers reads this, so reclassifying the
    # dataset's column cannot change what a pending request needs.
    classification: Mapped[Classification] = mapped_column(
        String(30), server_default=Classification.DIRECT_IDENTIFIER.value
    )
    # The form the steward or committee grants the column in (None: as stored).
    form: Mapped[ColumnForm | None] = mapped_column(String(20), nullable=True)


class Grant(Base):
    __tablename__ = "access_grant"
    __table_args__ = (
        Index("ix_access_grant_user_dataset", "user_id", "agreement_id", "dataset_id"),
        Index("ix_access_grant_changed_epoch", "changed_epoch"),
        Index("ix_access_grant_status", "status", "valid_until"),
        # The conditions job looks for live grants a condition has ended.
        Index("ix_access_grant_effective", "status", "effective_until"),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    agreement_version: Mapped[int] = mapped_column(Integer)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    allow_download: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[GrantStatus] = mapped_column(String(20), default=GrantStatus.ACTIVE)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[created_at]
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    end_reason: Mapped[str] = mapped_column(Text, default="")
    last_reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The policy epoch of this grant's last change: processes reload grants changed since
    # the epoch they last saw.
    changed_epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    # The earliest of the grant's own end, its agreement's end and the ends of the conditions
    # it depends on (the holder's training...), with the clause that sets it and what the
    # holder can do about it: the end every decision checks (access/conditions.py).
    # None only for a grant written before these were kept; the conditions job fills it in.
    effective_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    effective_clause: Mapped[str] = mapped_column(
        String(60), default="access.valid_until", server_default="access.valid_until"
    )
    effective_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The rule that set the effective end when it is not a clause of the agreement alone
    # (`training-seal`: a training record that fails its seal was left out), recorded with a
    # read it refuses.
    effective_rule: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # The keyed seal over what the grant allows (access/seals.py): set by the application at
    # every write, checked wherever a process loads the grant; without it the grant allows
    # nothing.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    columns: Mapped[list[GrantColumn]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="GrantColumn.column_name"
    )

    @property
    def column_names(self) -> list[str]:
        return [c.column_name for c in self.columns]

    @property
    def forms(self) -> dict[str, ColumnForm]:
        """Columns granted in another form than stored, with that form."""
        return {c.column_name: ColumnForm(c.form) for c in self.columns if c.form}

    @property
    def last_day(self) -> dt.date:
        """The last day of the grant's own term (a lapsed condition may stop it earlier: see
        `effective_until`). It ends at 00:00 UTC of the next day, so the stored end shown as a
        date would name the day after (the agreement's end + 1)."""
        return (self.valid_until - dt.timedelta(microseconds=1)).date()

    @property
    def actions(self) -> list[DataAction]:
        return [DataAction.READ, DataAction.DOWNLOAD] if self.allow_download else [DataAction.READ]

    @hybrid_method
    def works_at(self, now: dt.datetime) -> bool:
        """The one rule for a grant that lets its columns be read at `now`, as every decision
        sees it (the lines of the grant index, access/live_grants.py): not ended, and its
        effective end after `now`. The effective end is the earliest of its own, its
        agreement's and its conditions' (the holder's training current at every read...), so
        a lapsed condition stops the grant at that moment, before the conditions job pauses
        it. On a grant it is a bool; on the class (`Grant.works_at(now)`) the same rule is
        the SQL clause."""
        return (
            self.status in LIVE_GRANT_STATUSES and (self.effective_until or self.valid_until) > now
        )

    @works_at.expression
    @classmethod
    def _works_at(cls, now: dt.datetime) -> ColumnElement[bool]:
        return and_(
            cls.status.in_(LIVE_GRANT_STATUSES),
            func.coalesce(cls.effective_until, cls.valid_until) > now,
        )

    def stopped_because(self, now: dt.datetime) -> str | None:
        """Why the grant lets nothing be read at `now`, as every decision sees it; None while
        it works. The stored status lags a condition that lapsed until the conditions job
        pauses the grant, but its effective end does not."""
        if self.works_at(now):
            return None
        if self.status not in LIVE_GRANT_STATUSES:
            return self.end_reason or f"The grant is {self.status}."
        end = self.effective_until or self.valid_until
        return self.effective_reason or (
            f"It stopped working on {end:%Y-%m-%d %H:%M} UTC (clause {self.effective_clause})."
        )


class GrantColumn(Base):
    __tablename__ = "access_grant_column"

    grant_id: Mapped[int] = mapped_column(
        ForeignKey("access_grant.id", ondelete="CASCADE"), primary_key=True
    )
    column_name: Mapped[str] = mapped_column(String(120), primary_key=True)
    # The classification the column was granted under (from its request): a later
    # reclassification of the dataset's column does not change what this grant gave.
    classification: Mapped[Classification] = mapped_column(
        String(30), server_default=Classification.DIRECT_IDENTIFIER.value
    )
    # The form the column is granted in (None: as stored) and, for a pseudonym, the id of the
    # data key its secret is derived from, so that a key rotation does not change pseudonyms.
    form: Mapped[ColumnForm | None] = mapped_column(String(20), nullable=True)
    form_key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


class GrantReview(Base):
    """A steward's periodic re-certification of a grant: confirmed as is, or narrowed."""

    __tablename__ = "grant_review"

    id: Mapped[intpk]
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decision: Mapped[str] = mapped_column(String(20))
    kept_columns: Mapped[str] = mapped_column(Text)
    removed_columns: Mapped[str] = mapped_column(Text, default="")
    unused_columns: Mapped[str] = mapped_column(Text, default="")
    comment: Mapped[str] = mapped_column(Text, default="")


class PolicyEpoch(Base):
    """One row counting changes to grants and agreements; read before every decision."""

    __tablename__ = "policy_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)


def bump_epoch(session: Session) -> int:
    """Advance the policy epoch; the row lock it takes orders concurrent grant changes."""
    epoch: int = session.execute(
        update(PolicyEpoch)
        .where(PolicyEpoch.id == 1)
        .values(epoch=PolicyEpoch.epoch + 1)
        .returning(PolicyEpoch.epoch)
    ).scalar_one()
    return epoch


# The grant index (authz/grant_index.py) reloads only the grants whose `changed_epoch` moved past
# the epoch it last saw. The grant services set it, but any other write of a grant through a
# session (a plain ORM change, a bulk UPDATE, a granted column taken away) bumped the epoch (the
# read memo's listener) without it: every warm process kept the grant as it was, as long as it
# lived. These listeners set it on every such write, with the epoch's row lock taken first.


@orm_event.listens_for(Session, "before_flush")
def _grants_changed_in_flush(session: Session, _context: Any, _instances: Any) -> None:
    grants: set[int] = set()
    changed: list[Grant] = []
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Grant):
            changed.append(instance)
        elif isinstance(instance, GrantColumn):
            grants.add(instance.grant_id)
    if not changed and not grants:
        return
    epoch = bump_epoch(session)
    for grant in changed:
        grant.changed_epoch = epoch
    # A granted column added, changed or removed changes what its grant allows.
    others = grants - {grant.id for grant in changed}
    if others:
        session.execute(
            update(Grant)
            .where(Grant.id.in_(sorted(others)))
            .values(changed_epoch=epoch)
            .execution_options(synchronize_session=False)
        )


@orm_event.listens_for(Session, "do_orm_execute")
def _grants_changed_by_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table == Grant.__tablename__ and state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        if "changed_epoch" in {getattr(key, "key", key) for key in values}:
            return  # a statement that sets it itself (this listener's own, above)
        state.statement = state.statement.values(  # type: ignore[attr-defined]
            changed_epoch=bump_epoch(state.session)
        )
    elif table == GrantColumn.__tablename__:
        # The grants whose columns the statement touches, found before it runs (a DELETE's
        # rows are gone after); an INSERT names no row to find: every grant.
        where = getattr(state.statement, "whereclause", None)
        touched = update(Grant)
        if where is not None:
            touched = touched.where(Grant.id.in_(select(GrantColumn.grant_id).where(where)))
        epoch = bump_epoch(state.session)
        state.session.execute(
            touched.values(changed_epoch=epoch).execution_options(synchronize_session=False)
        )
