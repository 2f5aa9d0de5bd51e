"""Webhook endpoints, the outbox of events waiting to go to them, and each attempt's record.

An endpoint's signing secret must be usable to sign, so it is sealed (AES-GCM under a subkey
of the data key ring, kernel/sealing.py), never hashed: a copy of the database alone cannot
forge a message. A delivery row is the outbox: it is written in the same transaction as the
change it reports, and is the source of truth; queue messages only say "look at row N now".
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, intpk, text


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt used up, or the endpoint was disabled


DELIVERY_STATUS_LABELS = {
    DeliveryStatus.PENDING: "Waiting to be sent",
    DeliveryStatus.DELIVERED: "Delivered",
    DeliveryStatus.FAILED: "Failed",
}


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoint"

    id: Mapped[intpk]
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The CloudEvent types this endpoint receives (a list of strings).
    event_types: Mapped[list[str]] = mapped_column(JSONText())
    key_id: Mapped[str] = mapped_column(String(16))
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Failed attempts in a row, across deliveries; a success resets it to 0.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class WebhookDelivery(Base):
    """One event for one endpoint: the CloudEvent as it will be sent, and where it stands."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "created_at"),
    )

    id: Mapped[intpk]
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    # The CloudEvent id, also sent as webhook-id: receivers drop a second copy by it.
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(80))
    # The CloudEvent's structured-mode JSON body, exactly the bytes signed and sent.
    body: Mapped[text]
    status: Mapped[DeliveryStatus] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # When the next attempt may start; a worker that claims an attempt moves it past the
    # attempt's time limit, so a worker that dies mid-delivery leaves the row due again.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    endpoint: Mapped[WebhookEndpoint] = relationship()


class WebhookAttempt(Base):
    """The delivery log: one row per HTTP attempt (never the body or the answer's body)."""

    __tablename__ = "webhook_attempt"

    id: Mapped[intpk]
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
