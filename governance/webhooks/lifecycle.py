"""A webhook message's states: waiting, delivered, or failed once its attempts are used up;
an administrator may send any of them again."""

from __future__ import annotations

from enum import StrEnum

from governance.audit.models import AuditType
from governance.authz import Permission
from governance.lifecycle import Lifecycle, Transition
from governance.webhooks.models import DeliveryStatus, WebhookDelivery


class DeliveryAction(StrEnum):
    DELIVER = "deliver"
    GIVE_UP = "give_up"
    REDELIVER = "redeliver"


_D = DeliveryStatus
_A = DeliveryAction


def _redeliver(source: DeliveryStatus) -> Transition[DeliveryStatus, DeliveryAction]:
    return Transition(
        source,
        _A.REDELIVER,
        _D.PENDING,
        Permission.WEBHOOK_MANAGE,
        AuditType.WEBHOOK_REDELIVER,
        "the endpoint is enabled; the same webhook-id, attempts counted again from one",
    )


LIFECYCLE: Lifecycle[DeliveryStatus, DeliveryAction] = Lifecycle(
    "webhook message",
    WebhookDelivery,
    DeliveryStatus,
    DeliveryAction,
    [
        Transition(_D.PENDING, _A.DELIVER, _D.DELIVERED, None, None, "the endpoint answered 2xx"),
        Transition(
            _D.PENDING,
            _A.GIVE_UP,
            _D.FAILED,
            None,
            None,
            "WEBHOOK_MAX_ATTEMPTS attempts failed (each logged with its answer)",
        ),
        _redeliver(_D.PENDING),
        _redeliver(_D.DELIVERED),
        _redeliver(_D.FAILED),
    ],
    initial=[_D.PENDING],
)
